"""Retries (UNAVAILABLE, reads and scoring only) and deadlines, against a scripted fake server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import grpc
import pytest

from healthscore_client import (
    AsyncHealthScoreClient,
    DeadlineExceededError,
    HealthScoreClient,
    InternalError,
    UnavailableError,
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


def test_other_codes_are_not_retried(fake: Fake) -> None:
    fake.failures, fake.failure = {"GetDraft": 1}, grpc.StatusCode.INTERNAL
    with HealthScoreClient(fake.address, timeout=20) as client, pytest.raises(InternalError):
        client.get_draft(MD)
    assert fake.calls == {"GetDraft": 1}


def test_a_read_reaches_a_server_that_starts_late() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = Fake()
    servers: list[grpc.Server] = []
    starter = threading.Timer(0.5, lambda: servers.append(serve_fake(fake, port)))
    starter.start()
    try:
        with HealthScoreClient(f"127.0.0.1:{port}", timeout=30, max_attempts=12) as client:
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
    with HealthScoreClient(fake.address, timeout=1.0, max_attempts=1000) as client:
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
