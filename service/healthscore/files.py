"""Reading rulesets and accounts from files (JSON, YAML, JSON Lines, CSV).

Rulesets are the JSON/YAML form of the `Ruleset` message (or a draft as `profiles export` writes
it). Accounts are flat records: the keys `id`, `parent_id`, `status`, `contract_value` and (JSON
Lines only) `history`; every other key is an attribute of the catalog type. A JSON value is taken as
what it is (the SDK's `accounts.from_dict`: "82" is not a number, "yes" not a boolean, as for the
server); a CSV cell is text spelling a value of its type (`accounts.text_record`). Keys the catalog
does not know are ignored, as the engine would ignore them.
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
    """Reads a ruleset from a `.json`, `.yaml` or `.yml` file: the JSON/YAML form of the
    `Ruleset` message, or a draft as `healthscore profiles export` writes it (recognised by its
    `model:` in short words, e.g. `model: multidimensional`)."""
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
    if isinstance(data, dict) and _is_draft_export(data):
        return _load_draft_export(path, text)
    try:
        return json_format.ParseDict(data, ruleset_pb2.Ruleset())
    except json_format.ParseError as exc:
        raise MalformedInputError(f"{path}: not a Ruleset: {exc}") from exc


def _is_draft_export(data: dict[str, Any]) -> bool:
    from healthscore.domain.names import MODELS

    model = data.get("model")
    return isinstance(model, str) and model in MODELS


def _load_draft_export(path: Path, text: str) -> ruleset_pb2.Ruleset:
    """The ruleset of an exported draft (its etags do not matter here); every problem of the
    file is reported with its line."""
    from healthscore import yamlio

    try:
        return yamlio.load(text).ruleset()
    except yamlio.FileError as exc:
        problems = "; ".join(p.render(path.name) for p in exc.problems)
        raise MalformedInputError(f"{path}: not a valid draft file: {problems}") from exc


def account_from_record(
    record: Mapping[str, Any],
    catalog: Mapping[str, catalog_pb2.Attribute],
    where: str,
    *,
    text: bool = False,
) -> account_pb2.Account:
    """Builds an `Account` from a flat record (the SDK's conversion, `accounts.from_dict`, typed
    by the catalog: a value is taken as what it is, as the server would); `text`: every value is
    text (a CSV row), read by `accounts.text_record` first. `where` names the record in
    errors."""
    types = {name: attribute.type for name, attribute in catalog.items()}
    if text:
        record = accounts.text_record(record, types)
    try:
        return accounts.from_dict(record, types, where, field_paths=False)
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
    text = path.suffix == ".csv"
    for where, record in read_records(path):
        try:
            accounts.append(account_from_record(record, catalog, where, text=text))
        except InvalidInputError as exc:
            violations.extend(exc.violations)
    if violations:
        raise InvalidInputError("; ".join(map(str, violations)), violations)
    return accounts
