"""An in-process server on an ephemeral port over a fresh data directory, and stubs for it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from healthscore.server.app import App
from healthscore.server.config import ServerConfig
from healthscore.server.serve import build_server
from healthscore_client.v1 import profile_service_pb2_grpc, scoring_service_pb2_grpc

# The server tests' fixtures, shared: a tokens file with one token per role, and server
# processes killed at teardown.
from tests.server.conftest import tokens_file  # noqa: F401
from tests.server.test_process import processes  # noqa: F401


@dataclass
class Server:
    app: App
    server: grpc.Server
    port: int
    channel: grpc.Channel
    profiles: profile_service_pb2_grpc.ProfileServiceStub
    scoring: scoring_service_pb2_grpc.ScoringServiceStub

    def stop(self) -> None:
        self.channel.close()
        self.server.stop(grace=None)
        self.app.close()


def start_server(data_dir: Path, **config: Any) -> Server:
    """The production server (interceptors, health, reflection), authentication off; `config`:
    other `ServerConfig` fields."""
    app = App.open(data_dir)
    server, port, _ = build_server(ServerConfig(port=0, data_dir=data_dir, **config), app)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return Server(
        app,
        server,
        port,
        channel,
        profile_service_pb2_grpc.ProfileServiceStub(channel),
        scoring_service_pb2_grpc.ScoringServiceStub(channel),
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def served(data_dir: Path) -> Iterator[Server]:
    s = start_server(data_dir)
    yield s
    s.stop()
