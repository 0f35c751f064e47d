"""Every ProfileService method through `HealthScoreClient` against the production server: reads,
draft edits, the draft → publish → activate → rollback flow, the catalog, and paging."""

from __future__ import annotations

import pytest

from healthscore_client import AbortedError, HealthScoreClient, Model
from healthscore_client.v1 import health_pb2, ruleset_pb2
from tests.e2e.support import engagement_category_profile, engagement_profile

MD = "multidimensional"


def test_reads_take_any_spelling_of_a_model(client: HealthScoreClient) -> None:
    for model in (MD, Model.MULTIDIMENSIONAL, ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL):
        assert client.get_draft(model).name == "models/multidimensional/draft"
    assert client.get_draft(Model.ACCOUNT_HEALTH).name == "models/account-health/draft"
    assert client.validate_draft(MD).valid
    assert client.get_profile(MD, "default").name == "default"
    assert [a.name for a in client.get_catalog().attributes]

    active = client.get_active_version()
    assert active.version == "models/multidimensional/versions/1"
    by_number = client.get_version(MD, 1)
    assert client.get_version(active.version) == by_number
    assert by_number.ruleset.profiles  # FULL by default
    assert not client.get_version(MD, 1, view="basic").HasField("ruleset")
    assert [v.name for v in client.list_versions(MD)] == [active.version]
    assert [a.name for a in client.list_activations()] == ["activations/1"]


def test_draft_publish_activate_and_rollback(client: HealthScoreClient) -> None:
    draft = client.get_draft(MD)
    draft.ClearField("profiles")
    draft.profiles.append(engagement_profile())
    edited = client.update_draft(MD, draft, update_mask=["profiles"])  # draft.etag: conditional
    assert edited.etag != draft.etag
    assert [p.name for p in edited.profiles] == ["engagement"]

    edited = client.create_profile(MD, engagement_profile("first", good=60), position=0)
    assert [p.name for p in edited.profiles] == ["first", "engagement"]
    renamed = engagement_profile("late", good=60)
    edited = client.update_profile(MD, "first", renamed, etag=edited.etag)
    assert [p.name for p in edited.profiles] == ["late", "engagement"]
    edited = client.reorder_profiles(MD, ["engagement", "late"], etag=edited.etag)
    assert [p.name for p in edited.profiles] == ["engagement", "late"]
    edited = client.delete_profile(MD, "late", etag=edited.etag)
    assert [p.name for p in edited.profiles] == ["engagement"]
    assert client.validate_draft(MD).valid

    version = client.publish_draft(MD, comment="engagement only", etag=edited.etag)
    assert version.name == "models/multidimensional/versions/2"
    assert version.comment == "engagement only"
    account = [{"id": "a", "engagement_score": 50}]
    assert client.score_accounts(account).ruleset == "models/multidimensional/versions/1"

    activation = client.activate_version(MD, 2, comment="go")
    assert activation.previous_version == "models/multidimensional/versions/1"
    scored = client.score_accounts(account)
    assert (scored.ruleset, scored.results[0].score) == (version.name, 60)

    rollback = client.activate_version(activation.previous_version, comment="back")
    assert rollback.version == "models/multidimensional/versions/1"
    assert client.get_active_version() == rollback
    assert [a.name for a in client.list_activations()] == [
        "activations/3",
        "activations/2",
        "activations/1",
    ]
    assert client.score_accounts(account).ruleset == rollback.version


def test_account_health_model_flow(client: HealthScoreClient) -> None:
    draft = client.get_draft(Model.ACCOUNT_HEALTH)
    draft.ClearField("profiles")
    draft.profiles.append(engagement_category_profile())
    client.update_draft(Model.ACCOUNT_HEALTH, draft, update_mask=["profiles"])
    version = client.publish_draft(Model.ACCOUNT_HEALTH, comment="rules")
    client.activate_version(version.name)
    result = client.score_accounts([{"id": "a", "engagement_score": 80}]).results[0]
    assert result.rank == health_pb2.HEALTH_RANK_GOOD
    assert result.ruleset_version == version.name


def test_update_catalog_is_conditional_on_its_etag(client: HealthScoreClient) -> None:
    catalog = client.get_catalog()
    catalog.attributes[0].display_name = "changed by the SDK test"
    updated = client.update_catalog(catalog, update_mask=["attributes"])
    assert updated.attributes[0].display_name == "changed by the SDK test"
    assert updated.etag != catalog.etag
    with pytest.raises(AbortedError):
        client.update_catalog(catalog)  # still carries the old etag


def test_list_iterators_follow_page_tokens(client: HealthScoreClient) -> None:
    for i in range(4):
        client.publish_draft(MD, comment=f"v{i + 2}")
        client.activate_version(MD, i + 2)
    names = [v.name for v in client.list_versions(MD, page_size=2)]
    assert names == [f"models/multidimensional/versions/{n}" for n in (5, 4, 3, 2, 1)]

    first = client.list_versions_page(MD, page_size=2)
    assert len(first.versions) == 2 and first.next_page_token
    second = client.list_versions_page(MD, page_size=2, page_token=first.next_page_token)
    assert second.versions[0].name == "models/multidimensional/versions/3"

    activations = list(client.list_activations(page_size=3))
    assert [a.name for a in activations] == [f"activations/{n}" for n in (5, 4, 3, 2, 1)]
    assert len(client.list_activations_page(page_size=3).activations) == 3


def test_an_attribute_only_old_versions_use_can_leave_the_catalog(
    client: HealthScoreClient,
) -> None:
    draft = client.get_draft(MD)
    draft.ClearField("profiles")
    draft.profiles.append(engagement_profile())
    client.update_draft(MD, draft, update_mask=["profiles"])
    client.activate_version(client.publish_draft(MD).name)
    old = client.get_version(MD, 1)
    assert "csm_risk" in {m.attribute for p in old.ruleset.profiles for m in p.metrics}

    catalog = client.get_catalog()
    kept = [a for a in catalog.attributes if a.name != "csm_risk"]
    catalog.ClearField("attributes")
    catalog.attributes.extend(kept)
    updated = client.update_catalog(catalog, update_mask=["attributes"])
    assert "csm_risk" not in {a.name for a in updated.attributes}
    # Version 1 keeps its snapshot: it still activates and scores with csm_risk.
    assert client.get_version(MD, 1) == old
    client.activate_version(MD, 1, comment="back")
    account = {"id": "a", "engagement_score": 50, "csm_risk": "critical"}
    scored = client.score_accounts([account], catalog=old.ruleset.catalog)
    assert scored.ruleset == old.name and scored.results[0].HasField("score")


def test_activating_the_active_version_changes_nothing(client: HealthScoreClient) -> None:
    current = client.get_active_version()
    again = client.activate_version(current.version, comment="again")
    assert again == current  # the current activation, not a new one pointing at itself
    assert [a.name for a in client.list_activations()] == [current.name]
