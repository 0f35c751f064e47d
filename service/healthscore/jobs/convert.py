"""Raw record batches (any reader's column types) → the core's Arrow input, by catalog type.

Columns the core takes as they are pass through untouched (zero-copy). Text columns (CSV, or a
Parquet/JSON column holding strings) are parsed with Arrow kernels; when a kernel refuses a column,
that column of that batch is parsed value by value in Python to find the bad rows, so the slow path
costs only batches that hold bad values. A bad value makes its row bad: it is reported with a reason
and not scored. Values the core judges itself (infinities, undeclared ordinal levels, statuses,
look-back and time ranges) are left to it: it reports them per row in its `error` column.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from healthscore_client.accounts import FALSE_TEXT, TRUE_TEXT, parse_time
from healthscore_client.v1 import catalog_pb2, ruleset_pb2

NUMBER = catalog_pb2.ATTRIBUTE_TYPE_NUMBER
TEXT = catalog_pb2.ATTRIBUTE_TYPE_TEXT
BOOL = catalog_pb2.ATTRIBUTE_TYPE_BOOL
TIME = catalog_pb2.ATTRIBUTE_TYPE_TIME
ORDINAL = catalog_pb2.ATTRIBUTE_TYPE_ORDINAL
# Not catalog types: the reserved columns.
_ID, _STATUS, _CONTRACT_VALUE = -1, -2, -3
# Kinds whose values are short texts from a small set (read as dictionaries where possible).
TEXT_KINDS = frozenset({TEXT, ORDINAL, _STATUS})

LOOKBACK = re.compile(r"(?P<attribute>.+)@-(?P<days>[1-9][0-9]*)d")
# A BOOL in text is `true` or `false` (any case), as for `healthscore score`'s CSV files and the
# SDK (`accounts.text_value`): "yes" or "1" is refused, not read as true.
_TRUE = (TRUE_TEXT,)
_FALSE = (FALSE_TEXT,)
_UTC_NS = pa.timestamp("ns", "UTC")
_NATIVE_NUMBERS = (
    pa.float64(),
    pa.float32(),
    pa.int8(),
    pa.int16(),
    pa.int32(),
    pa.int64(),
    pa.uint8(),
    pa.uint16(),
    pa.uint32(),
    pa.uint64(),
)

RowErrors = dict[int, str]
# The type a column of no usable value stands in as.
_TARGET = {
    NUMBER: pa.float64(),
    TEXT: pa.string(),
    ORDINAL: pa.string(),
    BOOL: pa.bool_(),
    TIME: _UTC_NS,
    _STATUS: pa.string(),
    _CONTRACT_VALUE: pa.int64(),
}


@dataclass(frozen=True)
class Schema:
    """The columns a job reads: reserved ones and every catalog attribute, by target kind."""

    kinds: Mapping[str, int]

    @classmethod
    def of(cls, ruleset: ruleset_pb2.Ruleset) -> Schema:
        kinds: dict[str, int] = {"id": _ID, "status": _STATUS, "contract_value": _CONTRACT_VALUE}
        for attribute in ruleset.catalog.attributes:
            kinds.setdefault(attribute.name, attribute.type)
        return cls(kinds)

    @classmethod
    def ids_only(cls) -> Schema:
        """Reads just the `id` column (the same rows, as every reader keeps records whole)."""
        return cls({"id": _ID})

    def kind(self, column: str) -> int | None:
        """The kind a column converts to; look-backs of a NUMBER attribute are numbers; None:
        a column the job ignores (`parent_id`, unknown names)."""
        kind = self.kinds.get(column)
        if kind is not None:
            return kind
        m = LOOKBACK.fullmatch(column)
        if m is not None and self.kinds.get(m["attribute"]) == NUMBER:
            return NUMBER
        return None

    def wanted(self, columns: list[str]) -> list[str]:
        return [c for c in columns if self.kind(c) is not None]

    def text_reader_types(self, columns: list[str]) -> dict[str, pa.DataType]:
        """Read every used column of a text file as bytes: UTF-8 and types are checked per row."""
        return {c: pa.binary() for c in self.wanted(columns)}


@dataclass
class Converted:
    batch: pa.RecordBatch
    errors: RowErrors


def _is_text(kind: pa.DataType) -> bool:
    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or (pa.types.is_dictionary(kind) and _is_text(kind.value_type))
    )


def _plain_text(array: pa.Array) -> pa.Array:
    """Dictionary/large/view strings as Utf8, trimmed, blanks as nulls."""
    if not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _per_value(
    array: pa.Array, target: pa.DataType, parse: Callable[[Any], Any], errors: RowErrors, name: str
) -> pa.Array:
    """The slow, exact path: each value parsed in Python; a failure marks its row bad."""
    values: list[Any] = []
    for row, raw in enumerate(array.to_pylist()):
        if raw is None:
            values.append(None)
            continue
        try:
            values.append(parse(raw))
        except (ValueError, TypeError, OverflowError) as exc:
            add_reason(errors, row, f"{name}: {exc}")
            values.append(None)
    return pa.array(values, target)


def add_reason(errors: RowErrors, row: int, reason: str) -> None:
    """`reason` for `row`, after any the row has already (joined by "; ")."""
    errors[row] = f"{errors[row]}; {reason}" if row in errors else reason


def _wrong_type(array: pa.Array, name: str, expected: str, errors: RowErrors) -> None:
    for row in pc.indices_nonzero(pc.is_valid(array)).to_pylist():
        add_reason(errors, row, f"{name}: expected {expected}, got a {array.type} value")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        number = float(text)  # "12.0" is whole; raises for non-numbers
        if not math.isfinite(number) or number != int(number):
            raise ValueError(f"expected whole minor units, got {text!r}") from None
        return int(number)


def _integer_value(value: int) -> int:
    if not -(2**63) <= value < 2**63:
        raise ValueError(f"expected whole minor units within int64, got {value}")
    return value


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _time(text: str) -> dt.datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time, got {text!r}") from None


def _parse_text(
    array: pa.Array,
    target: pa.DataType,
    fast: Callable[[pa.Array], pa.Array],
    parse: Callable[[str], Any],
    errors: RowErrors,
    name: str,
) -> pa.Array:
    plain = _plain_text(array)
    try:
        return fast(plain)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _per_value(plain, target, parse, errors, name)


def _bool_kernel(plain: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(plain)
    truthy = pc.is_in(lowered, pa.array(_TRUE))
    known = pc.or_(truthy, pc.is_in(lowered, pa.array(_FALSE)))
    if pc.any(pc.and_(pc.is_valid(lowered), pc.invert(known))).as_py():
        raise pa.ArrowInvalid("not a boolean")
    return pc.if_else(pc.is_valid(lowered), truthy, pa.scalar(None, pa.bool_()))


def _column(array: pa.Array, name: str, kind: int, errors: RowErrors) -> pa.Array:
    kind_of = array.type
    if pa.types.is_null(kind_of):
        return pa.nulls(len(array), _TARGET[kind])  # all nulls: no value
    if kind == NUMBER:
        if kind_of in _NATIVE_NUMBERS:
            return array
        if pa.types.is_decimal(kind_of) or pa.types.is_float16(kind_of):
            return array.cast(pa.float64())
        if _is_text(kind_of):
            return _parse_text(
                array, pa.float64(), lambda a: a.cast(pa.float64()), _number, errors, name
            )
        _wrong_type(array, name, "a number", errors)
    elif kind in (TEXT, ORDINAL):
        if pa.types.is_dictionary(kind_of) and not pa.types.is_string(kind_of.value_type):
            return array.cast(pa.string())
        if _is_text(kind_of):
            return array
        _wrong_type(array, name, "text", errors)
    elif kind == BOOL:
        if pa.types.is_boolean(kind_of):
            return array
        if _is_text(kind_of):
            return _parse_text(array, pa.bool_(), _bool_kernel, _bool, errors, name)
        _wrong_type(array, name, "true or false", errors)
    elif kind == TIME:
        if pa.types.is_timestamp(kind_of):
            return array
        if pa.types.is_date(kind_of):
            return array.cast(pa.timestamp("ms")).cast(_UTC_NS)
        if _is_text(kind_of):
            return _parse_text(array, _UTC_NS, lambda a: a.cast(_UTC_NS), _time, errors, name)
        _wrong_type(array, name, "an ISO 8601 time", errors)
    elif kind == _STATUS:
        if _is_text(kind_of):
            lowered = pc.utf8_lower(_plain_text(array))
            return pc.replace_substring_regex(lowered, "^canceled$", "cancelled")
        _wrong_type(array, name, "active or cancelled", errors)
    elif kind == _CONTRACT_VALUE:
        if pa.types.is_integer(kind_of):
            try:
                return array.cast(pa.int64())
            except pa.ArrowInvalid:
                return _per_value(array, pa.int64(), _integer_value, errors, name)
        if _is_text(kind_of) or pa.types.is_floating(kind_of):
            text = array if _is_text(kind_of) else array.cast(pa.string())
            return _parse_text(
                text, pa.int64(), lambda a: a.cast(pa.int64()), _integer, errors, name
            )
        _wrong_type(array, name, "whole minor units", errors)
    return pa.nulls(len(array), _TARGET[kind])  # the wrong-type rows are bad; nothing to score


def ids_of(array: pa.Array) -> pa.Array:
    """Account ids as Utf8 (integer ids are spelt in decimal)."""
    if pa.types.is_string(array.type):
        return array
    if _is_text(array.type) or pa.types.is_integer(array.type) or pa.types.is_null(array.type):
        return array.cast(pa.string())
    raise ValueError(f"column id: expected text, got {array.type}")


def batch_ids(batch: pa.RecordBatch) -> pa.Array:
    """The ids a batch's rows claim (Utf8; all null when the column is of an unusable type)."""
    try:
        return ids_of(batch.column("id"))
    except ValueError:
        return pa.nulls(batch.num_rows, pa.string())


def convert(batch: pa.RecordBatch, schema: Schema) -> Converted:
    """The batch as the core reads it; `errors` maps row index → reason for rows not to score."""
    errors: RowErrors = {}
    names: list[str] = []
    arrays: list[pa.Array] = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        kind = schema.kind(name)
        if kind is None:
            continue
        if kind == _ID:
            try:
                converted = ids_of(array)
            except ValueError as exc:
                converted = pa.nulls(len(array), pa.string())
                for row in range(len(array)):
                    add_reason(errors, row, str(exc))
        else:
            converted = _column(array, name, kind, errors)
        names.append(name)
        arrays.append(converted)
    if "id" not in names:
        raise ValueError("no `id` column")
    ids = arrays[names.index("id")]
    missing = pc.or_kleene(pc.is_null(ids), pc.equal(ids, ""))
    if ids.null_count or pc.any(missing).as_py():
        for row in pc.indices_nonzero(pc.fill_null(missing, True)).to_pylist():
            add_reason(errors, row, "id: id is required")
    return Converted(pa.RecordBatch.from_arrays(arrays, names=names), errors)
