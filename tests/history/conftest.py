"""The history tests' server: the production server over a fresh data directory with the
snapshot scheduler off, and stubs for AccountService (to write accounts) and HistoryService."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from healthscore.history.snapshot import HistoryConfig
from healthscore.server.app import App
from healthscore.server.config import ServerConfig
from healthscore.server.serve import build_server
from healthscore_client.v1 import (
    account_pb2,
    account_service_pb2,
    account_service_pb2_grpc,
    history_service_pb2_grpc,
)


@dataclass
class Served:
    address: str
    data_dir: Path
    app: App
    history: history_service_pb2_grpc.HistoryServiceStub
    accounts: account_service_pb2_grpc.AccountServiceStub


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    app = App.open(tmp_path, HistoryConfig(scheduler=False))
    server, port, _ = build_server(ServerConfig(port=0, data_dir=tmp_path), app)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(
            f"127.0.0.1:{port}",
            tmp_path,
            app,
            history_service_pb2_grpc.HistoryServiceStub(channel),
            account_service_pb2_grpc.AccountServiceStub(channel),
        )
    finally:
        channel.close()
        server.stop(None)
        app.close()


def write_accounts(served: Served, engagement: dict[str, float], parent: str = "") -> None:
    now = Timestamp()
    now.GetCurrentTime()
    served.accounts.WriteAccountData(
        account_service_pb2.WriteAccountDataRequest(
            records=[
                account_service_pb2.AccountData(
                    account_id=account,
                    parent_id=parent if account != parent else "",
                    attributes={"engagement_score": account_pb2.Value(number_value=value)},
                    observe_time=now,
                )
                for account, value in engagement.items()
            ]
        )
    )
