"""Errors stay bounded whatever the input: at most `MAX_VIOLATIONS` violations plus one counting
the rest, every echoed value clipped, and the whole status well inside gRPC's default 8 KiB limit
on received metadata (past it the client sees RESOURCE_EXHAUSTED and no details)."""

from __future__ import annotations

import grpc
import pytest

from healthscore.server.status import MAX_DESCRIPTION_BYTES, MAX_MESSAGE_BYTES, MAX_VIOLATIONS
from healthscore_client.v1 import profile_service_pb2 as pb
from healthscore_client.v1 import scoring_service_pb2
from tests.e2e.conftest import Server
from tests.e2e.support import MD_DRAFT, details, engagement_profile, rpc_error, violations

pytestmark = pytest.mark.timeout(300)

# What the trailers of a failed call may take, of gRPC's default 8 KiB.
METADATA_BUDGET = 6 * 1024


def metadata_bytes(error: grpc.RpcError) -> int:
    trailers = error.trailing_metadata() or ()  # type: ignore[attr-defined]
    return sum(len(key) + len(value) for key, value in trailers) + len(
        (error.details() or "").encode()
    )


def check_bounded(error: grpc.RpcError, total: int) -> list[tuple[str, str]]:
    """The listed violations of an error that had `total`: bounded, the last counting the
    rest."""
    listed = violations(error)
    assert metadata_bytes(error) <= METADATA_BUDGET
    assert len((error.details() or "").encode()) <= MAX_MESSAGE_BYTES
    assert details(error)["ErrorInfo"].metadata["violations"] == str(total)
    assert 1 < len(listed) <= MAX_VIOLATIONS + 1
    named, (_, more) = listed[:-1], listed[-1]
    assert more == f"and {total - len(named)} more violation(s), not listed"
    assert all(len(d.encode()) <= MAX_DESCRIPTION_BYTES for _, d in listed)
    return named


def test_hundreds_of_bad_profiles_are_listed_up_to_the_bound(served: Server) -> None:
    profiles = [engagement_profile(name="") for _ in range(400)]
    request = pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, profiles=profiles))
    error = rpc_error(lambda: served.profiles.UpdateDraft(request))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    named = check_bounded(error, 400)
    assert named == [(f"draft.profiles[{i}].name", "required") for i in range(len(named))]


def test_a_draft_with_hundreds_of_errors_fails_publishing_with_bounded_details(
    served: Server,
) -> None:
    profiles = [engagement_profile(name=f"p{i}") for i in range(300)]
    for profile in profiles:
        profile.metrics[0].weight = 1000  # out of 0..100
    served.profiles.UpdateDraft(
        pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, profiles=profiles))
    )
    check = served.profiles.ValidateDraft(pb.ValidateDraftRequest(name=MD_DRAFT))
    total = len(check.errors)
    assert total >= 300
    error = rpc_error(lambda: served.profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT)))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    check_bounded(error, total)


def test_a_long_hierarchy_cycle_is_refused_with_bounded_details(served: Server) -> None:
    n = 100_000
    request = scoring_service_pb2.ScoreHierarchyRequest()
    for i in range(n):
        request.accounts.add(id=f"account-{i}", parent_id=f"account-{(i + 1) % n}")
    error = rpc_error(lambda: served.scoring.ScoreHierarchy(request, timeout=120))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    named = check_bounded(error, n)
    assert named[0][0] == "accounts[0].parent_id"


def test_echoed_values_are_clipped(served: Server) -> None:
    # Two accounts with 200 KB ids in a cycle: each violation quotes both ids.
    a, b = "a" * 200_000, "b" * 200_000
    request = scoring_service_pb2.ScoreHierarchyRequest()
    request.accounts.add(id=a, parent_id=b)
    request.accounts.add(id=b, parent_id=a)
    error = rpc_error(lambda: served.scoring.ScoreHierarchy(request, timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert metadata_bytes(error) <= METADATA_BUDGET
    listed = violations(error)
    assert [f for f, _ in listed] == ["accounts[0].parent_id", "accounts[1].parent_id"]
    for _, description in listed:
        assert len(description.encode()) <= MAX_DESCRIPTION_BYTES
        assert description.startswith("parent links form a cycle of 2 accounts: 'aaa")
        assert "clipped" in description
