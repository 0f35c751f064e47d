"""The one place where errors become gRPC statuses (AIP-193): a code, a message for people, and
details for programs (`ErrorInfo`; `BadRequest` field violations for bad input;
`PreconditionFailure` for what blocks a request). A caller's mistake never comes back INTERNAL,
and no status carries a stack trace.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from healthscore.errors import (
    AlreadyExistsError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    HealthScoreError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StaleEtagError,
    UnauthenticatedError,
)

DOMAIN = "healthscore.v1"

log = structlog.get_logger("healthscore.server")

_CODES: list[tuple[type[HealthScoreError], int, str]] = [
    (InvalidInputError, code_pb2.INVALID_ARGUMENT, "INVALID_ARGUMENT"),
    (NotFoundError, code_pb2.NOT_FOUND, "NOT_FOUND"),
    (AlreadyExistsError, code_pb2.ALREADY_EXISTS, "ALREADY_EXISTS"),
    (FailedPreconditionError, code_pb2.FAILED_PRECONDITION, "FAILED_PRECONDITION"),
    (StaleEtagError, code_pb2.ABORTED, "STALE_ETAG"),
    (UnauthenticatedError, code_pb2.UNAUTHENTICATED, "UNAUTHENTICATED"),
    (CancelledError, code_pb2.CANCELLED, "CANCELLED"),
    (DeadlineExceededError, code_pb2.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"),
    (PermissionDeniedError, code_pb2.PERMISSION_DENIED, "PERMISSION_DENIED"),
]


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(exc: BaseException) -> grpc.Status:
    """The gRPC status for an exception raised while handling a call."""
    for kind, code, reason in _CODES:
        if isinstance(exc, kind):
            status = status_pb2.Status(code=code, message=str(exc))
            status.details.append(_pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)))
            violations = getattr(exc, "violations", [])
            if isinstance(exc, InvalidInputError) and violations:
                status.details.append(
                    _pack(
                        error_details_pb2.BadRequest(
                            field_violations=[
                                error_details_pb2.BadRequest.FieldViolation(
                                    field=v.path, description=v.message
                                )
                                for v in violations
                            ]
                        )
                    )
                )
            elif violations:
                status.details.append(
                    _pack(
                        error_details_pb2.PreconditionFailure(
                            violations=[
                                error_details_pb2.PreconditionFailure.Violation(
                                    type="INVALID", subject=v.path, description=v.message
                                )
                                for v in violations
                            ]
                        )
                    )
                )
            return rpc_status.to_status(status)
    log.error("internal_error", exc_info=exc)
    return rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INTERNAL,
            message="internal error (logged on the server)",
            details=[_pack(error_details_pb2.ErrorInfo(reason="INTERNAL", domain=DOMAIN))],
        )
    )


_F = TypeVar("_F", bound=Callable[..., Any])


def handles_errors(method: _F) -> _F:
    """Wraps a unary servicer method: its exceptions end the call with `to_status`."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            if _aborted(context):
                raise
            context.abort_with_status(to_status(exc))

    return wrapper  # type: ignore[return-value]


def handles_stream_errors(method: _F) -> _F:
    """`handles_errors` for servicer methods that return a response iterator."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(self, request, context)
        except Exception as exc:
            if _aborted(context):
                raise
            context.abort_with_status(to_status(exc))

    return wrapper  # type: ignore[return-value]


def _aborted(context: grpc.ServicerContext) -> bool:
    # `context.abort` raises a bare `Exception` after setting the code: let it through.
    code = getattr(context, "code", None)  # grpcio's server context has it; its stubs lack it
    return callable(code) and code() is not None
