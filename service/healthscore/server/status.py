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
    ResourceExhaustedError,
    ResponseTooLargeError,
    StaleEtagError,
    UnauthenticatedError,
    UnavailableError,
    Violation,
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
    (ResponseTooLargeError, code_pb2.RESOURCE_EXHAUSTED, "RESPONSE_TOO_LARGE"),
    (ResourceExhaustedError, code_pb2.RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"),
    (UnavailableError, code_pb2.UNAVAILABLE, "UNAVAILABLE"),
]


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


# Bounds on what one status carries. It travels in the trailers (`grpc-message`, percent-encoded,
# and `grpc-status-details-bin`, base64 of the serialized `google.rpc.Status`, which repeats the
# message), and gRPC's default limit on a client's received metadata is 8 KiB: past it the
# client sees RESOURCE_EXHAUSTED and no details. So the message and every echoed value are
# clipped, at most `MAX_VIOLATIONS` violations are listed (the last entry counts the rest), and
# the serialized status stays within `MAX_DETAILS_BYTES` (base64: 4/3 of it).
MAX_MESSAGE_BYTES = 512
MAX_FIELD_BYTES = 160
MAX_DESCRIPTION_BYTES = 256
MAX_VIOLATIONS = 50
MAX_DETAILS_BYTES = 3072


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes (on a character boundary), saying how much was
    cut."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    marker = f"… [{len(data)} bytes, clipped]"
    keep = data[: max(0, limit - len(marker.encode()))].decode("utf-8", "ignore")
    return keep + marker


def _bounded(violations: list[Violation]) -> tuple[list[tuple[str, str]], int]:
    """(path, description) of the violations that fit, clipped, and how many were left out.
    The first ones are kept: they are in field order."""
    kept: list[tuple[str, str]] = []
    size = 0
    # Room for the entry that counts the rest.
    budget = MAX_DETAILS_BYTES - MAX_MESSAGE_BYTES - 256
    for v in violations[:MAX_VIOLATIONS]:
        path, description = clip(v.path, MAX_FIELD_BYTES), clip(v.message, MAX_DESCRIPTION_BYTES)
        # Serialized: the two strings, their tags and lengths, the entry's tag and length.
        entry = len(path.encode()) + len(description.encode()) + 12
        if size + entry > budget:
            break
        kept.append((path, description))
        size += entry
    return kept, len(violations) - len(kept)


def to_status(exc: BaseException) -> grpc.Status:
    """The gRPC status for an exception raised while handling a call. Bounded whatever the
    exception holds (see `MAX_DETAILS_BYTES`)."""
    for kind, code, reason in _CODES:
        if isinstance(exc, kind):
            status = status_pb2.Status(code=code, message=clip(str(exc), MAX_MESSAGE_BYTES))
            violations: list[Violation] = getattr(exc, "violations", [])
            kept, rest = _bounded(violations)
            info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN)
            if violations:
                info.metadata["violations"] = str(len(violations))
            status.details.append(_pack(info))
            more = f"and {rest} more violation(s), not listed" if rest else ""
            if isinstance(exc, InvalidInputError) and violations:
                bad_request = error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=p, description=d)
                        for p, d in kept
                    ]
                )
                if rest:
                    bad_request.field_violations.add(field="", description=more)
                status.details.append(_pack(bad_request))
            elif violations:
                failure = error_details_pb2.PreconditionFailure(
                    violations=[
                        error_details_pb2.PreconditionFailure.Violation(
                            type="INVALID", subject=p, description=d
                        )
                        for p, d in kept
                    ]
                )
                if rest:
                    failure.violations.add(type="TRUNCATED", subject="", description=more)
                status.details.append(_pack(failure))
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
            # An abort goes on as it is, and so does what ends a call no longer active (cancelled
            # or past its deadline, when the request stream raises `grpc.RpcError`): its caller
            # has its status already, and the log interceptor names it.
            if _aborted(context) or not context.is_active():
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
            if _aborted(context) or not context.is_active():
                raise
            context.abort_with_status(to_status(exc))

    return wrapper  # type: ignore[return-value]


def _aborted(context: grpc.ServicerContext) -> bool:
    # `context.abort` raises a bare `Exception` after setting the code: let it through.
    code = getattr(context, "code", None)  # grpcio's server context has it; its stubs lack it
    return callable(code) and code() is not None
