"""Logging never fails a call: with the log unwritable (disk full) every call still answers, and
the lines lost are counted and reported once the log can be written again."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.server.conftest import Running
from tests.server.fake_app import SCORE, STREAM_SCORE
from tests.server.test_interceptors import failure, rpc_lines

pytestmark = pytest.mark.timeout(60)


class DiskFull(io.StringIO):
    """A log stream whose every write and flush fails as on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")


def calls_succeed(running: Running) -> None:
    check = health_pb2_grpc.HealthStub(running.channel).Check
    assert check(health_pb2.HealthCheckRequest(), timeout=10).status == (
        health_pb2.HealthCheckResponse.SERVING
    )
    assert json.loads(running.unary(SCORE))["name"] == "local"
    stream = running.channel.stream_stream(STREAM_SCORE)
    assert len(list(stream(iter([b"a", b"b"]), timeout=10))) == 2
    # An error is still the handler's error, not one of the log's.
    error = failure(lambda: running.unary(SCORE, b"missing"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    # A bug still ends INTERNAL, though its traceback cannot be logged.
    error = failure(lambda: running.unary(SCORE, b"boom"))
    assert error.code() == grpc.StatusCode.INTERNAL


def dropped_reports(err: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == "log_lines_dropped"]


def test_calls_succeed_while_the_log_raises(
    start: Callable[..., Running],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    running = start()
    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", DiskFull())
        calls_succeed(running)
    # The log works again: the next line is preceded by the count of the lost ones.
    assert json.loads(running.unary(SCORE))["name"] == "local"
    err = ""
    deadline = time.monotonic() + 5
    while '"event": "rpc"' not in err and time.monotonic() < deadline:
        err += capsys.readouterr().err
        time.sleep(0.01)
    (report,) = dropped_reports(err)
    assert report["level"] == "warning"
    assert isinstance(report["count"], int)
    # A line per call at least (the stream's may be written after its caller has its answer).
    assert report["count"] >= 5
    assert rpc_lines(err)[-1]["method"] == SCORE


def test_calls_succeed_on_dev_full(
    start: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    running = start()
    full = open("/dev/full", "w", buffering=1)  # noqa: SIM115
    try:
        monkeypatch.setattr(sys, "stderr", full)
        calls_succeed(running)
        monkeypatch.undo()
    finally:
        with contextlib.suppress(OSError):  # what is still buffered cannot be written
            full.close()
