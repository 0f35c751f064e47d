"""Accounts for scoring requests, from flat dicts (row form) or from Arrow tables and pandas
DataFrames (the columnar form, `AccountColumns`, for large batches).

A flat record has the keys `id`, `parent_id`, `status` (`active` or `cancelled`),
`contract_value` (integer minor units) and optionally `history` ({attribute: [{time, value}]});
every other key is an attribute. Attributes are typed by the catalog when one is given (texts
parsed as numbers, booleans or ISO 8601 times as the attribute's type says; names the catalog does
not know are left out, as the server would ignore them), else by their Python or Arrow type.
`None`, NaN and empty texts have no value.

pyarrow and pandas are imported only when a table or DataFrame is converted: install the
`arrow` or `pandas` extra (`pip install 'healthscore-client[pandas]'`).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
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

_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})
_STATUS = {
    "": account_pb2.ACCOUNT_STATUS_UNSPECIFIED,
    "active": account_pb2.ACCOUNT_STATUS_ACTIVE,
    "cancelled": account_pb2.ACCOUNT_STATUS_CANCELLED,
    "canceled": account_pb2.ACCOUNT_STATUS_CANCELLED,
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
    """Whether a raw value means "no value": None, NaN, or blank text."""
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    return isinstance(raw, float) and math.isnan(raw)


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
        return parse_time(raw)
    raise ValueError(f"expected an ISO 8601 time, got {raw!r}")


def _infer_type(raw: Any) -> AttributeType:
    """An attribute type for a value given without a catalog, by its Python type."""
    if isinstance(raw, bool):
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
    ValueError when it does not fit. A missing value (see `is_missing`) is an empty `Value`."""
    value = account_pb2.Value()
    if is_missing(raw):
        return value
    kind = _infer_type(raw) if attribute_type is None else attribute_type
    if kind == _NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, numbers.Real | str):
            raise ValueError(f"expected a number, got {raw!r}")
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if math.isinf(number):
            raise ValueError(f"expected a finite number, got {raw!r}")
        value.number_value = number
    elif kind in _TEXT_TYPES:
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        value.text_value = raw
    elif kind == _BOOL:
        if isinstance(raw, bool):
            value.bool_value = raw
        elif isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            value.bool_value = raw.strip().lower() in _TRUE
        else:
            raise ValueError(f"expected true or false, got {raw!r}")
    elif kind == _TIME:
        value.time_value.FromDatetime(_instant(raw))
    else:
        raise ValueError(f"attribute type {kind} is not supported")
    return value


def status_of(raw: Any) -> account_pb2.AccountStatus.ValueType:
    """An account status from `active` / `cancelled` (any case), an `AccountStatus` or None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if raw not in account_pb2.AccountStatus.values():
            raise ValueError(f"expected an AccountStatus, got {raw!r}")
        return account_pb2.AccountStatus.ValueType(raw)
    text = "" if is_missing(raw) else str(raw).strip().lower()
    if text not in _STATUS:
        raise ValueError(f"expected active or cancelled, got {raw!r}")
    return _STATUS[text]


class AccountValueError(ValueError):
    """Every bad field of one or more records: `problems` holds (field path, message) pairs; the
    message lists them all as `path: message; ...`."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def from_dict(
    record: Mapping[str, Any], types: Mapping[str, AttributeType] | None = None, where: str = ""
) -> account_pb2.Account:
    """One `Account` from a flat record (see the module docstring). `types` maps attribute names
    to types (`attribute_types(catalog)`); `AccountValueError` names every bad field, after
    `where`."""
    problems: list[tuple[str, str]] = []
    prefix = f"{where}." if where else ""
    account = account_pb2.Account(id=str(record.get("id") or ""))
    account.parent_id = str(record.get("parent_id") or "")
    try:
        account.status = status_of(record.get("status"))
    except ValueError as exc:
        problems.append((f"{prefix}status", str(exc)))
    contract_value: Any = record.get("contract_value")
    if not is_missing(contract_value):
        try:
            account.contract_value = int(contract_value)
        except (TypeError, ValueError):
            problems.append(
                (f"{prefix}contract_value", f"expected whole minor units, got {contract_value!r}")
            )
    for key, raw in record.items():
        if key in RESERVED_KEYS or (types is not None and key not in types):
            continue
        try:
            account.attributes[key].CopyFrom(to_value(raw, None if types is None else types[key]))
        except ValueError as exc:
            problems.append((f"{prefix}{key}", str(exc)))
    for name, points in (record.get("history") or {}).items():
        for i, point in enumerate(points):
            try:
                entry = account.history[name].points.add(value=float(point["value"]))
                entry.time.FromDatetime(_instant(point["time"]))
            except (KeyError, TypeError, ValueError) as exc:
                problems.append(
                    (f"{prefix}history.{name}[{i}]", f"expected {{time, value}}: {exc}")
                )
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


def _attribute_column(
    pa: Any, name: str, array: Any, kind: AttributeType
) -> account_pb2.AttributeColumn:
    column = account_pb2.AttributeColumn(attribute=name, validity=_validity(pa, array))
    if kind == _NUMBER:
        column.numbers.CopyFrom(_packed_doubles(pa, array))
    elif kind in _TEXT_TYPES:
        column.texts.values.extend(array.cast(pa.string()).fill_null("").to_pylist())
    elif kind == _BOOL:
        column.bools.values.extend(array.cast(pa.bool_()).fill_null(False).to_pylist())
    elif kind == _TIME:
        if pa.types.is_date(array.type):
            array = array.cast(pa.timestamp("s"))
        nanos = array.cast(pa.timestamp("ns", tz=array.type.tz)).cast(pa.int64())
        column.times.unix_nanos.extend(nanos.fill_null(0).to_pylist())
    else:
        raise ValueError(f"column {name!r}: attribute type {kind} is not supported")
    return column


def from_arrow(
    table: Any, catalog: catalog_pb2.Catalog | None = None
) -> account_pb2.AccountColumns:
    """The columnar form (`AccountColumns`) of a pyarrow Table or RecordBatch: one row per account,
    the columns named as a flat record's keys (`id` required). Attribute columns are typed by
    `catalog` when given (other columns are left out), else by their Arrow type; nulls have no
    value. Needs the `arrow` extra."""
    pa = _import("pyarrow", "arrow")
    __import__("pyarrow.compute")
    names = list(table.column_names)
    if "id" not in names:
        raise ValueError("from_arrow: the table has no `id` column")

    def column(name: str) -> Any:
        chunked = table.column(name)
        return chunked.combine_chunks() if hasattr(chunked, "combine_chunks") else chunked

    columns = account_pb2.AccountColumns(
        ids=column("id").cast(pa.string()).fill_null("").to_pylist()
    )
    if "parent_id" in names:
        columns.parent_ids.extend(column("parent_id").cast(pa.string()).fill_null("").to_pylist())
    if "status" in names:
        columns.statuses.extend(status_of(raw) for raw in column("status").to_pylist())
    if "contract_value" in names:
        values = column("contract_value")
        columns.contract_values.extend(values.cast(pa.int64()).fill_null(0).to_pylist())
        columns.contract_values_validity = _validity(pa, values)
    types = attribute_types(catalog)
    for name in names:
        if name in RESERVED_KEYS or (types is not None and name not in types):
            continue
        array = column(name)
        kind = _arrow_type(pa, array) if types is None else types[name]
        if kind is None:
            raise ValueError(
                f"from_arrow: column {name!r} has type {array.type}, not an attribute's"
            )
        columns.columns.append(_attribute_column(pa, name, array, kind))
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
