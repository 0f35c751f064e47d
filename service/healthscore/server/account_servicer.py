"""AccountService on the wire: account data in, current health out.

The writes are registered without a deserializer: each record is stored as the bytes it arrived
as, and the core checks those bytes (every value against the catalog, every known field's wire
type) before anything is stored, so what the store keeps always decodes at a later rescoring.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from healthscore.domain import names
from healthscore.domain.accounts import MAX_BATCH_GET, AccountData
from healthscore.errors import InvalidInputError, Violation
from healthscore.server.context import note
from healthscore.server.decoding import parse
from healthscore.server.status import handles_errors
from healthscore_client.v1 import account_service_pb2

SERVICE = "healthscore.v1.AccountService"
pb = account_service_pb2
_WRITE_REQUEST = pb.WriteAccountDataRequest.DESCRIPTOR.full_name


def parse_write(data: bytes) -> pb.WriteAccountDataRequest:
    """The request; MalformedInputError when the bytes are not one."""
    return parse(pb.WriteAccountDataRequest.FromString, data, _WRITE_REQUEST)


class AccountServicer:
    """Writes account data; reads current health."""

    def __init__(self, accounts: AccountData) -> None:
        self._accounts = accounts

    @handles_errors
    def WriteAccountData(
        self, request: bytes, context: grpc.ServicerContext
    ) -> pb.WriteAccountDataResponse:
        response = self._accounts.write(parse_write(request), request)
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
            response = self._accounts.write(parse_write(request), request)
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
