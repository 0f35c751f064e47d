"""Authentication and the per-RPC log line over a real in-process server: every status code the
interceptors produce, every role against every method, every call shape."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
import yaml
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from healthscore.server.context import METHOD_ROLES, Role
from tests.server.conftest import TOKENS, Running, bearer
from tests.server.fake_app import SCORE, STREAM_SCORE, STREAM_UNARY, UNARY_STREAM

pytestmark = pytest.mark.timeout(60)

UNARY_METHODS = sorted(m for m in METHOD_ROLES if m != STREAM_SCORE)


def failure(call: Callable[[], object]) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def reason(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.reason


def rpc_lines(err: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["event"] == "rpc"]


@pytest.fixture
def secured(start: Callable[..., Running], tokens_file: Path) -> Running:
    return start(tokens=tokens_file)


def test_no_token_is_unauthenticated(secured: Running) -> None:
    error = failure(lambda: secured.unary(SCORE))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing" in (error.details() or "")
    assert reason(error) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "metadata",
    [
        (("authorization", "Bearer hs_nobody"),),
        (("authorization", "Basic dmlld2VyOng="),),
        (("authorization", "Bearer"),),
        (("authorization", TOKENS["admin"]),),
        (("authorization", f"Bearer {TOKENS['admin']}"), ("authorization", "Bearer x")),
    ],
    ids=["unknown", "basic", "empty", "no-scheme", "two-values"],
)
def test_bad_credentials_are_unauthenticated(
    secured: Running, metadata: tuple[tuple[str, str], ...]
) -> None:
    error = failure(lambda: secured.unary(SCORE, metadata=metadata))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("role", ["viewer", "editor", "admin"])
def test_each_role_against_every_method(secured: Running, role: str) -> None:
    have = Role[role.upper()]
    for method in UNARY_METHODS:
        call = lambda m=method: secured.unary(m, metadata=bearer(TOKENS[role]))  # noqa: E731
        if have >= METHOD_ROLES[method]:
            assert json.loads(call()) == {"name": role, "role": role.upper()}, method
        else:
            error = failure(call)
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, method
            assert reason(error) == "PERMISSION_DENIED"
            needed = METHOD_ROLES[method].name.lower()
            assert f"needs the {needed} role; {role} has {role}" in (error.details() or "")


def test_every_role_is_needed_somewhere() -> None:
    # The matrix above is only a test of all three roles if each guards some method.
    assert set(METHOD_ROLES.values()) == set(Role)


def test_bidirectional_stream_runs_as_the_caller(secured: Running) -> None:
    stream = secured.channel.stream_stream(STREAM_SCORE)
    responses = list(stream(iter([b"a", b"b", b"c"]), metadata=bearer(TOKENS["viewer"])))
    assert [json.loads(r)["name"] for r in responses] == ["viewer"] * 3
    error = failure(lambda: list(stream(iter([b"a"]))))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


def test_unary_stream_and_stream_unary_run_as_the_caller(secured: Running) -> None:
    # Methods missing from METHOD_ROLES are admin-only.
    admin = bearer(TOKENS["admin"])
    responses = secured.channel.unary_stream(UNARY_STREAM)(b"", metadata=admin)
    assert [json.loads(r)["name"] for r in responses] == ["admin"] * 3
    reply = secured.channel.stream_unary(STREAM_UNARY)(iter([b"1", b"2"]), metadata=admin)
    assert json.loads(reply)["name"] == "admin"
    editor = bearer(TOKENS["editor"])
    error = failure(lambda: list(secured.channel.unary_stream(UNARY_STREAM)(b"", metadata=editor)))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED


def test_identity_does_not_leak_between_calls(
    start: Callable[..., Running], tokens_file: Path
) -> None:
    # One handler thread serves every call in turn: each call sees its own caller only.
    running = start(tokens=tokens_file, threads=1)
    for role in ["admin", "viewer", "editor", "viewer"]:
        stream = running.channel.stream_stream(STREAM_SCORE)(
            iter([b"x"]), metadata=bearer(TOKENS[role])
        )
        assert [json.loads(r)["name"] for r in stream] == [role]
        assert json.loads(running.unary(SCORE, metadata=bearer(TOKENS[role])))["name"] == role


def test_without_a_tokens_file_every_caller_is_local(start: Callable[..., Running]) -> None:
    running = start()
    assert json.loads(running.unary(SCORE)) == {"name": "local", "role": "ADMIN"}
    admin_only = "/healthscore.v1.ProfileService/ActivateVersion"
    assert json.loads(running.unary(admin_only, metadata=bearer("anything")))["name"] == "local"


def test_health_and_reflection_need_no_token(secured: Running) -> None:
    check = health_pb2_grpc.HealthStub(secured.channel).Check
    response = check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_a_bug_is_internal_without_its_message(
    start: Callable[..., Running], capsys: pytest.CaptureFixture[str]
) -> None:
    running = start()
    error = failure(lambda: running.unary(SCORE, b"boom"))
    assert error.code() == grpc.StatusCode.INTERNAL
    assert "secret internals" not in (error.details() or "")
    assert reason(error) == "INTERNAL"
    assert "secret internals" in capsys.readouterr().err  # logged for the operator


def test_a_handlers_own_status_passes_through(start: Callable[..., Running]) -> None:
    error = failure(lambda: start().unary(SCORE, b"missing"))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert reason(error) == "NOT_FOUND"


def wait_for_lines(capsys: pytest.CaptureFixture[str], count: int) -> list[dict[str, object]]:
    # A call's line is written as the call ends, on the server's thread.
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 5
    while len(lines) < count and time.monotonic() < deadline:
        lines += rpc_lines(capsys.readouterr().err)
        time.sleep(0.01)
    return lines


def test_one_log_line_per_rpc(secured: Running, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    secured.unary(SCORE, b"slow:0.05", metadata=bearer(TOKENS["viewer"]))
    failure(lambda: secured.unary(SCORE))
    failure(lambda: secured.unary(SCORE, metadata=(("authorization", "Bearer nope"),)))
    activate = "/healthscore.v1.ProfileService/ActivateVersion"
    failure(lambda: secured.unary(activate, metadata=bearer(TOKENS["editor"])))
    secured.channel.stream_unary(STREAM_UNARY)(iter([b"1", b"2"]), metadata=bearer(TOKENS["admin"]))
    lines = wait_for_lines(capsys, 5)
    assert len(lines) == 5
    for line in lines:
        assert set(line) >= {
            "timestamp",
            "level",
            "event",
            "method",
            "caller",
            "code",
            "duration_ms",
        }
        assert isinstance(line["duration_ms"], float)
    scored, missing, unknown, denied, streamed = lines
    assert scored["method"] == SCORE
    assert scored["caller"] == "viewer" and scored["code"] == "OK"
    assert scored["accounts"] == 3 and scored["version"] == "multidimensional/v7"
    assert isinstance(scored["duration_ms"], float) and scored["duration_ms"] >= 50
    assert (missing["caller"], missing["code"]) == (None, "UNAUTHENTICATED")
    assert (unknown["caller"], unknown["code"]) == (None, "UNAUTHENTICATED")
    assert (denied["method"], denied["caller"], denied["code"]) == (
        activate,
        "editor",
        "PERMISSION_DENIED",
    )
    assert (streamed["caller"], streamed["code"], streamed["messages"]) == ("admin", "OK", 2)


def test_error_and_stream_calls_are_logged_with_their_codes(
    start: Callable[..., Running], capsys: pytest.CaptureFixture[str]
) -> None:
    running = start()
    capsys.readouterr()
    failure(lambda: running.unary(SCORE, b"missing"))
    list(running.channel.stream_stream(STREAM_SCORE)(iter([b"a", b"b"])))
    lines = wait_for_lines(capsys, 2)
    assert [(line["method"], line["code"], line["caller"]) for line in lines] == [
        (SCORE, "NOT_FOUND", "local"),
        (STREAM_SCORE, "OK", "local"),
    ]


def test_a_cancelled_stream_is_logged_cancelled(
    start: Callable[..., Running], capsys: pytest.CaptureFixture[str]
) -> None:
    running = start()
    capsys.readouterr()
    gate = threading.Event()

    def requests():  # type: ignore[no-untyped-def]
        yield b"a"
        gate.wait(5)

    call = running.channel.stream_stream(STREAM_SCORE)(requests())
    next(call)
    call.cancel()
    try:
        # The request stream stays open until the line is read: were it to end first, the
        # server could see a half-close (a normal end) race the cancellation.
        lines = wait_for_lines(capsys, 1)
    finally:
        gate.set()
    assert [(line["method"], line["code"]) for line in lines] == [(STREAM_SCORE, "CANCELLED")]


def test_a_token_removed_from_the_file_stops_working_without_a_restart(
    secured: Running, tokens_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert json.loads(secured.unary(SCORE, metadata=bearer(TOKENS["viewer"])))["name"] == "viewer"
    document = yaml.safe_load(tokens_file.read_text())
    document["tokens"] = [t for t in document["tokens"] if t["name"] != "viewer"]
    tokens_file.write_text(yaml.safe_dump(document))
    deadline = time.monotonic() + 10  # the file is looked at once a second at most
    while time.monotonic() < deadline:
        try:
            secured.unary(SCORE, metadata=bearer(TOKENS["viewer"]))
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the revoked token still works")
    assert json.loads(secured.unary(SCORE, metadata=bearer(TOKENS["admin"])))["name"] == "admin"
    # A file that no longer parses keeps the tokens in use: calls go on as admin until the
    # server has read the broken file (it logs so), and after.
    capsys.readouterr()
    tokens_file.write_text("tokens: [")
    err = ""
    deadline = time.monotonic() + 10
    while '"tokens_reload_failed"' not in err:
        assert time.monotonic() < deadline, "the broken tokens file was never read"
        assert json.loads(secured.unary(SCORE, metadata=bearer(TOKENS["admin"])))["name"] == "admin"
        time.sleep(0.2)
        err += capsys.readouterr().err
    assert json.loads(secured.unary(SCORE, metadata=bearer(TOKENS["admin"])))["name"] == "admin"
