"""The exceptions of healthscore: one hierarchy under `HealthScoreError`.

Bad input of any kind is an `InvalidInputError` (a `ValueError`) that carries every violation, each
naming the exact field path; a bug in the engine is an `EngineError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Violation:
    """One problem with one field, e.g. path `profiles[1].metrics[0].weight`."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class HealthScoreError(Exception):
    """Base of every error healthscore raises."""


class InvalidInputError(HealthScoreError, ValueError):
    """The caller's input cannot be used; `violations` lists every problem found."""

    def __init__(self, message: str, violations: Iterable[Violation] = ()) -> None:
        super().__init__(message)
        self.violations: list[Violation] = list(violations)


def field_error(field: str, message: str) -> InvalidInputError:
    """The error of one bad field: `field: message`, with the one violation naming it."""
    return InvalidInputError(f"{field}: {message}", [Violation(field, message)])


class InvalidRulesetError(InvalidInputError):
    """A ruleset does not validate (SPEC §1-§5)."""


class InvalidAccountsError(InvalidInputError):
    """Account data has wrong types, undeclared levels, infinities, duplicate ids, ..."""


class MalformedInputError(InvalidInputError):
    """Bytes that are not the expected protobuf message, or Arrow data of the wrong shape."""


class EngineError(HealthScoreError, RuntimeError):
    """A bug in the scoring engine (a broken invariant or a Rust panic)."""


class NotFoundError(HealthScoreError, LookupError):
    """A named resource (draft, profile, version, activation) does not exist."""


class AlreadyExistsError(HealthScoreError):
    """The resource to create exists already (e.g. a profile name taken in the draft)."""


class FailedPreconditionError(HealthScoreError):
    """The request is well-formed but the system is not in a state that allows it (publishing a
    draft that does not validate; a catalog change that would break a draft or a version).
    `violations` names what blocks it (`subject`: e.g. `models/multidimensional/draft`)."""

    def __init__(self, message: str, violations: Iterable[Violation] = ()) -> None:
        super().__init__(message)
        self.violations: list[Violation] = list(violations)


class StaleEtagError(HealthScoreError):
    """A conditional update whose etag is no longer the resource's (AIP-154: ABORTED)."""


class CancelledError(HealthScoreError):
    """The caller cancelled the work (e.g. the RPC was cancelled)."""


class ResourceExhaustedError(HealthScoreError):
    """A limit of the server was reached (RESOURCE_EXHAUSTED)."""


class AllocationError(ResourceExhaustedError, MemoryError):
    """A size (an argument, or a count an input declares) needs more memory than the engine can
    have: refused cleanly instead of failing the process."""


class ResponseTooLargeError(ResourceExhaustedError):
    """The response is larger than the server may send (`--max-message-bytes`)."""


class DeadlineExceededError(HealthScoreError):
    """The caller's deadline passed before the work was done."""


class UnauthenticatedError(HealthScoreError):
    """No credentials, or credentials nobody issued."""


class PermissionDeniedError(HealthScoreError):
    """The caller's role does not allow the method."""


class UnavailableError(HealthScoreError):
    """A dependency (the shared database) cannot be reached now; the call may be retried."""
