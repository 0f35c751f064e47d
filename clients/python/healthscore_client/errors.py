"""Server errors as Python exceptions: one class per gRPC status code under `HealthScoreError`.

The server reports errors as AIP-193 statuses: a code, a message for people, and details for
programs. `from_rpc_error` unpacks those details, so a caller reads the offending fields
(`field_violations`, from `google.rpc.BadRequest`), what blocks a request
(`precondition_violations`, from `google.rpc.PreconditionFailure`) and the machine-readable
reason (`reason`, `domain`, `metadata`, from `google.rpc.ErrorInfo`) without touching protobuf.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

# The trailing metadata key carrying the serialized `google.rpc.Status` with the details.
_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request (`google.rpc.BadRequest.FieldViolation`)."""

    field: str
    """The path of the field, e.g. `draft.profiles[1].metrics[0].weight`."""
    description: str
    """What is wrong with it."""


@dataclass(frozen=True)
class PreconditionViolation:
    """One thing that blocks a request (`google.rpc.PreconditionFailure.Violation`)."""

    type: str
    """The kind of failure, e.g. `INVALID`."""
    subject: str
    """What fails, e.g. a field path of a draft that does not validate."""
    description: str
    """Why."""


class HealthScoreError(Exception):
    """A call failed. Subclasses name the gRPC status code; catch this class for any of them."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        field_violations: Iterable[FieldViolation] = (),
        precondition_violations: Iterable[PreconditionViolation] = (),
        reason: str = "",
        domain: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        """The gRPC status code."""
        self.message = message
        """The server's message, for people."""
        self.field_violations = list(field_violations)
        """The offending request fields (INVALID_ARGUMENT)."""
        self.precondition_violations = list(precondition_violations)
        """What blocks the request (FAILED_PRECONDITION), e.g. each draft validation error."""
        self.reason = reason
        """`ErrorInfo.reason`, e.g. `STALE_ETAG`; empty when the status carries none."""
        self.domain = domain
        """`ErrorInfo.domain`, e.g. `healthscore.v1`."""
        self.metadata = dict(metadata or {})
        """`ErrorInfo.metadata`."""


class CancelledError(HealthScoreError):
    """CANCELLED: the call was cancelled (usually by the caller)."""


class UnknownError(HealthScoreError):
    """UNKNOWN: an error without a known code."""


class InvalidArgumentError(HealthScoreError):
    """INVALID_ARGUMENT: the request is malformed; see `field_violations`."""


class DeadlineExceededError(HealthScoreError):
    """DEADLINE_EXCEEDED: the call did not finish within its deadline."""


class NotFoundError(HealthScoreError):
    """NOT_FOUND: a named resource (model, version, profile, activation) does not exist."""


class AlreadyExistsError(HealthScoreError):
    """ALREADY_EXISTS: e.g. a profile name taken in the draft."""


class PermissionDeniedError(HealthScoreError):
    """PERMISSION_DENIED: the caller's role does not allow the method."""


class ResourceExhaustedError(HealthScoreError):
    """RESOURCE_EXHAUSTED: e.g. a request or response larger than the limits."""


class FailedPreconditionError(HealthScoreError):
    """FAILED_PRECONDITION: the system is not in a state that allows the request (e.g. a draft
    that does not validate); see `precondition_violations`."""


class AbortedError(HealthScoreError):
    """ABORTED: a concurrency conflict, e.g. a stale etag: read again and retry the change."""


class OutOfRangeError(HealthScoreError):
    """OUT_OF_RANGE: a value past the valid range."""


class UnimplementedError(HealthScoreError):
    """UNIMPLEMENTED: the server does not implement the method."""


class InternalError(HealthScoreError):
    """INTERNAL: a server bug (logged on the server)."""


class UnavailableError(HealthScoreError):
    """UNAVAILABLE: the server cannot be reached (reads and scoring are retried first)."""


class DataLossError(HealthScoreError):
    """DATA_LOSS: unrecoverable data loss or corruption."""


class UnauthenticatedError(HealthScoreError):
    """UNAUTHENTICATED: no token, or an unknown or malformed one."""


_CLASSES: dict[grpc.StatusCode, type[HealthScoreError]] = {
    grpc.StatusCode.CANCELLED: CancelledError,
    grpc.StatusCode.UNKNOWN: UnknownError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRangeError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DATA_LOSS: DataLossError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
}


def error_class(code: grpc.StatusCode) -> type[HealthScoreError]:
    """The exception class for a status code (`HealthScoreError` itself for OK, which no failed
    call has)."""
    return _CLASSES.get(code, HealthScoreError)


def from_rpc_error(error: grpc.RpcError) -> HealthScoreError:
    """The `HealthScoreError` subclass for a failed call (`grpc.RpcError` from a sync call or
    `grpc.aio.AioRpcError`), with the status details unpacked. Raise it `from error`."""
    call: Any = error  # a failed call's RpcError is also a grpc.Call (code, details, metadata)
    code = call.code() if callable(getattr(call, "code", None)) else None
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    message = (call.details() if callable(getattr(call, "details", None)) else None) or ""
    trailing = (
        call.trailing_metadata() if callable(getattr(call, "trailing_metadata", None)) else ()
    )
    status = _status(trailing or ())
    if status is not None and status.message:
        message = status.message
    fields: list[FieldViolation] = []
    preconditions: list[PreconditionViolation] = []
    info = error_details_pb2.ErrorInfo()
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        failure = error_details_pb2.PreconditionFailure()
        if detail.Unpack(bad_request):
            fields += [FieldViolation(v.field, v.description) for v in bad_request.field_violations]
        elif detail.Unpack(failure):
            preconditions += [
                PreconditionViolation(v.type, v.subject, v.description) for v in failure.violations
            ]
        else:
            detail.Unpack(info)
    return error_class(code)(
        code,
        message,
        field_violations=fields,
        precondition_violations=preconditions,
        reason=info.reason,
        domain=info.domain,
        metadata=dict(info.metadata),
    )


def _status(trailing: Iterable[tuple[str, str | bytes]]) -> status_pb2.Status | None:
    """The `google.rpc.Status` in a call's trailing metadata, if any (None when unparseable: the
    code and message still describe the error)."""
    for key, value in trailing:
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except DecodeError:  # a malformed detail must not hide the error itself
                return None
            return status
    return None
