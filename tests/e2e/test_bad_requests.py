"""Requests whose bytes are not the request message, and messages with fields of the wrong wire
type, through the production server: INVALID_ARGUMENT naming the request type (or the field),
one log line per call, and nothing left behind by the call."""

from __future__ import annotations

import gc
import random

import grpc
import pytest
from grpc_health.v1 import health_pb2

from benchmarks.bad_requests import garbage
from healthscore.server.rpc_log import configure_logging
from healthscore_client.v1 import (
    account_service_pb2,
    history_service_pb2,
    portfolio_service_pb2,
    profile_service_pb2,
    ruleset_pb2,
    scoring_service_pb2,
)
from tests.core.wire import length_delimited
from tests.e2e.conftest import Server
from tests.e2e.support import MD_DRAFT, engagement_profile, rpc_error, violations
from tests.server.test_interceptors import wait_for_lines

pytestmark = pytest.mark.timeout(120)

_PROFILES = profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"]
_SCORING = scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"]
_HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
_OURS = [
    _PROFILES,
    _SCORING,
    account_service_pb2.DESCRIPTOR.services_by_name["AccountService"],
    history_service_pb2.DESCRIPTOR.services_by_name["HistoryService"],
    portfolio_service_pb2.DESCRIPTOR.services_by_name["PortfolioService"],
]


def unary_methods() -> list[tuple[str, str]]:
    """(path, request type) of every unary method of our services and of health's Check."""
    found = [
        (f"/{service.full_name}/{m.name}", m.input_type.full_name)
        for service in _OURS
        for m in service.methods
        if not m.client_streaming and not m.server_streaming
    ]
    check = _HEALTH.methods_by_name["Check"]
    return [*found, (f"/{_HEALTH.full_name}/Check", check.input_type.full_name)]


@pytest.mark.parametrize(("method", "request_type"), unary_methods())
def test_undecodable_requests_are_invalid_arguments_naming_the_type(
    served: Server, method: str, request_type: str
) -> None:
    rng = random.Random(method)
    for _ in range(5):
        error = rpc_error(lambda: served.channel.unary_unary(method)(garbage(rng), timeout=10))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error.details())
        if "ScoringService" not in method:  # the scoring requests' bytes go to the core
            assert request_type in (error.details() or "")


def test_an_undecodable_stream_request_is_an_invalid_argument(served: Server) -> None:
    stream = served.channel.stream_stream(f"/{_SCORING.full_name}/StreamScoreAccounts")
    error = rpc_error(lambda: list(stream(iter([garbage(random.Random(1))]), timeout=10)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_undecodable_request_is_logged_once(
    served: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    method = f"/{_PROFILES.full_name}/UpdateDraft"
    capsys.readouterr()
    rpc_error(lambda: served.channel.unary_unary(method)(b"\x0f\x01\x02", timeout=10))
    served.profiles.GetCatalog(profile_service_pb2.GetCatalogRequest(name="catalog"))
    calls = wait_for_lines(capsys, 2)
    assert [(c["method"], c["code"]) for c in calls] == [
        (method, "INVALID_ARGUMENT"),
        (f"/{_PROFILES.full_name}/GetCatalog", "OK"),
    ]


def live_calls() -> int:
    """Server calls grpcio still holds (one `_RPCState` per call until it is finished)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o).__name__ == "_RPCState")


def test_undecodable_requests_leave_nothing_behind(served: Server) -> None:
    rng = random.Random(7)
    get_draft = served.channel.unary_unary(f"/{_PROFILES.full_name}/GetDraft")
    update = served.channel.unary_unary(f"/{_PROFILES.full_name}/UpdateDraft")
    for call in (get_draft, update):  # warm up: threads, caches
        rpc_error(lambda: call(garbage(rng), timeout=10))  # noqa: B023
    before = live_calls()
    calls = 1000
    for i in range(calls):
        call = get_draft if i % 2 else update
        rpc_error(lambda: call(garbage(rng), timeout=10))  # noqa: B023
    # Each leaked call kept its state (and its C-core call, ~16 KiB) for good.
    assert live_calls() - before < calls // 20


def test_a_field_of_the_wrong_wire_type_is_refused_and_the_draft_unchanged(
    served: Server,
) -> None:
    before = served.profiles.GetDraft(profile_service_pb2.GetDraftRequest(name=MD_DRAFT))
    # Profile.name (field 1, a string) sent as a varint, after a well-formed profile.
    profile = engagement_profile().SerializeToString() + b"\x08\x05"
    draft = profile_service_pb2.Draft(name=MD_DRAFT).SerializeToString() + length_delimited(
        4, profile
    )
    request = length_delimited(1, draft)
    update = served.channel.unary_unary(f"/{_PROFILES.full_name}/UpdateDraft")
    error = rpc_error(lambda: update(request, timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in violations(error)] == ["draft.profiles[0].name"]
    assert "wire type" in violations(error)[0][1]
    after = served.profiles.GetDraft(profile_service_pb2.GetDraftRequest(name=MD_DRAFT))
    assert after == before
    check = served.profiles.ValidateDraft(profile_service_pb2.ValidateDraftRequest(name=MD_DRAFT))
    assert check.valid


def test_a_nested_message_of_the_wrong_wire_type_is_named(served: Server) -> None:
    # CreateProfileRequest.profile.metrics[0].good (a message) sent as a 32-bit field.
    metric = ruleset_pb2.Metric(attribute="engagement_score", weight=100).SerializeToString()
    metric += bytes([(3 << 3) | 5]) + b"\x00\x00\x00\x00"  # Metric field 3 as fixed32
    profile = ruleset_pb2.Profile(name="p").SerializeToString() + length_delimited(
        ruleset_pb2.Profile.METRICS_FIELD_NUMBER, metric
    )
    request = profile_service_pb2.CreateProfileRequest(parent=MD_DRAFT).SerializeToString()
    request += length_delimited(
        profile_service_pb2.CreateProfileRequest.PROFILE_FIELD_NUMBER, profile
    )
    create = served.channel.unary_unary(f"/{_PROFILES.full_name}/CreateProfile")
    error = rpc_error(lambda: create(request, timeout=10))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    name = ruleset_pb2.Metric.DESCRIPTOR.fields_by_number[3].name
    assert [f for f, _ in violations(error)] == [f"profile.metrics[0].{name}"]


def test_valid_but_unusual_encodings_are_accepted(served: Server) -> None:
    # An explicit default (an empty etag: proto3 encoders leave it out) and a field number this
    # schema does not declare (a newer client's): both parse, neither is a wrong wire type.
    request = profile_service_pb2.CreateProfileRequest(
        parent=MD_DRAFT, profile=engagement_profile(name="unusual")
    ).SerializeToString()
    request += length_delimited(profile_service_pb2.CreateProfileRequest.ETAG_FIELD_NUMBER, b"")
    request += length_delimited(999, b"from the future")
    create = served.channel.unary_unary(f"/{_PROFILES.full_name}/CreateProfile")
    draft = profile_service_pb2.Draft.FromString(create(request, timeout=10))
    assert [p.name for p in draft.profiles][-1] == "unusual"
