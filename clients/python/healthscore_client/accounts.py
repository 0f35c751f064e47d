"""Accounts for scoring requests, from flat dicts (row form) or from Arrow tables and pandas
DataFrames (the columnar form, `AccountColumns`, for large batches).

A flat record has the keys `id`, `parent_id`, `status` (`active` or `cancelled`),
`contract_value` (integer minor units) and optionally `history` ({attribute: [{time, value}]});
every other key is an attribute. A value is sent as what it is, exactly as the server judges it
(SPEC: nothing is silently coerced): a number (int or float, not bool) for NUMBER, a str for TEXT
and ORDINAL, a bool for BOOL, a datetime or date for TIME — and, for TIME only, ISO 8601 text (the
JSON spelling of a timestamp). `None`, NaN and the empty TEXT/ORDINAL string have no value; a
whitespace-only string is a value. A value the server would refuse ("82" for a NUMBER, "yes" or 1
for a BOOL, 1.5 or True as `contract_value`) is refused here, naming its field. The catalog, when
given, types the values (and leaves out names it does not know, as the server ignores them).

Files whose values are all text (CSV) spell them as JSON does: `text_record` reads such a record
by the catalog's types (numbers, `true`/`false` in any case, ISO 8601 times; an empty cell has no
value, and so does a blank one for a non-text type).

pyarrow and pandas are imported only when a table or DataFrame is converted: install the
`arrow` or `pandas` extra (`pip install 'healthscore-client[pandas]'`).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from healthscore_client.v1 import (
    account_pb2,
    account_service_pb2,
    catalog_pb2,
    scoring_pb2,
    scoring_service_pb2,
)

RESERVED_KEYS = frozenset({"id", "parent_id", "status", "contract_value", "history"})
"""The keys of a flat record that are not attributes."""

AccountsInput: TypeAlias = (
    "Iterable[account_pb2.Account | Mapping[str, Any]] | account_pb2.AccountColumns | Any"
)
"""What scoring methods accept: `Account` messages or flat dicts (row form), an `AccountColumns`,
or a pyarrow Table / RecordBatch or a pandas DataFrame (converted to the columnar form)."""

ScoringRequest: TypeAlias = (
    "scoring_pb2.ScoreAccountsRequest"
    " | scoring_service_pb2.PreviewDraftRequest"
    " | scoring_service_pb2.ScoreHierarchyRequest"
)

TRUE_TEXT = "true"
FALSE_TEXT = "false"
"""How text formats spell a BOOL (compared lower-cased: `TRUE`, `True` and `true` are true)."""
_NUMBER_TEXT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan)", re.IGNORECASE
)
_INT64 = (-(2**63), 2**63 - 1)
_STATUS = {
    "": account_pb2.ACCOUNT_STATUS_UNSPECIFIED,
    "active": account_pb2.ACCOUNT_STATUS_ACTIVE,
    "cancelled": account_pb2.ACCOUNT_STATUS_CANCELLED,
    "canceled": account_pb2.ACCOUNT_STATUS_CANCELLED,
    "account_status_active": account_pb2.ACCOUNT_STATUS_ACTIVE,
    "account_status_cancelled": account_pb2.ACCOUNT_STATUS_CANCELLED,
}
_NUMBER = catalog_pb2.ATTRIBUTE_TYPE_NUMBER
_TEXT_TYPES = (catalog_pb2.ATTRIBUTE_TYPE_TEXT, catalog_pb2.ATTRIBUTE_TYPE_ORDINAL)
_BOOL = catalog_pb2.ATTRIBUTE_TYPE_BOOL
_TIME = catalog_pb2.ATTRIBUTE_TYPE_TIME

AttributeType: TypeAlias = "catalog_pb2.AttributeType.ValueType"


def attribute_types(catalog: catalog_pb2.Catalog | None) -> dict[str, AttributeType] | None:
    """Attribute name → type, from a catalog (None without one)."""
    if catalog is None:
        return None
    return {attribute.name: attribute.type for attribute in catalog.attributes}


def is_missing(raw: Any) -> bool:
    """Whether a raw value is "no value" whatever the attribute's type: None. (As for the
    server, NaN is no value of a NUMBER attribute and the empty string of a TEXT or ORDINAL
    one; for another type each is a value of the wrong kind. A string of spaces is a value.)"""
    return raw is None


def _is_bool(raw: Any) -> bool:
    return isinstance(raw, bool) or getattr(getattr(raw, "dtype", None), "kind", "") == "b"


def _is_number(raw: Any) -> bool:
    return isinstance(raw, numbers.Real) and not _is_bool(raw)


def parse_time(text: str) -> dt.datetime:
    """ISO 8601; an instant without an offset is taken as UTC."""
    instant = dt.datetime.fromisoformat(text)
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def _instant(raw: Any) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=dt.UTC)
    if isinstance(raw, dt.date):
        return dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.UTC)
    if isinstance(raw, str):
        try:
            return parse_time(raw)
        except ValueError:
            pass
    raise ValueError(f"expected an ISO 8601 time, got {raw!r}")


def _infer_type(raw: Any) -> AttributeType:
    """An attribute type for a value given without a catalog, by its Python type."""
    if _is_bool(raw):
        return _BOOL
    if isinstance(raw, numbers.Real):
        return _NUMBER
    if isinstance(raw, dt.date):
        return _TIME
    if isinstance(raw, str):
        return catalog_pb2.ATTRIBUTE_TYPE_TEXT
    raise ValueError(f"cannot send a {type(raw).__name__} ({raw!r}) as an attribute value")


def to_value(raw: Any, attribute_type: AttributeType | None = None) -> account_pb2.Value:
    """One raw value as a `Value` of the attribute's type (by the value's Python type when None);
    ValueError when it does not fit, as the server would refuse it: no text is read as a number
    or a boolean, no boolean as a number. A missing value (see `is_missing`) is an empty
    `Value`; "" is sent as the text it is (no value of a TEXT or ORDINAL attribute)."""
    value = account_pb2.Value()
    if is_missing(raw):
        return value
    kind = _infer_type(raw) if attribute_type is None else attribute_type
    if kind == _NUMBER:
        if not _is_number(raw):
            raise ValueError(f"expected a number, got {raw!r}")
        number = float(raw)
        if math.isinf(number):
            raise ValueError(f"expected a finite number, got {raw!r}")
        value.number_value = number
    elif kind in _TEXT_TYPES:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        value.text_value = raw
    elif kind == _BOOL:
        if not _is_bool(raw):
            raise ValueError(f"expected true or false, got {raw!r}")
        value.bool_value = bool(raw)
    elif kind == _TIME:
        value.time_value.FromDatetime(_instant(raw))
    else:
        raise ValueError(f"attribute type {kind} is not supported")
    return value


def status_of(raw: Any) -> account_pb2.AccountStatus.ValueType:
    """An account status from `active` / `cancelled` (any case; or the enum's names), an
    `AccountStatus` or None."""
    if isinstance(raw, int) and not _is_bool(raw):
        if raw not in account_pb2.AccountStatus.values():
            raise ValueError(f"expected an AccountStatus, got {raw!r}")
        return account_pb2.AccountStatus.ValueType(raw)
    if not isinstance(raw, str | None):
        raise ValueError(f"expected active or cancelled, got {raw!r}")
    text = "" if raw is None else raw.strip().lower()
    if text not in _STATUS:
        raise ValueError(f"expected active or cancelled, got {raw!r}")
    return _STATUS[text]


def contract_value_of(raw: Any) -> int:
    """Whole minor units, as the server's JSON form takes an int64: an int, or a float or
    numeric text whose value is whole; never a bool, never rounded."""
    whole: int | None = None
    if _is_number(raw):
        if isinstance(raw, numbers.Integral) or (math.isfinite(raw) and float(raw).is_integer()):
            whole = int(raw)
    elif isinstance(raw, str) and _NUMBER_TEXT.fullmatch(raw):  # no spaces, no underscores
        try:
            whole = int(raw)
        except ValueError:
            number = float(raw)
            if math.isfinite(number) and number.is_integer():
                whole = int(number)
    if whole is None:
        raise ValueError(f"expected whole minor units, got {raw!r}")
    if not _INT64[0] <= whole <= _INT64[1]:
        raise ValueError(f"expected whole minor units within int64, got {raw!r}")
    return whole


def _identifier(raw: Any) -> str:
    """An id or parent id: text, or an integer spelt in decimal; None is empty."""
    if raw is None:
        return ""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, numbers.Integral) and not _is_bool(raw):
        return str(int(raw))
    raise ValueError(f"expected text, got {raw!r}")


def text_value(text: str, attribute_type: AttributeType) -> Any:
    """A value of a text format (a CSV cell) as the Python value it spells for an attribute of
    `attribute_type`: TEXT and ORDINAL as they are; a NUMBER, a BOOL (`true`/`false`, any case)
    or a TIME (ISO 8601 text, checked by `to_value`) without surrounding spaces. An empty cell,
    or a blank one of a non-text type, is None (no value). ValueError for anything else."""
    if attribute_type in _TEXT_TYPES:
        return text or None
    stripped = text.strip()
    if not stripped:
        return None
    if attribute_type == _NUMBER:
        if not _NUMBER_TEXT.fullmatch(stripped):
            raise ValueError(f"expected a number, got {text!r}")
        return float(stripped)
    if attribute_type == _BOOL:
        lowered = stripped.lower()
        if lowered not in (TRUE_TEXT, FALSE_TEXT):
            raise ValueError(f"expected true or false, got {text!r}")
        return lowered == TRUE_TEXT
    return stripped


def text_record(
    record: Mapping[str, str | None], types: Mapping[str, AttributeType]
) -> dict[str, Any]:
    """A record of a text format (a CSV row: every value a str) with its attributes read by
    `text_value` (names `types` does not know are kept as they are, and ignored later). A cell
    that spells no value of its type stays as it is, for `from_dict` to refuse by name. The
    reserved keys keep their text (`contract_value` and `status` trimmed; empty: absent)."""
    typed: dict[str, Any] = {}
    for key, text in record.items():
        if text is None or key in ("id", "parent_id"):
            typed[key] = text
        elif key in ("status", "contract_value"):
            typed[key] = text.strip() or None
        elif key in types:
            try:
                typed[key] = text_value(text, types[key])
            except ValueError:
                typed[key] = text
        else:
            typed[key] = text
    return typed


class AccountValueError(ValueError):
    """Every bad field of one or more records: `problems` holds (field path, message) pairs; the
    message lists them all as `path: message; ...`."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def from_dict(
    record: Mapping[str, Any],
    types: Mapping[str, AttributeType] | None = None,
    where: str = "",
    *,
    field_paths: bool = True,
) -> account_pb2.Account:
    """One `Account` from a flat record (see the module docstring). `types` maps attribute names
    to types (`attribute_types(catalog)`); `AccountValueError` names every bad field after
    `where`, as the server names it (`attributes["x"]`, `history["x"].points[1]`), or with
    `field_paths` False by its key in the record (`x`, `history.x[1]`)."""
    problems: list[tuple[str, str]] = []
    prefix = f"{where}." if where else ""

    def attribute(key: str) -> str:
        return f'{prefix}attributes["{key}"]' if field_paths else f"{prefix}{key}"

    def point(key: str, i: int) -> str:
        if field_paths:
            return f'{prefix}history["{key}"].points[{i}]'
        return f"{prefix}history.{key}[{i}]"

    account = account_pb2.Account()
    for key in ("id", "parent_id"):
        try:
            setattr(account, key, _identifier(record.get(key)))
        except ValueError as exc:
            problems.append((f"{prefix}{key}", str(exc)))
    try:
        account.status = status_of(record.get("status"))
    except ValueError as exc:
        problems.append((f"{prefix}status", str(exc)))
    contract_value: Any = record.get("contract_value")
    if not is_missing(contract_value):
        try:
            account.contract_value = contract_value_of(contract_value)
        except ValueError as exc:
            problems.append((f"{prefix}contract_value", str(exc)))
    for key, raw in record.items():
        if key in RESERVED_KEYS or (types is not None and key not in types):
            continue
        try:
            account.attributes[key].CopyFrom(to_value(raw, None if types is None else types[key]))
        except ValueError as exc:
            problems.append((attribute(key), str(exc)))
    for name, points in (record.get("history") or {}).items():
        if types is not None and name not in types:
            continue
        for i, entry in enumerate(points):
            try:
                number = entry["value"]
                if not _is_number(number) or math.isinf(number):
                    raise ValueError(f"expected a finite number, got {number!r}")
                added = account.history[name].points.add(value=float(number))
                added.time.FromDatetime(_instant(entry["time"]))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append((point(name, i), f"expected {{time, value}}: {exc}"))
    if problems:
        raise AccountValueError(problems)
    return account


def from_dicts(
    rows: Iterable[Mapping[str, Any]], catalog: catalog_pb2.Catalog | None = None
) -> list[account_pb2.Account]:
    """`Account` messages (row form) from flat records, typed by `catalog` when given. Raises one
    ValueError listing every bad field of every row (`rows[i].field: ...`)."""
    return _accounts(rows, attribute_types(catalog), "rows")


def _accounts(
    items: Iterable[account_pb2.Account | Mapping[str, Any]],
    types: Mapping[str, AttributeType] | None,
    label: str,
) -> list[account_pb2.Account]:
    """Messages kept, records converted; one `AccountValueError` for every bad field of every
    record."""
    accounts: list[account_pb2.Account] = []
    problems: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if isinstance(item, account_pb2.Account):
            accounts.append(item)
            continue
        try:
            accounts.append(from_dict(item, types, f"{label}[{i}]"))
        except AccountValueError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AccountValueError(problems)
    return accounts


RecordsInput: TypeAlias = "Iterable[account_service_pb2.AccountData | Mapping[str, Any]]"
"""Account data records: `AccountData` messages, or flat records as for scoring (`id`,
`parent_id`, `status`, `contract_value`, attributes) with an `observe_time` key (a datetime or
an ISO 8601 text; default: the `observe_time` the call is given)."""


def to_records(
    items: RecordsInput,
    catalog: catalog_pb2.Catalog | None,
    observe_time: dt.datetime | None,
) -> list[account_service_pb2.AccountData]:
    """`AccountData` messages kept; flat records converted (typed by `catalog` when given). One
    `AccountValueError` names every bad field (`records[i].field`)."""
    types = attribute_types(catalog)
    out: list[account_service_pb2.AccountData] = []
    problems: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        if isinstance(item, account_service_pb2.AccountData):
            out.append(item)
            continue
        where = f"records[{i}]"
        plain = {k: v for k, v in item.items() if k not in ("observe_time", "history")}
        try:
            account = from_dict(plain, types, where)
        except AccountValueError as exc:
            problems.extend(exc.problems)
            continue
        # AccountData's fields 1-5 are Account's: the bytes carry over as they are.
        record = account_service_pb2.AccountData.FromString(account.SerializeToString())
        raw_time = item.get("observe_time", observe_time)
        if is_missing(raw_time):
            problems.append((f"{where}.observe_time", "required (or give the call one)"))
            continue
        try:
            record.observe_time.FromDatetime(_instant(raw_time))
        except (TypeError, ValueError) as exc:
            problems.append((f"{where}.observe_time", str(exc)))
            continue
        out.append(record)
    if problems:
        raise AccountValueError(problems)
    return out


def _import(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(
            f"this needs {module}: pip install 'healthscore-client[{extra}]'"
        ) from exc


def _validity(pa: Any, array: Any) -> bytes:
    """The Arrow-style validity bitmap of an array (LSB first); empty when every entry is valid."""
    if array.null_count == 0:
        return b""
    valid = pa.compute.is_valid(array)  # a fresh boolean array: offset 0, bits packed LSB first
    return bytes(valid.buffers()[1])[: (len(array) + 7) // 8]


def _bitmap(pa: Any, present: list[bool]) -> bytes:
    """A validity bitmap (LSB first) from flags; empty when every value is present."""
    if all(present):
        return b""
    return bytes(pa.array(present, pa.bool_()).buffers()[1])[: (len(present) + 7) // 8]


def _packed_doubles(pa: Any, array: Any) -> account_pb2.NumberColumn:
    """A `NumberColumn` straight from the array's float64 buffer: a packed repeated double is the
    little-endian doubles themselves, so parsing skips a Python list per value."""
    values = array.cast(pa.float64()).fill_null(0.0)
    if not isinstance(values, pa.Array):
        values = values.combine_chunks()
    data = bytes(values.buffers()[1])[values.offset * 8 : (values.offset + len(values)) * 8]
    size, length = len(data), b""
    while True:  # the length as a varint
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            break
    return account_pb2.NumberColumn.FromString(b"\x0a" + length + data)


def _arrow_type(pa: Any, array: Any) -> AttributeType | None:
    """The attribute type an Arrow column's values have (None: not an attribute type)."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return _BOOL
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _NUMBER
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return catalog_pb2.ATTRIBUTE_TYPE_TEXT
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return _TIME
    return None


_EXPECTED = {
    _NUMBER: "numbers",
    catalog_pb2.ATTRIBUTE_TYPE_TEXT: "text",
    catalog_pb2.ATTRIBUTE_TYPE_ORDINAL: "text",
    _BOOL: "booleans",
    _TIME: "times (timestamps, dates or ISO 8601 text)",
}


def _arrow_target(pa: Any, kind: AttributeType) -> Any:
    """The Arrow type of a column of `kind` (for a column of nulls only)."""
    if kind == _NUMBER:
        return pa.float64()
    if kind == _BOOL:
        return pa.bool_()
    if kind == _TIME:
        return pa.timestamp("ns")
    return pa.string()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _unix_nanos(instant: dt.datetime) -> int:
    nanos = (instant - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    if not -(2**63) < nanos <= 2**63 - 1:
        raise ValueError(f"{instant.isoformat()} is outside the range of a TIME")
    return nanos


def _text_times(texts: list[Any], path: str, problems: list[tuple[str, str]]) -> list[int]:
    """ISO 8601 texts as nanoseconds (the one text a TIME column may hold); bad values are
    problems at their index."""
    nanos: list[int] = []
    for i, raw in enumerate(texts):
        try:
            nanos.append(0 if is_missing(raw) else _unix_nanos(_instant(raw)))
        except ValueError as exc:
            problems.append((f"{path}.times.unix_nanos[{i}]", str(exc)))
            nanos.append(0)
    return nanos


def _attribute_column(
    pa: Any,
    name: str,
    array: Any,
    kind: AttributeType,
    path: str,
    problems: list[tuple[str, str]],
) -> account_pb2.AttributeColumn:
    """A column of the attribute's type from an Arrow array holding values of that type: no
    cast from another kind (the server would refuse it), except ISO 8601 text for a TIME."""
    if pa.types.is_null(array.type):  # no value at all (e.g. a pandas column of None)
        array = pa.nulls(len(array), _arrow_target(pa, kind))
    natural = _arrow_type(pa, array)
    column = account_pb2.AttributeColumn(attribute=name, validity=_validity(pa, array))
    if kind == _TIME and natural == catalog_pb2.ATTRIBUTE_TYPE_TEXT:
        texts = array.cast(pa.string()).to_pylist()
        present = [not is_missing(text) for text in texts]
        column.validity = _bitmap(pa, present)
        column.times.unix_nanos.extend(_text_times(texts, path, problems))
        return column
    if natural is None or _EXPECTED[natural] != _EXPECTED[kind]:
        problems.append(
            (path, f"column {name!r}: expected {_EXPECTED[kind]}, got values of type {array.type}")
        )
        return column
    if kind == _NUMBER:
        column.numbers.CopyFrom(_packed_doubles(pa, array))
    elif kind in _TEXT_TYPES:
        column.texts.values.extend(array.cast(pa.string()).fill_null("").to_pylist())
    elif kind == _BOOL:
        column.bools.values.extend(array.fill_null(False).to_pylist())
    else:
        if pa.types.is_date(array.type):
            array = array.cast(pa.timestamp("s"))
        nanos = array.cast(pa.timestamp("ns", tz=array.type.tz)).cast(pa.int64())
        column.times.unix_nanos.extend(nanos.fill_null(0).to_pylist())
    return column


def _identifiers(pa: Any, array: Any, path: str, problems: list[tuple[str, str]]) -> list[str]:
    """Ids or parent ids: text, or integers spelt in decimal; nulls are empty."""
    kind = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_null(kind)
    ):
        problems.append((path, f"expected text, got values of type {array.type}"))
        return [""] * len(array)
    texts: list[str] = array.cast(pa.string()).fill_null("").to_pylist()
    return texts


def _contract_values(
    pa: Any, array: Any, path: str, problems: list[tuple[str, str]]
) -> tuple[list[int], bytes]:
    """Whole minor units (integers, or floats whose values are whole, as pandas makes of an
    integer column with a gap) and their validity; never a bool, never rounded."""
    kind = array.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
        problems.append((path, f"expected whole minor units, got values of type {kind}"))
        return [0] * len(array), b""
    values: list[int] = []
    present: list[bool] = []
    for i, raw in enumerate(array.to_pylist()):
        present.append(not is_missing(raw))
        try:
            values.append(contract_value_of(raw) if present[-1] else 0)
        except ValueError as exc:
            problems.append((f"{path}[{i}]", str(exc)))
            values.append(0)
    return values, _bitmap(pa, present)


def from_arrow(
    table: Any, catalog: catalog_pb2.Catalog | None = None
) -> account_pb2.AccountColumns:
    """The columnar form (`AccountColumns`) of a pyarrow Table or RecordBatch: one row per account,
    the columns named as a flat record's keys (`id` required). Attribute columns are typed by
    `catalog` when given (other columns are left out), else by their Arrow type; a column must
    hold values of its attribute's type (ISO 8601 text for a TIME too), as the server requires:
    `AccountValueError` names every column (or value) that does not, as
    `account_columns.columns[i]`. Nulls (and NaN) have no value. Needs the `arrow` extra."""
    pa = _import("pyarrow", "arrow")
    __import__("pyarrow.compute")
    names = list(table.column_names)
    if "id" not in names:
        raise ValueError("from_arrow: the table has no `id` column")

    def column(name: str) -> Any:
        chunked = table.column(name)
        return chunked.combine_chunks() if hasattr(chunked, "combine_chunks") else chunked

    problems: list[tuple[str, str]] = []
    columns = account_pb2.AccountColumns(
        ids=_identifiers(pa, column("id"), "account_columns.ids", problems)
    )
    if "parent_id" in names:
        columns.parent_ids.extend(
            _identifiers(pa, column("parent_id"), "account_columns.parent_ids", problems)
        )
    if "status" in names:
        for i, raw in enumerate(column("status").to_pylist()):
            try:
                columns.statuses.append(status_of(raw))
            except ValueError as exc:
                problems.append((f"account_columns.statuses[{i}]", str(exc)))
                columns.statuses.append(account_pb2.ACCOUNT_STATUS_UNSPECIFIED)
    if "contract_value" in names:
        values, validity = _contract_values(
            pa, column("contract_value"), "account_columns.contract_values", problems
        )
        columns.contract_values.extend(values)
        columns.contract_values_validity = validity
    types = attribute_types(catalog)
    for name in names:
        if name in RESERVED_KEYS or (types is not None and name not in types):
            continue
        array = column(name)
        kind = _arrow_type(pa, array) if types is None else types[name]
        path = f"account_columns.columns[{len(columns.columns)}]"
        if kind is None:
            problems.append((path, f"column {name!r} has type {array.type}, not an attribute's"))
            continue
        columns.columns.append(_attribute_column(pa, name, array, kind, path, problems))
    if problems:
        raise AccountValueError(problems)
    return columns


def from_pandas(
    frame: Any, catalog: catalog_pb2.Catalog | None = None
) -> account_pb2.AccountColumns:
    """The columnar form of a pandas DataFrame (as `from_arrow`; NaN and None have no value; the
    index is not sent). Needs the `pandas` extra."""
    _import("pandas", "pandas")
    pa = _import("pyarrow", "pandas")
    return from_arrow(pa.Table.from_pandas(frame, preserve_index=False), catalog)


def _library(value: Any) -> str:
    return type(value).__module__.split(".", 1)[0]


def fill(
    request: ScoringRequest, accounts: AccountsInput, catalog: catalog_pb2.Catalog | None = None
) -> None:
    """Puts `accounts` (see `AccountsInput`) into a scoring request: tables and `AccountColumns`
    in `account_columns`, anything else in `accounts`."""
    if isinstance(accounts, account_pb2.AccountColumns):
        request.account_columns.CopyFrom(accounts)
    elif _library(accounts) == "pyarrow":
        request.account_columns.CopyFrom(from_arrow(accounts, catalog))
    elif _library(accounts) == "pandas":
        request.account_columns.CopyFrom(from_pandas(accounts, catalog))
    elif isinstance(accounts, Mapping | str | bytes):
        raise TypeError("accounts: expected a list of accounts or dicts, or a table, not one")
    else:
        request.accounts.extend(_accounts(accounts, attribute_types(catalog), "accounts"))
