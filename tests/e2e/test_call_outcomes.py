"""What a call's log line says is what its caller got: a cancelled call is CANCELLED (an info
line, no internal error), a response too large to send is RESOURCE_EXHAUSTED (and says so to the
caller)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from healthscore.server.rpc_log import configure_logging
from healthscore_client.v1 import profile_service_pb2 as pb
from healthscore_client.v1 import scoring_pb2
from tests.e2e.conftest import Server, start_server
from tests.e2e.support import accounts_request, details, rpc_error

pytestmark = pytest.mark.timeout(60)

STREAM = "/healthscore.v1.ScoringService/StreamScoreAccounts"


def log_lines(capsys: pytest.CaptureFixture[str], method: str) -> list[dict[str, object]]:
    """Every log line until `method`'s rpc line (written as the call ends, on the server)."""
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for text in capsys.readouterr().err.splitlines():
            if text.startswith("{"):
                lines.append(json.loads(text))
        if any(line.get("event") == "rpc" and line.get("method") == method for line in lines):
            return lines
        time.sleep(0.01)
    raise AssertionError(f"no log line for {method}: {lines}")


def test_a_cancelled_stream_is_logged_cancelled(
    served: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    capsys.readouterr()
    release = threading.Event()

    def batches() -> Iterator[scoring_pb2.ScoreAccountsRequest]:
        yield accounts_request(a=50)
        release.wait(10)  # the caller is thinking: the server waits on the request stream

    call = served.scoring.StreamScoreAccounts(batches(), timeout=30)
    next(call)
    time.sleep(0.2)  # the server is back reading the request stream (no timing is asserted)
    call.cancel()
    release.set()
    lines = log_lines(capsys, STREAM)
    (rpc,) = [line for line in lines if line.get("event") == "rpc"]
    assert (rpc["code"], rpc["level"]) == ("CANCELLED", "info")
    assert not [line for line in lines if line.get("event") == "internal_error"]


def test_a_deadline_passed_in_a_stream_is_logged_deadline_exceeded(
    served: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    capsys.readouterr()
    release = threading.Event()

    def batches() -> Iterator[scoring_pb2.ScoreAccountsRequest]:
        yield accounts_request(a=50)
        release.wait(10)

    call = served.scoring.StreamScoreAccounts(batches(), timeout=0.5)
    error = rpc_error(lambda: list(call))
    release.set()
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    lines = log_lines(capsys, STREAM)
    (rpc,) = [line for line in lines if line.get("event") == "rpc"]
    assert rpc["code"] == "DEADLINE_EXCEEDED"
    assert not [line for line in lines if line.get("event") == "internal_error"]


def full_view(request: scoring_pb2.ScoreAccountsRequest) -> scoring_pb2.ScoreAccountsRequest:
    request.view = scoring_pb2.SCORE_VIEW_FULL  # ~370 bytes of results an account
    return request


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Server]:
    """A server whose messages may not exceed 1 KiB."""
    s = start_server(tmp_path / "data", max_message_bytes=1024)
    yield s
    s.stop()


def test_a_response_too_large_is_resource_exhausted_and_logged_so(
    small: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    capsys.readouterr()
    request = full_view(accounts_request(**{f"a{i}": 50.0 for i in range(20)}))
    assert request.ByteSize() < 1024
    error = rpc_error(lambda: small.scoring.ScoreAccounts(request, timeout=10))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "1024" in (error.details() or "")
    assert details(error)["ErrorInfo"].reason == "RESPONSE_TOO_LARGE"
    method = "/healthscore.v1.ScoringService/ScoreAccounts"
    (rpc,) = [line for line in log_lines(capsys, method) if line.get("event") == "rpc"]
    assert rpc["code"] == "RESOURCE_EXHAUSTED"


def test_a_streamed_response_too_large_is_resource_exhausted(
    small: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging()
    capsys.readouterr()
    batches = [
        accounts_request(a=1),
        full_view(accounts_request(**{f"b{i}": 1.0 for i in range(20)})),
    ]
    call = small.scoring.StreamScoreAccounts(iter(batches), timeout=10)
    assert len(next(call).results) == 1
    error = rpc_error(lambda: next(call))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    (rpc,) = [line for line in log_lines(capsys, STREAM) if line.get("event") == "rpc"]
    assert rpc["code"] == "RESOURCE_EXHAUSTED"


def test_a_message_response_too_large_is_resource_exhausted(small: Server) -> None:
    # The default version with its ruleset (catalog included) is over 1 KiB.
    request = pb.GetVersionRequest(name="models/multidimensional/versions/1")
    error = rpc_error(lambda: small.profiles.GetVersion(request, timeout=10))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details(error)["ErrorInfo"].reason == "RESPONSE_TOO_LARGE"
