"""The warnings ValidateDraft gives (e.g. a profile after a default profile can never match) come
back with every draft a method returns and with the version PublishDraft makes."""

from __future__ import annotations

from healthscore_client.v1 import profile_service_pb2 as pb
from tests.e2e.conftest import Server
from tests.e2e.support import MD_DRAFT, engagement_profile

MD_VERSIONS = "models/multidimensional/versions"


def issues(found: object) -> list[tuple[str, str]]:
    return [(i.field, i.description) for i in found]  # type: ignore[attr-defined]


def validate(served: Server) -> list[tuple[str, str]]:
    response = served.profiles.ValidateDraft(pb.ValidateDraftRequest(name=MD_DRAFT))
    assert response.valid
    return issues(response.warnings)


def test_draft_writes_return_the_warnings_of_validate_draft(served: Server) -> None:
    # Both profiles have no segment: the first matches every account, the second never.
    shadowing = [engagement_profile(name="everyone"), engagement_profile(name="never")]
    draft = served.profiles.UpdateDraft(
        pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, profiles=shadowing))
    )
    expected = validate(served)
    assert expected and any("profiles[1]" in field for field, _ in expected)
    assert issues(draft.warnings) == expected
    assert issues(served.profiles.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).warnings) == expected

    created = served.profiles.CreateProfile(
        pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(name="also-never"))
    )
    assert issues(created.warnings) == validate(served)
    assert len(created.warnings) > len(expected)

    deleted = served.profiles.DeleteProfile(
        pb.DeleteProfileRequest(name=f"{MD_DRAFT}/profiles/also-never")
    )
    reordered = served.profiles.ReorderProfiles(
        pb.ReorderProfilesRequest(parent=MD_DRAFT, profile_names=["never", "everyone"])
    )
    assert issues(deleted.warnings) == expected
    assert issues(reordered.warnings) == validate(served)


def test_a_draft_without_warnings_returns_none(served: Server) -> None:
    draft = served.profiles.UpdateDraft(
        pb.UpdateDraftRequest(
            draft=pb.Draft(name=MD_DRAFT, profiles=[engagement_profile(name="only")])
        )
    )
    assert validate(served) == []
    assert list(draft.warnings) == []


def test_a_draft_that_does_not_validate_has_no_warnings_but_its_errors_stay_with_validate(
    served: Server,
) -> None:
    bad = engagement_profile(name="bad")
    bad.metrics[0].weight = 1000
    shadowed = [bad, engagement_profile(name="never")]
    draft = served.profiles.UpdateDraft(
        pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, profiles=shadowed))
    )
    assert list(draft.warnings) == []
    check = served.profiles.ValidateDraft(pb.ValidateDraftRequest(name=MD_DRAFT))
    assert not check.valid and list(check.warnings) == []


def test_publish_returns_the_warnings_and_get_version_keeps_them(served: Server) -> None:
    shadowing = [engagement_profile(name="everyone"), engagement_profile(name="never")]
    served.profiles.UpdateDraft(
        pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, profiles=shadowing))
    )
    expected = validate(served)
    version = served.profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT))
    assert expected and issues(version.warnings) == expected
    got = served.profiles.GetVersion(pb.GetVersionRequest(name=version.name))
    assert issues(got.warnings) == expected
    basic = served.profiles.GetVersion(
        pb.GetVersionRequest(name=version.name, view=pb.VERSION_VIEW_BASIC)
    )
    assert list(basic.warnings) == []  # the BASIC view has no ruleset, and no warnings
