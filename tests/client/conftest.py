"""Live servers for the SDK's tests: the production server in-process on port 0 (authentication
and TLS as asked), and a fake server whose methods fail as a test scripts them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from healthscore.server.app import App
from healthscore.server.config import ServerConfig
from healthscore.server.serve import build_server
from healthscore_client import HealthScoreClient
from healthscore_client.v1 import profile_service_pb2, scoring_pb2

# The server tests' fixtures: a tokens file with one token per role, throwaway certificates.
from tests.server.conftest import TOKENS, certs, tokens_file  # noqa: F401


@dataclass
class Live:
    """A started production server and its address."""

    server: grpc.Server
    app: App
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client(self, role: str | None = None, **kwargs: Any) -> HealthScoreClient:
        """A client, with the token of `role` (viewer, editor, admin) when given."""
        token = TOKENS[role] if role else None
        return HealthScoreClient(self.address, token=token, timeout=20, **kwargs)


@pytest.fixture
def start_live(tmp_path: Path) -> Iterator[Callable[..., Live]]:
    """`start_live(**config_fields)`: the production server over a fresh data directory."""
    started: list[Live] = []

    def start(**fields: Any) -> Live:
        data_dir = tmp_path / f"data{len(started)}"
        config = replace(ServerConfig(port=0, data_dir=data_dir), **fields)
        app = App.open(data_dir)
        server, port, _ = build_server(config, app)
        server.start()
        started.append(Live(server, app, port))
        return started[-1]

    yield start
    for live in started:
        live.server.stop(None)
        live.app.close()


@pytest.fixture
def live(start_live: Callable[..., Live]) -> Live:
    """The production server, authentication off."""
    return start_live()


@pytest.fixture
def secured(start_live: Callable[..., Live], tokens_file: Path) -> Live:  # noqa: F811
    """The production server with a token per role (`TOKENS`)."""
    return start_live(tokens=tokens_file)


@pytest.fixture
def client(live: Live) -> Iterator[HealthScoreClient]:
    with live.client() as c:
        yield c


@dataclass
class Fake:
    """A server answering GetDraft (a read), PublishDraft (a write) and ScoreAccounts: each call
    is counted by method, fails with `failure` while `failures[method]` is positive, and answers
    after `delay` seconds."""

    port: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    failure: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def handler(self, method: str, response: Any) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self.lock:
                self.calls[method] = self.calls.get(method, 0) + 1
                failing = self.failures.get(method, 0) > 0
                if failing:
                    self.failures[method] -= 1
            if failing:
                context.abort(self.failure, f"{method}: scripted failure")
            time.sleep(self.delay)
            return response

        return handle


def _unary(handle: Callable[..., Any], request_type: Any) -> grpc.RpcMethodHandler[Any, Any]:
    return grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=request_type.FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )


def serve_fake(fake: Fake, port: int = 0) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    draft = profile_service_pb2.Draft(name="models/multidimensional/draft", etag="e1")
    version = profile_service_pb2.Version(name="models/multidimensional/versions/2")
    profiles = {
        "GetDraft": _unary(fake.handler("GetDraft", draft), profile_service_pb2.GetDraftRequest),
        "PublishDraft": _unary(
            fake.handler("PublishDraft", version), profile_service_pb2.PublishDraftRequest
        ),
    }
    scoring = {
        "ScoreAccounts": _unary(
            fake.handler("ScoreAccounts", scoring_pb2.ScoreAccountsResponse(ruleset="fake")),
            scoring_pb2.ScoreAccountsRequest,
        ),
    }
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler("healthscore.v1.ProfileService", profiles),
            grpc.method_handlers_generic_handler("healthscore.v1.ScoringService", scoring),
        )
    )
    fake.port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server


@pytest.fixture
def fake() -> Iterator[Fake]:
    f = Fake()
    server = serve_fake(f)
    yield f
    server.stop(None)
