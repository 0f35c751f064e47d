"""Retries (UNAVAILABLE, reads and scoring only) and deadlines, against a scripted fake server."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import grpc
import pytest

from healthscore_client import (
    AsyncHealthScoreClient,
    DeadlineExceededError,
    HealthScoreClient,
    InternalError,
    InvalidArgumentError,
    ResourceExhaustedError,
    UnavailableError,
    _calls,
)
from tests.client.conftest import Fake, serve_fake

MD = "multidimensional"


def test_reads_and_scoring_are_retried_on_unavailable(fake: Fake) -> None:
    fake.failures = {"GetDraft": 2, "ScoreAccounts": 3}
    with HealthScoreClient(fake.address, timeout=20) as client:
        assert client.get_draft(MD).etag == "e1"
        assert client.score_accounts([{"id": "a"}]).ruleset == "fake"
    assert fake.calls == {"GetDraft": 3, "ScoreAccounts": 4}


def test_retries_stop_after_max_attempts(fake: Fake) -> None:
    fake.failures = {"GetDraft": 10}
    with (
        HealthScoreClient(fake.address, timeout=20, max_attempts=3) as client,
        pytest.raises(UnavailableError, match="scripted failure"),
    ):
        client.get_draft(MD)
    assert fake.calls == {"GetDraft": 3}


def test_writes_are_never_retried(fake: Fake) -> None:
    fake.failures = {"PublishDraft": 1}
    with HealthScoreClient(fake.address, timeout=20) as client:
        with pytest.raises(UnavailableError):
            client.publish_draft(MD)
        assert client.publish_draft(MD).name.endswith("/versions/2")  # the next call succeeds
    assert fake.calls == {"PublishDraft": 2}


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.INTERNAL, InternalError),
        (grpc.StatusCode.INVALID_ARGUMENT, InvalidArgumentError),
        (grpc.StatusCode.DEADLINE_EXCEEDED, DeadlineExceededError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, ResourceExhaustedError),
    ],
)
def test_other_codes_are_not_retried(
    fake: Fake, code: grpc.StatusCode, error: type[Exception]
) -> None:
    fake.failures, fake.failure = {"GetDraft": 1, "ScoreAccounts": 1}, code
    with HealthScoreClient(fake.address, timeout=20) as client:
        with pytest.raises(error):
            client.get_draft(MD)
        with pytest.raises(error):
            client.score_accounts([{"id": "a"}])
    assert fake.calls == {"GetDraft": 1, "ScoreAccounts": 1}


def test_retries_and_deadlines_are_the_shared_service_configs() -> None:
    # One file for every client: the Python copy is the proto folder's, and the channel gets it.
    root = Path(__file__).resolve().parents[2]
    shared = root / "proto" / "healthscore" / "v1" / "service_config.json"
    assert _calls.SERVICE_CONFIG.read_bytes() == shared.read_bytes()
    for copy in ("clients/go/healthscore/v1", "clients/ts/src/gen/healthscore/v1"):
        assert (root / copy / "service_config.json").read_bytes() == shared.read_bytes(), copy
    options = dict(HealthScoreClient("127.0.0.1:1")._connection.options)
    config = json.loads(options["grpc.service_config"])
    assert config == json.loads(shared.read_text())
    assert options["grpc.max_receive_message_length"] == 64 * 1024 * 1024
    retried = {
        (name["service"].rsplit(".", 1)[1], name.get("method", "*"))
        for method in config["methodConfig"]
        if method.get("retryPolicy", {}).get("retryableStatusCodes") == ["UNAVAILABLE"]
        for name in method["name"]
    }
    assert ("ProfileService", "GetDraft") in retried and (
        "ScoringService",
        "ScoreAccounts",
    ) in retried
    assert not any(service == "ProfileService" and m == "PublishDraft" for service, m in retried)
    # With a client timeout, the client sets every deadline: the config's are left out.
    timed = dict(HealthScoreClient("127.0.0.1:1", timeout=5)._connection.options)
    assert all("timeout" not in m for m in json.loads(timed["grpc.service_config"])["methodConfig"])
    with pytest.raises(ValueError, match="gRPC's limit"):
        HealthScoreClient("127.0.0.1:1", max_attempts=6)


def test_a_unary_call_has_the_configs_deadline_by_default(fake: Fake) -> None:
    fake.delay = 3.0
    config = json.loads(_calls.SERVICE_CONFIG.read_text())
    for method in config["methodConfig"]:
        if "timeout" in method:
            method["timeout"] = "0.3s"
    options = [("grpc.service_config", json.dumps(config))]
    # No client timeout: only the config's 0.3 s can end the call before the fake's answer.
    with (
        HealthScoreClient(fake.address, options=options) as client,
        pytest.raises(DeadlineExceededError),
    ):
        client.get_draft(MD)


def test_a_read_reaches_a_server_that_starts_late() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = Fake()
    servers: list[grpc.Server] = []
    starter = threading.Timer(0.2, lambda: servers.append(serve_fake(fake, port)))
    starter.start()
    try:
        with HealthScoreClient(f"127.0.0.1:{port}", timeout=30) as client:
            assert client.get_draft(MD).etag == "e1"
    finally:
        starter.join()
        for server in servers:
            server.stop(None)


def test_the_deadline_covers_the_call_and_can_be_overridden(fake: Fake) -> None:
    fake.delay = 3.0
    with HealthScoreClient(fake.address, timeout=0.2) as client:
        start = time.monotonic()
        with pytest.raises(DeadlineExceededError):
            client.get_draft(MD)
        assert time.monotonic() - start < 2.5  # not the server's 3 s
        assert client.get_draft(MD, timeout=20).etag == "e1"


def test_retries_end_at_the_deadline(fake: Fake) -> None:
    fake.failures = {"GetDraft": 1000}
    with HealthScoreClient(fake.address, timeout=1.0) as client:
        start = time.monotonic()
        with pytest.raises((UnavailableError, DeadlineExceededError)):
            client.get_draft(MD)
        assert time.monotonic() - start < 5  # not 1,000 attempts


def test_the_async_client_retries_reads_only(fake: Fake) -> None:
    fake.failures = {"GetDraft": 2, "PublishDraft": 1}

    async def run() -> None:
        async with AsyncHealthScoreClient(fake.address, timeout=20) as client:
            assert (await client.get_draft(MD)).etag == "e1"
            with pytest.raises(UnavailableError):
                await client.publish_draft(MD)
            fake.delay = 1.0
            with pytest.raises(DeadlineExceededError):
                await client.get_draft(MD, timeout=0.2)

    asyncio.run(run())
    assert fake.calls == {"GetDraft": 4, "PublishDraft": 1}
