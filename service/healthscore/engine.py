"""The one door to the Rust core: the only module that imports `healthscore._core`.

It gives the native module a typed face: protobuf messages or bytes in and out, Arrow record
batches for bulk, and native exceptions translated into `healthscore.errors`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from healthscore import _core
from healthscore.errors import (
    AllocationError,
    CancelledError,
    DeadlineExceededError,
    EngineError,
    HealthScoreError,
    InvalidAccountsError,
    InvalidInputError,
    InvalidRulesetError,
    MalformedInputError,
    Violation,
)
from healthscore_client.v1 import enterprise_pb2, ruleset_pb2, scoring_pb2

__all__ = [
    "BUILD_PROFILE",
    "CORE_VERSION",
    "CancelToken",
    "CompiledRuleset",
    "RequestOptions",
    "compile_ruleset",
    "request_options",
    "retag_results",
    "roll_up_enterprise_health",
]

CORE_VERSION: str = _core.__version__
BUILD_PROFILE: str = _core.build_profile

_T = TypeVar("_T")

_TRANSLATION: dict[type[Exception], type[HealthScoreError]] = {
    _core.InvalidRulesetError: InvalidRulesetError,
    _core.InvalidAccountsError: InvalidAccountsError,
    _core.MalformedInputError: MalformedInputError,
    _core.ResourceExhaustedError: AllocationError,
    _core.CancelledError: CancelledError,
    _core.DeadlineExceededError: DeadlineExceededError,
}


def _call(fn: Callable[[], _T]) -> _T:
    """Runs a native call and re-raises its errors as `healthscore.errors` exceptions."""
    try:
        return fn()
    except _core.CoreError as exc:
        message, pairs = exc.args
        violations = [Violation(path, text) for path, text in pairs]
        error_type = _TRANSLATION.get(type(exc))
        if error_type is None:
            raise EngineError(message) from exc
        if issubclass(error_type, InvalidInputError):
            raise error_type(message, violations) from exc
        raise error_type(message) from exc


def _as_unix_nanos(instant: dt.datetime) -> int:
    if instant.tzinfo is None:
        raise ValueError("as_of must be timezone-aware (UTC)")
    delta = instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


class CancelToken:
    """Stops a scoring call early: `cancel()` from any thread, or a deadline `timeout` seconds
    from its creation (None, infinite, or past the clock's range: none; 0 or negative: already
    passed; NaN: `MalformedInputError`). Checked between chunks of accounts."""

    __slots__ = ("_native",)

    def __init__(self, timeout: float | None = None) -> None:
        self._native = _call(lambda: _core.CancelToken(timeout))

    def cancel(self) -> None:
        self._native.cancel()


class CompiledRuleset:
    """A validated ruleset compiled by the core: compile once, score many times (thread-safe)."""

    __slots__ = ("_native",)

    def __init__(self, native: _core.CompiledRuleset) -> None:
        self._native = native

    @property
    def warnings(self) -> list[Violation]:
        """Non-fatal findings, e.g. profiles after a default profile that can never match."""
        return [Violation(path, message) for path, message in self._native.warnings]

    @property
    def version(self) -> str:
        """The `Ruleset.version` label copied into every result."""
        return self._native.version

    @property
    def model(self) -> ruleset_pb2.HealthModel.ValueType:
        """The health model this ruleset configures."""
        return ruleset_pb2.HealthModel.ValueType(self._native.model)

    def score_bytes(self, request: bytes, cancel: CancelToken | None = None) -> bytes:
        """Serialized `ScoreAccountsRequest` in, serialized `ScoreAccountsResponse` out.
        With `cancel`, the work stops early (`CancelledError`, `DeadlineExceededError`) once the
        token is cancelled or its deadline passes."""
        native = cancel._native if cancel is not None else None
        return _call(lambda: self._native.score(request, native))

    def score(self, request: scoring_pb2.ScoreAccountsRequest) -> scoring_pb2.ScoreAccountsResponse:
        """Scores a request; raises `InvalidAccountsError` naming every bad account field."""
        response = scoring_pb2.ScoreAccountsResponse()
        response.ParseFromString(self.score_bytes(request.SerializeToString()))
        return response

    def score_arrow(
        self,
        batch: pa.RecordBatch,
        *,
        as_of: dt.datetime,
        view: scoring_pb2.ScoreView.ValueType = scoring_pb2.SCORE_VIEW_BASIC,
        threads: int | None = None,
    ) -> pa.RecordBatch:
        """Scores an Arrow batch (zero-copy in and out); bad rows are reported in `error`."""
        schema_capsule, array_capsule = batch.__arrow_c_array__()
        nanos = _as_unix_nanos(as_of)
        result = _call(
            lambda: self._native.score_arrow(schema_capsule, array_capsule, nanos, view, threads)
        )
        return pa.RecordBatch._import_from_c_capsule(*result)


def id_hashes(ids: pa.Array) -> npt.NDArray[np.uint64]:
    """The 64-bit hash of every id of a string array (nulls hash like ""; no hash is 0), computed
    by the core in one call; a read-only view of the core's bytes."""
    schema_capsule, array_capsule = ids.__arrow_c_array__()
    data = _call(lambda: _core.id_hashes(schema_capsule, array_capsule))
    return np.frombuffer(data, np.dtype("<u8")).astype(np.uint64, copy=False)


class IdSet:
    """A set of 64-bit id hashes in the core (open addressing, at most 3/4 full: 8 bytes a slot,
    touched only where keys land). `expected` sizes it (it grows past that); a size whose table
    cannot be had raises `AllocationError` (RESOURCE_EXHAUSTED, a `MemoryError`), as does a table
    that cannot grow."""

    __slots__ = ("_native",)

    def __init__(self, expected: int = 0) -> None:
        self._native = _call(lambda: _core.IdSet(expected))

    def __len__(self) -> int:
        return len(self._native)

    @property
    def nbytes(self) -> int:
        return self._native.nbytes

    def add(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        """Inserts the keys (0 counts as 1); returns which were in the set already. Keys in
        ascending order visit the table in order."""
        data = np.ascontiguousarray(keys, np.dtype("<u8")).tobytes()
        return np.frombuffer(_call(lambda: self._native.add(data)), np.bool_)


def compile_ruleset(ruleset: ruleset_pb2.Ruleset | bytes) -> CompiledRuleset:
    """Validates and compiles a ruleset; raises `InvalidRulesetError` listing every violation."""
    data = ruleset if isinstance(ruleset, bytes) else ruleset.SerializeToString()
    return CompiledRuleset(_call(lambda: _core.compile_ruleset(data)))


def roll_up_enterprise_health(
    request: enterprise_pb2.RollUpEnterpriseHealthRequest,
) -> enterprise_pb2.RollUpEnterpriseHealthResponse:
    """Rolls up one level of a hierarchy: each parent's enterprise health from its children."""
    data = request.SerializeToString()
    response = enterprise_pb2.RollUpEnterpriseHealthResponse()
    response.ParseFromString(_call(lambda: _core.roll_up_enterprise_health(data)))
    return response


class RequestOptions(NamedTuple):
    """How a `ScoreAccountsRequest` asks to be scored (its fields 5-7), and how many accounts
    it carries."""

    ruleset: str
    include_other_model: bool
    other_model_ruleset: str
    account_count: int


def request_options(request: bytes) -> RequestOptions:
    """The options of a serialized `ScoreAccountsRequest`, read without decoding its accounts.

    Also reads the same fields of messages that share those numbers (`PreviewDraftRequest`,
    `ScoreHierarchyRequest`). Raises `MalformedInputError` for bytes that are not a message.
    """
    return RequestOptions(*_call(lambda: _core.request_options(request)))


def retag_results(response: bytes, field: int) -> bytes:
    """A serialized `ScoreAccountsResponse` with its `results` moved to field number `field`
    (2 = `other_model_results`), so two responses concatenate into one message."""
    return _call(lambda: _core.retag_results(response, field))
