"""AccountService on the wire: account data in, current health out.

The writes are registered without a deserializer and parsed here: protobuf keeps a field sent with
the wrong wire type as an unknown field, which would be stored with the record and refused by the
core at every later rescoring. Dropping unknown fields is one C call; only when it dropped
something is the request walked (`decoding.wire_type_violations`) to name the field.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf.message import DecodeError

from healthscore.domain import names
from healthscore.domain.accounts import MAX_BATCH_GET, AccountData
from healthscore.errors import InvalidInputError, MalformedInputError, Violation
from healthscore.server.context import note
from healthscore.server.decoding import wire_type_violations
from healthscore.server.status import handles_errors
from healthscore_client.v1 import account_service_pb2

SERVICE = "healthscore.v1.AccountService"
pb = account_service_pb2


def parse_write(data: bytes) -> pb.WriteAccountDataRequest:
    """A `WriteAccountDataRequest` with no unknown fields; MalformedInputError naming any field
    sent with the wrong wire type."""
    try:
        request = pb.WriteAccountDataRequest.FromString(data)
    except DecodeError as exc:
        raise MalformedInputError(
            f"the request is not a valid healthscore.v1.WriteAccountDataRequest "
            f"({len(data)} bytes): {exc}"
        ) from exc
    size = request.ByteSize()
    request.DiscardUnknownFields()
    if request.ByteSize() != size:
        violations = wire_type_violations(pb.WriteAccountDataRequest.FromString(data))
        if violations:
            raise MalformedInputError(
                "malformed healthscore.v1.WriteAccountDataRequest", violations
            )
    return request


class AccountServicer:
    """Writes account data; reads current health."""

    def __init__(self, accounts: AccountData) -> None:
        self._accounts = accounts

    @handles_errors
    def WriteAccountData(
        self, request: bytes, context: grpc.ServicerContext
    ) -> pb.WriteAccountDataResponse:
        response = self._accounts.write(parse_write(request))
        note(
            records=response.record_count,
            accounts=response.account_count,
            version=response.ruleset,
        )
        return response

    @handles_errors
    def StreamWriteAccountData(
        self, requests: Iterator[bytes], context: grpc.ServicerContext
    ) -> pb.WriteAccountDataResponse:
        total = pb.WriteAccountDataResponse()
        for batches, request in enumerate(requests, start=1):
            response = self._accounts.write(parse_write(request))
            total.record_count += response.record_count
            total.account_count += response.account_count
            total.ruleset = response.ruleset
            note(batches=batches, records=total.record_count, accounts=total.account_count)
        return total

    @handles_errors
    def GetAccountHealth(
        self, request: pb.GetAccountHealthRequest, context: grpc.ServicerContext
    ) -> pb.StoredAccountHealth:
        account_id = names.parse_account(request.name, "name")
        [health] = self._accounts.get([account_id], request.view, ["name"])
        note(version=health.ruleset)
        return health

    @handles_errors
    def BatchGetAccountHealth(
        self, request: pb.BatchGetAccountHealthRequest, context: grpc.ServicerContext
    ) -> pb.BatchGetAccountHealthResponse:
        if not request.names:
            raise InvalidInputError(
                "names: required", [Violation("names", "required: at least one account")]
            )
        if len(request.names) > MAX_BATCH_GET:
            raise InvalidInputError(
                f"names: at most {MAX_BATCH_GET}",
                [Violation("names", f"at most {MAX_BATCH_GET} accounts, got {len(request.names)}")],
            )
        fields = [f"names[{i}]" for i in range(len(request.names))]
        ids = [names.parse_account(n, f) for n, f in zip(request.names, fields, strict=True)]
        healths = self._accounts.get(ids, request.view, fields)
        note(accounts=len(healths))
        return pb.BatchGetAccountHealthResponse(healths=healths)


def add_to_server(servicer: AccountServicer, server: grpc.Server) -> None:
    """Registers the servicer: raw bytes in for the writes, messages for the reads."""
    out = {"response_serializer": lambda m: m.SerializeToString()}
    handlers = {
        "WriteAccountData": grpc.unary_unary_rpc_method_handler(
            servicer.WriteAccountData, request_deserializer=None, **out
        ),
        "StreamWriteAccountData": grpc.stream_unary_rpc_method_handler(
            servicer.StreamWriteAccountData, request_deserializer=None, **out
        ),
        "GetAccountHealth": grpc.unary_unary_rpc_method_handler(
            servicer.GetAccountHealth,
            request_deserializer=pb.GetAccountHealthRequest.FromString,
            **out,
        ),
        "BatchGetAccountHealth": grpc.unary_unary_rpc_method_handler(
            servicer.BatchGetAccountHealth,
            request_deserializer=pb.BatchGetAccountHealthRequest.FromString,
            **out,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
