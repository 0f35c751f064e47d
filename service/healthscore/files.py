"""Reading rulesets and accounts from files (JSON, YAML, JSON Lines, CSV).

Rulesets are the JSON/YAML form of the `Ruleset` message. Accounts are flat records: the keys
`id`, `parent_id`, `status`, `contract_value` and (JSON Lines only) `history`; every other key is an
attribute, converted by its catalog type. Keys the catalog does not know are ignored, as the engine
would ignore them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from healthscore.errors import InvalidInputError, MalformedInputError, Violation
from healthscore_client import accounts
from healthscore_client.v1 import account_pb2, catalog_pb2, ruleset_pb2

DEFAULT_RULESET = Path(__file__).parent / "defaults" / "ruleset.yaml"


def load_ruleset(path: Path) -> ruleset_pb2.Ruleset:
    """Reads a ruleset from a `.json`, `.yaml` or `.yml` file."""
    text = path.read_text(encoding="utf-8")
    parse: Callable[[str], Any] = json.loads
    errors: tuple[type[Exception], ...] = (json.JSONDecodeError,)
    if path.suffix in {".yaml", ".yml"}:
        import yaml  # only here: PyYAML costs 50 ms of imports at every start of the CLI

        parse, errors = yaml.safe_load, (yaml.YAMLError,)
    try:
        data = parse(text)
    except errors as exc:
        raise MalformedInputError(f"{path}: not valid {path.suffix[1:]}: {exc}") from exc
    try:
        return json_format.ParseDict(data, ruleset_pb2.Ruleset())
    except json_format.ParseError as exc:
        raise MalformedInputError(f"{path}: not a Ruleset: {exc}") from exc


def account_from_record(
    record: Mapping[str, Any], catalog: Mapping[str, catalog_pb2.Attribute], where: str
) -> account_pb2.Account:
    """Builds an `Account` from a flat record (the SDK's conversion, `accounts.from_dict`, typed
    by the catalog); `where` names the record in errors."""
    types = {name: attribute.type for name, attribute in catalog.items()}
    try:
        return accounts.from_dict(record, types, where)
    except accounts.AccountValueError as exc:
        violations = [Violation(path, message) for path, message in exc.problems]
        raise InvalidInputError("; ".join(map(str, violations)), violations) from None


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
