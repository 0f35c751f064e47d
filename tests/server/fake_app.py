"""A stand-in for `App` with the same interface, serving test handlers under the real method
names (so `METHOD_ROLES` applies) plus the four call shapes. Every handler answers with who it
ran as, read inside the handler: proof that the identity is set where the handler runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc

from healthscore.errors import NotFoundError
from healthscore.server.context import METHOD_ROLES, current_identity, note
from healthscore.server.status import to_status
from healthscore_client.v1 import profile_service_pb2, scoring_service_pb2

SCORE = "/healthscore.v1.ScoringService/ScoreAccounts"
STREAM_SCORE = "/healthscore.v1.ScoringService/StreamScoreAccounts"
# Methods outside METHOD_ROLES, one per remaining call shape.
UNARY_STREAM = "/healthscore.test.Shapes/UnaryStream"
STREAM_UNARY = "/healthscore.test.Shapes/StreamUnary"
SERVICES = [
    profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name,
    scoring_service_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name,
]


def caller() -> bytes:
    identity = current_identity()
    return json.dumps({"name": identity.name, "role": identity.role.name}).encode()


def unary(request: bytes, context: grpc.ServicerContext) -> bytes:
    """`slow:<seconds>` sleeps, `boom` raises a bug, `missing` aborts NOT_FOUND; notes fields."""
    if request.startswith(b"slow:"):
        time.sleep(float(request[5:]))
    elif request == b"boom":
        raise RuntimeError("secret internals")
    elif request == b"missing":
        context.abort_with_status(to_status(NotFoundError("models/x/versions/9 not found")))
    note(accounts=3, version="multidimensional/v7")
    return caller()


def unary_stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    for _ in range(3):
        yield caller()


def stream_unary(requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
    count = sum(1 for _ in requests)
    note(messages=count)
    return caller()


def stream_stream(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
    for _ in requests:
        yield caller()


class _Handlers(grpc.GenericRpcHandler):
    def service(self, details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        if method == STREAM_SCORE:
            return grpc.stream_stream_rpc_method_handler(stream_stream)
        if method == UNARY_STREAM:
            return grpc.unary_stream_rpc_method_handler(unary_stream)
        if method == STREAM_UNARY:
            return grpc.stream_unary_rpc_method_handler(stream_unary)
        if method in METHOD_ROLES:
            return grpc.unary_unary_rpc_method_handler(unary)
        return None


class FakeApp:
    """`App`'s interface: open, add_to_server, close."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.closed = False

    @classmethod
    def open(cls, data_dir: Path) -> FakeApp:
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(data_dir)

    def add_to_server(self, server: grpc.Server) -> list[str]:
        server.add_generic_rpc_handlers((_Handlers(),))
        return list(SERVICES)

    def on_store_reachable(self, callback: object) -> None:
        """No store to lose."""

    def close(self) -> None:
        self.closed = True
