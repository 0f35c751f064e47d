"""Reading rulesets and accounts from files (JSON, YAML, JSON Lines, CSV).

Rulesets are the JSON/YAML form of the `Ruleset` message. Accounts are flat records: the keys
`id`, `parent_id`, `status`, `contract_value` and (JSON Lines only) `history`; every other key is an
attribute, converted by its catalog type. Keys the catalog does not know are ignored, as the engine
would ignore them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format

from healthscore.errors import InvalidInputError, MalformedInputError, Violation
from healthscore_client.v1 import account_pb2, catalog_pb2, ruleset_pb2

DEFAULT_RULESET = Path(__file__).parent / "defaults" / "ruleset.yaml"
RESERVED_KEYS = frozenset({"id", "parent_id", "status", "contract_value", "history"})
_TRUE = frozenset({"true", "1", "yes", "y"})
_FALSE = frozenset({"false", "0", "no", "n"})
_STATUS = {
    "": account_pb2.ACCOUNT_STATUS_UNSPECIFIED,
    "active": account_pb2.ACCOUNT_STATUS_ACTIVE,
    "cancelled": account_pb2.ACCOUNT_STATUS_CANCELLED,
    "canceled": account_pb2.ACCOUNT_STATUS_CANCELLED,
}


def load_ruleset(path: Path) -> ruleset_pb2.Ruleset:
    """Reads a ruleset from a `.json`, `.yaml` or `.yml` file."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise MalformedInputError(f"{path}: not valid {path.suffix[1:]}: {exc}") from exc
    try:
        return json_format.ParseDict(data, ruleset_pb2.Ruleset())
    except json_format.ParseError as exc:
        raise MalformedInputError(f"{path}: not a Ruleset: {exc}") from exc


def parse_time(text: str) -> dt.datetime:
    """ISO 8601; an instant without an offset is taken as UTC."""
    instant = dt.datetime.fromisoformat(text)
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)


def _is_blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _value(attribute: catalog_pb2.Attribute, raw: Any) -> account_pb2.Value:
    """Converts one raw field to a `Value` of the attribute's type, or raises `ValueError`."""
    value = account_pb2.Value()
    if _is_blank(raw):
        return value
    kind = attribute.type
    if kind == catalog_pb2.ATTRIBUTE_TYPE_NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"expected a number, got {raw!r}")
        number = float(raw)
        if math.isinf(number):
            raise ValueError(f"expected a finite number, got {raw!r}")
        value.number_value = number
    elif kind in (catalog_pb2.ATTRIBUTE_TYPE_TEXT, catalog_pb2.ATTRIBUTE_TYPE_ORDINAL):
        if not isinstance(raw, str):
            raise ValueError(f"expected text, got {raw!r}")
        value.text_value = raw
    elif kind == catalog_pb2.ATTRIBUTE_TYPE_BOOL:
        if isinstance(raw, bool):
            value.bool_value = raw
        elif isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            value.bool_value = raw.strip().lower() in _TRUE
        else:
            raise ValueError(f"expected true or false, got {raw!r}")
    elif kind == catalog_pb2.ATTRIBUTE_TYPE_TIME:
        if not isinstance(raw, str):
            raise ValueError(f"expected an ISO 8601 time, got {raw!r}")
        value.time_value.FromDatetime(parse_time(raw))
    else:
        raise ValueError(f"attribute type {kind} is not supported")
    return value


def account_from_record(
    record: Mapping[str, Any], catalog: Mapping[str, catalog_pb2.Attribute], where: str
) -> account_pb2.Account:
    """Builds an `Account` from a flat record; `where` names the record in errors."""
    violations: list[Violation] = []
    account = account_pb2.Account(id=str(record.get("id") or ""))
    account.parent_id = str(record.get("parent_id") or "")
    status = str(record.get("status") or "").strip().lower()
    if status in _STATUS:
        account.status = _STATUS[status]
    else:
        violations.append(
            Violation(f"{where}.status", f"expected active or cancelled, got {status!r}")
        )
    contract_value = record.get("contract_value")
    if not _is_blank(contract_value):
        try:
            account.contract_value = int(contract_value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            violations.append(
                Violation(
                    f"{where}.contract_value", f"expected whole minor units, got {contract_value!r}"
                )
            )
    for key, raw in record.items():
        attribute = catalog.get(key)
        if key in RESERVED_KEYS or attribute is None:
            continue
        try:
            account.attributes[key].CopyFrom(_value(attribute, raw))
        except ValueError as exc:
            violations.append(Violation(f"{where}.{key}", str(exc)))
    for name, points in (record.get("history") or {}).items():
        for i, point in enumerate(points):
            try:
                entry = account.history[name].points.add(value=float(point["value"]))
                entry.time.FromDatetime(parse_time(str(point["time"])))
            except (KeyError, TypeError, ValueError) as exc:
                violations.append(
                    Violation(f"{where}.history.{name}[{i}]", f"expected {{time, value}}: {exc}")
                )
    if violations:
        raise InvalidInputError("; ".join(map(str, violations)), violations)
    return account


def read_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yields (location, record) from a `.csv` file or a JSON Lines file (any other suffix)."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix == ".csv":
            for line, row in enumerate(csv.DictReader(handle), start=2):
                yield f"{path.name}:{line}", dict(row)
            return
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MalformedInputError(f"{path.name}:{line}: not JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise MalformedInputError(f"{path.name}:{line}: expected a JSON object")
            yield f"{path.name}:{line}", record


def load_accounts(path: Path, ruleset: ruleset_pb2.Ruleset) -> list[account_pb2.Account]:
    """Reads every account of a file; raises one error listing every bad field of every line."""
    catalog = {attribute.name: attribute for attribute in ruleset.catalog.attributes}
    accounts: list[account_pb2.Account] = []
    violations: list[Violation] = []
    for where, record in read_records(path):
        try:
            accounts.append(account_from_record(record, catalog, where))
        except InvalidInputError as exc:
            violations.extend(exc.violations)
    if violations:
        raise InvalidInputError("; ".join(map(str, violations)), violations)
    return accounts
