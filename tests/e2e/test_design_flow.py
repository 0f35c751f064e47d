"""The whole design flow over the wire, for both models: edit the draft, validate, publish,
activate, score, roll back — and persistence across a restart."""

from __future__ import annotations

from pathlib import Path

import grpc
from google.protobuf import field_mask_pb2

from healthscore_client.v1 import health_pb2, ruleset_pb2, scoring_service_pb2
from healthscore_client.v1 import profile_service_pb2 as pb
from tests.e2e.conftest import Server, start_server
from tests.e2e.support import (
    AH_DRAFT,
    MD_DRAFT,
    accounts_request,
    engagement_category_profile,
    engagement_profile,
    rpc_error,
    violations,
)

MD = ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL
AH = ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH


def test_first_start_has_the_default_version_active_and_scores(served: Server) -> None:
    active = served.profiles.GetActiveVersion(pb.GetActiveVersionRequest())
    assert active.version == "models/multidimensional/versions/1"
    assert active.previous_version == ""
    response = served.scoring.ScoreAccounts(accounts_request(a=90, b=10))
    assert response.ruleset == active.version
    assert [r.account_id for r in response.results] == ["a", "b"]
    assert all(r.profile == "default" for r in response.results)
    assert response.results[0].score > response.results[1].score


def test_multidimensional_draft_publish_activate_and_rollback(served: Server) -> None:
    p = served.profiles
    draft = p.GetDraft(pb.GetDraftRequest(name=MD_DRAFT))
    edited = p.UpdateDraft(
        pb.UpdateDraftRequest(
            draft=pb.Draft(name=MD_DRAFT, profiles=[engagement_profile()], etag=draft.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["profiles"]),
        )
    )
    assert edited.etag != draft.etag
    assert [x.name for x in edited.profiles] == ["engagement"]
    assert edited.updater == "local"
    # The settings were outside the mask: unchanged.
    assert edited.settings == draft.settings

    check = p.ValidateDraft(pb.ValidateDraftRequest(name=MD_DRAFT))
    assert check.valid and not check.errors

    version = p.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT, comment="engagement only"))
    assert version.name == "models/multidimensional/versions/2"
    assert version.creator == "local" and version.comment == "engagement only"
    assert version.ruleset.version == version.name
    assert [x.name for x in version.ruleset.profiles] == ["engagement"]

    # Before activation the active version still scores; the new one is reachable by name.
    request = accounts_request(a=50)
    assert served.scoring.ScoreAccounts(request).ruleset == "models/multidimensional/versions/1"
    request.ruleset = version.name
    named = served.scoring.ScoreAccounts(request).results[0]
    assert (named.profile, named.score, named.rank) == (
        "engagement",
        60,
        health_pb2.HEALTH_RANK_AVERAGE,
    )

    activation = p.ActivateVersion(pb.ActivateVersionRequest(name=version.name, comment="go"))
    assert activation.previous_version == "models/multidimensional/versions/1"
    assert activation.actor == "local"
    scored = served.scoring.ScoreAccounts(accounts_request(a=50))
    assert scored.ruleset == version.name
    assert scored.results[0].ruleset_version == version.name
    assert scored.results[0].score == 60

    rollback = p.ActivateVersion(
        pb.ActivateVersionRequest(name="models/multidimensional/versions/1", comment="rollback")
    )
    assert rollback.previous_version == version.name
    assert served.scoring.ScoreAccounts(accounts_request(a=50)).results[0].profile == "default"
    trail = p.ListActivations(pb.ListActivationsRequest()).activations
    assert [(a.version, a.previous_version, a.comment) for a in trail] == [
        ("models/multidimensional/versions/1", version.name, "rollback"),
        (version.name, "models/multidimensional/versions/1", "go"),
        ("models/multidimensional/versions/1", "", "first start"),
    ]


def test_account_health_profile_crud_publish_and_switch_models(served: Server) -> None:
    p = served.profiles
    draft = p.GetDraft(pb.GetDraftRequest(name=AH_DRAFT))
    assert draft.model == AH and not draft.profiles
    draft = p.CreateProfile(
        pb.CreateProfileRequest(parent=AH_DRAFT, profile=engagement_category_profile("b"))
    )
    draft = p.CreateProfile(
        pb.CreateProfileRequest(
            parent=AH_DRAFT, profile=engagement_category_profile("a"), position=0
        )
    )
    assert [x.name for x in draft.profiles] == ["a", "b"]
    draft = p.ReorderProfiles(
        pb.ReorderProfilesRequest(parent=AH_DRAFT, profile_names=["b", "a"], etag=draft.etag)
    )
    assert [x.name for x in draft.profiles] == ["b", "a"]
    renamed = engagement_category_profile("first")
    renamed.display_name = "First"
    draft = p.UpdateProfile(
        pb.UpdateProfileRequest(
            name=f"{AH_DRAFT}/profiles/b",
            profile=renamed,
            update_mask=field_mask_pb2.FieldMask(paths=["name", "display_name"]),
        )
    )
    assert [x.name for x in draft.profiles] == ["first", "a"]
    assert (
        p.GetProfile(pb.GetProfileRequest(name=f"{AH_DRAFT}/profiles/first")).display_name
        == "First"
    )
    draft = p.DeleteProfile(pb.DeleteProfileRequest(name=f"{AH_DRAFT}/profiles/a"))
    assert [x.name for x in draft.profiles] == ["first"]

    version = p.PublishDraft(pb.PublishDraftRequest(name=AH_DRAFT))
    assert version.name == "models/account-health/versions/1"
    p.ActivateVersion(pb.ActivateVersionRequest(name=version.name))
    assert p.GetActiveVersion(pb.GetActiveVersionRequest()).model == AH

    request = accounts_request(good=80, poor=10)
    request.include_other_model = True
    response = served.scoring.ScoreAccounts(request)
    assert response.ruleset == version.name
    assert [(r.model, r.rank) for r in response.results] == [
        (AH, health_pb2.HEALTH_RANK_GOOD),
        (AH, health_pb2.HEALTH_RANK_POOR),
    ]
    # Side by side: the other model's latest version, same accounts, same order.
    assert response.other_model_ruleset == "models/multidimensional/versions/1"
    assert [(r.account_id, r.model) for r in response.other_model_results] == [
        ("good", MD),
        ("poor", MD),
    ]


def test_preview_a_draft_by_scoring_with_it(served: Server) -> None:
    p = served.profiles
    p.UpdateDraft(
        pb.UpdateDraftRequest(
            draft=pb.Draft(name=MD_DRAFT, profiles=[engagement_profile(good=40)]),
            update_mask=field_mask_pb2.FieldMask(paths=["profiles"]),
        )
    )
    request = accounts_request(a=50)
    request.ruleset = MD_DRAFT
    response = served.scoring.ScoreAccounts(request)
    assert response.ruleset == MD_DRAFT
    assert (response.results[0].ruleset_version, response.results[0].score) == (MD_DRAFT, 100)


def test_list_versions_pages_newest_first(served: Server) -> None:
    p = served.profiles
    for i in range(4):
        p.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT, comment=f"v{i + 2}"))
    seen: list[str] = []
    token = ""
    while True:
        page = p.ListVersions(
            pb.ListVersionsRequest(parent="models/multidimensional", page_size=2, page_token=token)
        )
        assert len(page.versions) <= 2
        assert all(not v.HasField("ruleset") for v in page.versions)  # BASIC view
        seen += [v.name for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"models/multidimensional/versions/{n}" for n in (5, 4, 3, 2, 1)]
    full = p.ListVersions(
        pb.ListVersionsRequest(parent="models/multidimensional", view=pb.VERSION_VIEW_FULL)
    )
    assert all(v.ruleset.profiles for v in full.versions)
    error = rpc_error(
        lambda: p.ListVersions(
            pb.ListVersionsRequest(parent="models/account-health", page_token=token or "bogus")
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_state_survives_a_restart(data_dir: Path) -> None:
    first = start_server(data_dir)
    try:
        first.profiles.CreateProfile(
            pb.CreateProfileRequest(parent=AH_DRAFT, profile=engagement_category_profile())
        )
        version = first.profiles.PublishDraft(pb.PublishDraftRequest(name=AH_DRAFT))
        first.profiles.ActivateVersion(pb.ActivateVersionRequest(name=version.name))
        draft_before = first.profiles.GetDraft(pb.GetDraftRequest(name=AH_DRAFT))
    finally:
        first.stop()
    second = start_server(data_dir)
    try:
        active = second.profiles.GetActiveVersion(pb.GetActiveVersionRequest())
        assert active.version == "models/account-health/versions/1"
        assert second.profiles.GetDraft(pb.GetDraftRequest(name=AH_DRAFT)) == draft_before
        response = second.scoring.ScoreAccounts(accounts_request(a=90))
        assert response.results[0].rank == health_pb2.HEALTH_RANK_GOOD
        # First start only: the defaults were not written again.
        versions = second.profiles.ListVersions(
            pb.ListVersionsRequest(parent="models/multidimensional")
        )
        assert len(versions.versions) == 1
    finally:
        second.stop()


def test_preview_and_hierarchy_over_the_wire(served: Server) -> None:
    p = served.profiles
    p.CreateProfile(
        pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), position=0)
    )
    preview_request = scoring_service_pb2.PreviewDraftRequest(ruleset=MD_DRAFT)
    for account_id, value in [("a", 50.0), ("b", 95.0)]:
        account = preview_request.accounts.add(id=account_id, contract_value=100)
        account.attributes["engagement_score"].number_value = value
    preview = served.scoring.PreviewDraft(preview_request)
    assert (preview.ruleset, preview.baseline_ruleset) == (
        MD_DRAFT,
        "models/multidimensional/versions/1",
    )
    assert [(x.profile, list(x.account_ids)) for x in preview.preview.profiles] == [
        ("engagement", ["a", "b"]),
        ("default", []),
    ]
    assert preview.preview.average_score == 80.0  # (60 + 100) / 2
    assert preview.preview.account_count == preview.baseline.account_count == 2

    hierarchy_request = scoring_service_pb2.ScoreHierarchyRequest()
    for account_id, parent, value in [("hq", "", 90.0), ("eu", "hq", 10.0), ("us", "hq", 95.0)]:
        account = hierarchy_request.accounts.add(id=account_id, parent_id=parent)
        account.attributes["engagement_score"].number_value = value
    hierarchy = served.scoring.ScoreHierarchy(hierarchy_request)
    assert [r.account_id for r in hierarchy.results] == ["hq", "eu", "us"]
    assert [e.account_id for e in hierarchy.enterprise] == ["hq"]
    assert hierarchy.ruleset == "models/multidimensional/versions/1"
    hierarchy_request.accounts[0].parent_id = "us"  # hq -> us -> hq
    error = rpc_error(lambda: served.scoring.ScoreHierarchy(hierarchy_request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    described = " ".join(f"{field} {text}" for field, text in violations(error))
    assert "hq" in described and "us" in described


def test_settings_update_one_field_at_a_time(served: Server) -> None:
    p = served.profiles
    before = p.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).settings
    for path, settings in [
        ("settings.poor_max", ruleset_pb2.ModelSettings(poor_max=30)),
        (
            "settings.ignore_missing",
            ruleset_pb2.ModelSettings(ignore_missing=not before.ignore_missing),
        ),
        (
            "settings.enterprise",
            ruleset_pb2.ModelSettings(
                enterprise=ruleset_pb2.EnterpriseSettings(poor_share_percent=40)
            ),
        ),
        ("settings.good_min", ruleset_pb2.ModelSettings()),  # unset: back to the default
    ]:
        p.UpdateDraft(
            pb.UpdateDraftRequest(
                draft=pb.Draft(name=MD_DRAFT, settings=settings),
                update_mask=field_mask_pb2.FieldMask(paths=[path]),
            )
        )
    after = p.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).settings
    assert after.poor_max == 30
    assert after.ignore_missing == (not before.ignore_missing)
    assert after.enterprise.poor_share_percent == 40
    assert not after.HasField("good_min")
