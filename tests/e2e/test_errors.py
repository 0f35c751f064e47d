"""Every error code the API promises, with the details that name the offending field."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest
from google.protobuf import field_mask_pb2

from healthscore_client.v1 import catalog_pb2, scoring_pb2, scoring_service_pb2
from healthscore_client.v1 import profile_service_pb2 as pb
from tests.e2e.conftest import Server
from tests.e2e.support import (
    AH_DRAFT,
    MD_DRAFT,
    accounts_request,
    details,
    engagement_profile,
    rpc_error,
    violations,
)


def test_malformed_names_are_invalid_arguments_naming_the_field(served: Server) -> None:
    p = served.profiles
    for call, field in [
        (lambda: p.GetDraft(pb.GetDraftRequest(name="models/nope/draft")), "name"),
        (lambda: p.GetDraft(pb.GetDraftRequest(name="")), "name"),
        (
            lambda: p.GetVersion(pb.GetVersionRequest(name="models/multidimensional/versions/0")),
            "name",
        ),
        (lambda: p.CreateProfile(pb.CreateProfileRequest(parent="drafts/x")), "parent"),
        (lambda: p.GetCatalog(pb.GetCatalogRequest(name="catalogs/1")), "name"),
    ]:
        error = rpc_error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations(error)] == [field]
        assert details(error)["ErrorInfo"].domain == "healthscore.v1"


def test_missing_resources_are_not_found(served: Server) -> None:
    p = served.profiles
    for call in [
        lambda: p.GetVersion(pb.GetVersionRequest(name="models/multidimensional/versions/9")),
        lambda: p.ActivateVersion(
            pb.ActivateVersionRequest(name="models/account-health/versions/1")
        ),
        lambda: p.GetProfile(pb.GetProfileRequest(name=f"{MD_DRAFT}/profiles/nope")),
        lambda: p.DeleteProfile(pb.DeleteProfileRequest(name=f"{MD_DRAFT}/profiles/nope")),
    ]:
        assert rpc_error(call).code() == grpc.StatusCode.NOT_FOUND
    request = accounts_request(a=1)
    request.ruleset = "models/account-health"  # no version published yet
    assert (
        rpc_error(lambda: served.scoring.ScoreAccounts(request)).code() == grpc.StatusCode.NOT_FOUND
    )


def test_a_taken_profile_name_already_exists(served: Server) -> None:
    error = rpc_error(
        lambda: served.profiles.CreateProfile(
            pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile("default"))
        )
    )
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS


def test_stale_etags_abort_and_change_nothing(served: Server) -> None:
    p = served.profiles
    stale = p.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).etag
    current = p.CreateProfile(
        pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), etag=stale)
    )
    for call in [
        lambda: p.CreateProfile(
            pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile("x"), etag=stale)
        ),
        lambda: p.DeleteProfile(
            pb.DeleteProfileRequest(name=f"{MD_DRAFT}/profiles/engagement", etag=stale)
        ),
        lambda: p.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT, etag=stale)),
        lambda: p.UpdateDraft(pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, etag=stale))),
        lambda: p.UpdateCatalog(pb.UpdateCatalogRequest(catalog=catalog_pb2.Catalog(etag="stale"))),
    ]:
        error = rpc_error(call)
        assert error.code() == grpc.StatusCode.ABORTED
        assert details(error)["ErrorInfo"].reason == "STALE_ETAG"
    assert p.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)) == current


def test_invalid_draft_validates_with_paths_and_cannot_be_published(served: Server) -> None:
    p = served.profiles
    broken = engagement_profile()
    broken.metrics[0].weight = 50  # the dimension's metric weights must sum to 100
    p.UpdateDraft(
        pb.UpdateDraftRequest(
            draft=pb.Draft(name=MD_DRAFT, profiles=[broken]),
            update_mask=field_mask_pb2.FieldMask(paths=["profiles"]),
        )
    )
    check = p.ValidateDraft(pb.ValidateDraftRequest(name=MD_DRAFT))
    assert not check.valid
    assert check.errors and all(e.field.startswith("profiles[0]") for e in check.errors)
    error = rpc_error(lambda: p.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert all(s.startswith(MD_DRAFT) for s, _ in violations(error))
    assert (
        len(p.ListVersions(pb.ListVersionsRequest(parent="models/multidimensional")).versions) == 1
    )


def test_draft_updates_check_profile_names_and_masks(served: Server) -> None:
    p = served.profiles
    error = rpc_error(
        lambda: p.UpdateDraft(
            pb.UpdateDraftRequest(
                draft=pb.Draft(
                    name=MD_DRAFT, profiles=[engagement_profile("a"), engagement_profile("a")]
                ),
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(error)] == ["draft.profiles[1].name"]
    error = rpc_error(
        lambda: p.UpdateDraft(
            pb.UpdateDraftRequest(
                draft=pb.Draft(name=MD_DRAFT),
                update_mask=field_mask_pb2.FieldMask(paths=["etag"]),
            )
        )
    )
    assert [f for f, _ in violations(error)] == ["update_mask.paths[0]"]
    error = rpc_error(
        lambda: p.ReorderProfiles(pb.ReorderProfilesRequest(parent=MD_DRAFT, profile_names=["x"]))
    )
    assert {f for f, _ in violations(error)} == {"profile_names[0]", "profile_names"}


def test_bad_accounts_name_the_field(served: Server) -> None:
    request = scoring_pb2.ScoreAccountsRequest()
    request.accounts.add(id="a").attributes["usage_frequency"].text_value = "hourly"
    error = rpc_error(lambda: served.scoring.ScoreAccounts(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    [(field, message)] = violations(error)
    assert field.startswith("accounts[0].attributes") and "hourly" in message
    garbage = rpc_error(
        lambda: served.channel.unary_unary("/healthscore.v1.ScoringService/ScoreAccounts")(
            b"\xff\xff\xff"
        )
    )
    assert garbage.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_catalog_changes_that_break_a_draft_are_refused(served: Server) -> None:
    p = served.profiles
    catalog = p.GetCatalog(pb.GetCatalogRequest(name="catalog"))
    kept = [a for a in catalog.attributes if a.name != "engagement_score"]
    error = rpc_error(
        lambda: p.UpdateCatalog(
            pb.UpdateCatalogRequest(
                catalog=catalog_pb2.Catalog(attributes=kept, etag=catalog.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["attributes"]),
            )
        )
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    subjects = {s for s, _ in violations(error)}
    assert subjects == {MD_DRAFT}  # versions keep their own catalog: they cannot break
    assert p.GetCatalog(pb.GetCatalogRequest(name="catalog")) == catalog
    # A change that breaks nothing goes through, with a new etag.
    added = catalog_pb2.Catalog(
        attributes=[
            *catalog.attributes,
            catalog_pb2.Attribute(name="nps", type=catalog_pb2.ATTRIBUTE_TYPE_NUMBER),
        ],
        etag=catalog.etag,
    )
    updated = p.UpdateCatalog(
        pb.UpdateCatalogRequest(
            catalog=added, update_mask=field_mask_pb2.FieldMask(paths=["attributes"])
        )
    )
    assert updated.etag != catalog.etag and updated.attributes[-1].name == "nps"
    assert updated.dimensions == catalog.dimensions
    # A catalog that does not validate on its own is the caller's mistake.
    duplicate = catalog_pb2.Catalog(attributes=[*updated.attributes, updated.attributes[0]])
    error = rpc_error(
        lambda: p.UpdateCatalog(
            pb.UpdateCatalogRequest(
                catalog=duplicate, update_mask=field_mask_pb2.FieldMask(paths=["attributes"])
            )
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(error)] == [
        f"catalog.attributes[{len(updated.attributes)}].name"
    ]


def test_previewing_a_draft_that_does_not_validate_fails_precondition(served: Server) -> None:
    request = accounts_request(a=1)
    request.ruleset = AH_DRAFT
    served.profiles.CreateProfile(
        pb.CreateProfileRequest(parent=AH_DRAFT, profile=engagement_profile("md-shaped"))
    )
    error = rpc_error(lambda: served.scoring.ScoreAccounts(request))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize("seconds", [2**63 - 1, -(2**63), 253_402_300_800, -62_135_596_801])
def test_as_of_outside_the_timestamp_range_is_invalid_naming_it(
    served: Server, seconds: int
) -> None:
    # Instants a Timestamp may not hold (years 0001-9999) were accepted and scored against.
    rows = accounts_request(acme=80)
    rows.as_of.seconds = seconds
    columns = scoring_pb2.ScoreAccountsRequest()
    columns.account_columns.ids.append("acme")
    columns.as_of.seconds = seconds
    preview = scoring_service_pb2.PreviewDraftRequest(ruleset=MD_DRAFT)
    preview.accounts.add(id="acme")
    preview.as_of.seconds = seconds
    hierarchy = scoring_service_pb2.ScoreHierarchyRequest()
    hierarchy.accounts.add(id="acme")
    hierarchy.as_of.seconds = seconds
    calls: list[Callable[[], object]] = [
        lambda: served.scoring.ScoreAccounts(rows),
        lambda: served.scoring.ScoreAccounts(columns),
        lambda: list(served.scoring.StreamScoreAccounts(iter([rows]))),
        lambda: served.scoring.PreviewDraft(preview),
        lambda: served.scoring.ScoreHierarchy(hierarchy),
    ]
    for call in calls:
        error = rpc_error(call)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        assert [field for field, _ in violations(error)] == ["as_of"]
