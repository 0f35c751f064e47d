"""The YAML form of a model's draft: the catalog, the settings and the ordered profiles, as
`healthscore profiles export` writes it and `profiles import`/`validate` read it.

The form is exact: `load(dump(x))` gives back every field of `x` (floats to the last bit, unset
optional fields and message presence included), and `dump(load(text))` is `text` again for any
file that `dump` wrote. Enums are short lower-case words (`type: ordinal`, `operator: at_least`,
`method: contract_value`); a criterion is one mapping:

    {attribute: engagement_score, operator: greater_than_or_equal, number: 60}
    {attribute: csm_risk, operator: in, text_set: [high, critical]}
    {attribute: last_touch, operator: within_last_days, days: 14}
    {all: [...]}   {any: [...]}   {not: {...}}   {}  (no criterion kind set)

Reading reports every problem at once, each with its line and its path in the file, and keeps,
for each field it set, where in the file it came from, so that the engine's errors (which name
proto field paths like `profiles[1].metrics[0].good.predicate.number`) can be shown at their line
too (`Loaded.locate`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from healthscore.domain.names import MODELS
from healthscore_client.v1 import (
    catalog_pb2,
    criteria_pb2,
    profile_service_pb2,
    ruleset_pb2,
)


def _short_names(enum: Any, prefix: str) -> dict[str, int]:
    """`OPERATOR_AT_LEAST` -> `at_least`, for every value but the UNSPECIFIED one."""
    return {
        name.removeprefix(prefix).lower(): number for name, number in enum.items() if number != 0
    }


TYPES = _short_names(catalog_pb2.AttributeType, "ATTRIBUTE_TYPE_")
OPERATORS = _short_names(criteria_pb2.Operator, "OPERATOR_")
METHODS = _short_names(ruleset_pb2.EnterpriseMethod, "ENTERPRISE_METHOD_")
# Accepted on reading, never written: the comparison symbols.
OPERATOR_ALIASES = {
    "<": criteria_pb2.OPERATOR_LESS_THAN,
    "<=": criteria_pb2.OPERATOR_LESS_THAN_OR_EQUAL,
    ">": criteria_pb2.OPERATOR_GREATER_THAN,
    ">=": criteria_pb2.OPERATOR_GREATER_THAN_OR_EQUAL,
    "==": criteria_pb2.OPERATOR_EQUAL,
    "!=": criteria_pb2.OPERATOR_NOT_EQUAL,
}

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# Strings that YAML would fold or that need escapes are written double-quoted, so that they read
# back exactly (a plain or single-quoted \x85 or line break does not).
_NEEDS_ESCAPES = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]")

Draft = profile_service_pb2.Draft


def header(model: str) -> str:
    """The comment at the top of an exported file."""
    return (
        f"# The draft of the {model} health model: settings, attribute catalog and profiles in\n"
        "# order of precedence. Edit it, check it with `healthscore profiles validate FILE`, and\n"
        f"# write it back with `healthscore profiles import FILE --model {model}`. The etags make\n"
        "# the import fail (exit 4) if the server's draft or catalog changed since this export.\n"
        "# Format: README.md, section Admin CLI.\n"
    )


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


class _Flow(dict[str, Any]):
    """A mapping written on one line: `{attribute: x, operator: less_than, number: 3}`."""


class _FlowList(list[Any]):
    """A list written on one line: `[inactive, monthly, weekly, daily]`."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Lists indented under their key, as people write them.
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    if _NEEDS_ESCAPES.search(text):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
    return dumper.represent_str(text)


def _represent_float(dumper: yaml.SafeDumper, x: float) -> yaml.Node:
    # Whole numbers without a fraction (60, not 60.0) where an int reads back as the same double.
    negative_zero = x == 0 and math.copysign(1.0, x) < 0
    if x.is_integer() and abs(x) < 2**53 and not negative_zero:
        return dumper.represent_int(int(x))
    return dumper.represent_float(x)


class _InlineDumper(_Dumper):
    """Everything on one line."""


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(float, _represent_float)
_Dumper.add_representer(
    _Flow, lambda d, m: d.represent_mapping("tag:yaml.org,2002:map", m, flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, s: d.represent_sequence("tag:yaml.org,2002:seq", s, flow_style=True)
)
_Dumper.add_representer(
    dict, lambda d, m: d.represent_mapping("tag:yaml.org,2002:map", m, flow_style=False)
)
_Dumper.add_representer(
    list, lambda d, s: d.represent_sequence("tag:yaml.org,2002:seq", s, flow_style=False)
)
_InlineDumper.add_representer(
    dict, lambda d, m: d.represent_mapping("tag:yaml.org,2002:map", m, flow_style=True)
)
_InlineDumper.add_representer(
    list, lambda d, s: d.represent_sequence("tag:yaml.org,2002:seq", s, flow_style=True)
)


def _enum_word(value: int, table: dict[str, int]) -> str | int:
    for word, number in table.items():
        if number == value:
            return word
    return value  # a value this client does not know: kept as its number


def _criterion(c: criteria_pb2.Criterion) -> dict[str, Any]:
    kind = c.WhichOneof("kind")
    if kind == "predicate":
        return _predicate(c.predicate)
    if kind in ("all", "any"):
        return {kind: [_criterion(x) for x in getattr(c, kind).of]}
    if kind == "negation":
        return {"not": _criterion(c.negation)}
    return _Flow()


def _predicate(p: criteria_pb2.Predicate) -> _Flow:
    out = _Flow(attribute=p.attribute)
    if p.operator:
        out["operator"] = _enum_word(p.operator, OPERATORS)
    operand = p.WhichOneof("operand")
    if operand == "number":
        out["number"] = p.number
    elif operand == "number_range":
        out["number_range"] = _FlowList([p.number_range.low, p.number_range.high])
    elif operand == "text":
        out["text"] = p.text
    elif operand == "text_set":
        out["text_set"] = _FlowList(p.text_set.values)
    elif operand == "days":
        out["days"] = p.days
    elif operand == "day_range":
        out["day_range"] = _FlowList([p.day_range.low, p.day_range.high])
    if p.change_period_days:
        out["change_period_days"] = p.change_period_days
    return out


def settings_form(s: ruleset_pb2.ModelSettings) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.HasField("poor_max"):
        out["poor_max"] = s.poor_max
    if s.HasField("good_min"):
        out["good_min"] = s.good_min
    out["ignore_missing"] = s.ignore_missing
    if s.HasField("enterprise"):
        e = s.enterprise
        enterprise = _Flow()
        if e.method:
            enterprise["method"] = _enum_word(e.method, METHODS)
        if e.HasField("poor_share_percent"):
            enterprise["poor_share_percent"] = e.poor_share_percent
        if e.HasField("good_share_percent"):
            enterprise["good_share_percent"] = e.good_share_percent
        out["enterprise"] = enterprise
    return out


def catalog_form(c: catalog_pb2.Catalog) -> dict[str, Any]:
    dimensions = []
    for d in c.dimensions:
        dimension = _Flow(name=d.name)
        if d.display_name:
            dimension["display_name"] = d.display_name
        dimensions.append(dimension)
    attributes = []
    for a in c.attributes:
        attribute = _Flow(name=a.name)
        if a.display_name:
            attribute["display_name"] = a.display_name
        if a.type:
            attribute["type"] = _enum_word(a.type, TYPES)
        if a.ordinal_levels:
            attribute["ordinal_levels"] = _FlowList(a.ordinal_levels)
        if a.dimension:
            attribute["dimension"] = a.dimension
        attributes.append(attribute)
    return {"dimensions": dimensions, "attributes": attributes}


def profile_form(p: ruleset_pb2.Profile) -> dict[str, Any]:
    out: dict[str, Any] = {"name": p.name}
    if p.display_name:
        out["display_name"] = p.display_name
    if p.HasField("segment"):
        out["segment"] = _criterion(p.segment)
    if p.categories:
        categories = []
        for c in p.categories:
            category: dict[str, Any] = {"name": c.name}
            if c.good:
                category["good"] = [_criterion(x) for x in c.good]
            if c.poor:
                category["poor"] = [_criterion(x) for x in c.poor]
            categories.append(category)
        out["categories"] = categories
    if p.dimensions:
        out["dimensions"] = [_Flow(dimension=d.dimension, weight=d.weight) for d in p.dimensions]
    if p.metrics:
        metrics = []
        for m in p.metrics:
            metric: dict[str, Any] = {"attribute": m.attribute, "weight": m.weight}
            if m.HasField("good"):
                metric["good"] = _criterion(m.good)
            if m.HasField("poor"):
                metric["poor"] = _criterion(m.poor)
            metrics.append(metric)
        out["metrics"] = metrics
    return out


def inline(value: Any) -> str:
    """A value of the forms above on one line, as the file writes it: `60`, `weekly`,
    `{attribute: x, operator: less_than, number: 3}`."""
    flat = _Flow(value) if isinstance(value, dict) else value
    flat = _FlowList(value) if isinstance(value, list) else flat
    text = yaml.dump(
        flat, Dumper=_InlineDumper, allow_unicode=True, sort_keys=False, width=float("inf")
    )
    return text.removesuffix("\n").removesuffix("\n...")


def model_word(model: int) -> str:
    word = _enum_word(model, MODELS)
    if not isinstance(word, str):
        raise ValueError(f"unknown health model {model}")
    return word


def dump(model: int, draft: Draft, catalog: catalog_pb2.Catalog) -> str:
    """The file for a model's draft and the catalog (their etags included when set)."""
    document: dict[str, Any] = {"model": model_word(model)}
    etags = _Flow()
    if draft.etag:
        etags["draft"] = draft.etag
    if catalog.etag:
        etags["catalog"] = catalog.etag
    if etags:
        document["etags"] = etags
    if draft.HasField("settings"):
        document["settings"] = settings_form(draft.settings)
    document["catalog"] = catalog_form(catalog)
    document["profiles"] = [profile_form(p) for p in draft.profiles]
    body = yaml.dump(
        document,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=float("inf"),
        indent=2,
    )
    return header(model_word(model)) + body


def with_etags(text: str, etags: Mapping[str, str]) -> str | None:
    """`text` with the values of its top-level `etags:` replaced by `etags` (only the keys the
    file has), everything else — comments, layout — byte for byte as it was; None when the file
    has no `etags:` mapping."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, MappingNode):
        return None
    for key, value in root.value:
        if isinstance(key, ScalarNode) and key.value == "etags" and isinstance(value, MappingNode):
            kept = _Flow(
                (k.value, etags[k.value])
                for k, _ in value.value
                if isinstance(k, ScalarNode) and k.value in etags
            )
            start, end = value.start_mark.index, value.end_mark.index
            return text[:start] + inline(kept) + text[end:]
    return None


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem of a file: its line (1-based; 0: the file as a whole), its path in the file
    (`profiles[1].metrics[0].good.number`) and what is wrong."""

    line: int
    path: str
    message: str

    def render(self, filename: str) -> str:
        where = f"{filename}:{self.line}" if self.line else filename
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class FileError(ValueError):
    """A file that cannot be read as a draft; `problems` lists every problem found. `partial` is
    what could be read (the offending fields left unset), when the file was a YAML mapping, so
    that the engine can still find the other errors."""

    def __init__(self, problems: list[Problem], partial: Loaded | None = None) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = sorted(problems, key=lambda p: p.line)
        self.partial = partial


@dataclass
class Loaded:
    """A file read: the model, the draft (settings, profiles, etag) and the catalog (with its
    etag), and where each field came from."""

    model: int
    draft: Draft
    catalog: catalog_pb2.Catalog
    has_model: bool = True
    _where: dict[str, tuple[str, int]] = field(default_factory=dict)

    def ruleset(self) -> ruleset_pb2.Ruleset:
        """The ruleset the engine validates: model, catalog, settings and profiles."""
        ruleset = ruleset_pb2.Ruleset(model=self.model)  # type: ignore[arg-type]
        ruleset.catalog.CopyFrom(self.catalog)
        ruleset.catalog.ClearField("etag")
        if self.draft.HasField("settings"):
            ruleset.settings.CopyFrom(self.draft.settings)
        ruleset.profiles.extend(self.draft.profiles)
        return ruleset

    def locate(self, proto_path: str) -> tuple[int, str]:
        """(line, path in the file) of a field named by its proto path, e.g.
        `profiles[1].metrics[0].good.predicate.number`; a field the file left out is shown at
        its closest enclosing entry, with the rest of the path appended."""
        path = proto_path
        rest = ""
        while path:
            found = self._where.get(path)
            if found is not None:
                yaml_path, line = found
                return line, yaml_path + rest
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                break
            rest = path[cut:] + rest
            path = path[:cut]
        return 0, proto_path


_SCALAR = SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_KIND_NAMES = {
    "null": "null",
    "bool": "a boolean",
    "int": "an integer",
    "float": "a number",
    "str": "text",
    "seq": "a list",
    "map": "a mapping",
}
_M = TypeVar("_M")


def _kind(node: Node) -> str:
    tag = node.tag.removeprefix(_TAG)
    return _KIND_NAMES.get(tag, tag)


class _Reader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.where: dict[str, tuple[str, int]] = {}
        # The line of the key of each mapping value: a block list starts a line below its key.
        self.key_lines: dict[int, int] = {}

    def problem(self, node: Node | None, path: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(line, path, message))

    def mark(self, proto_path: str, path: str, node: Node) -> None:
        self.where[proto_path] = (path, self.key_lines.get(id(node), node.start_mark.line + 1))

    def mapping(
        self, node: Node, path: str, keys: tuple[str, ...], *, required: tuple[str, ...] = ()
    ) -> dict[str, Node] | None:
        """A mapping's values by key; unknown and duplicate keys are problems."""
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        found: dict[str, Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else None
            if name is None or name not in keys:
                shown = name if name is not None else f"<{_kind(key)}>"
                self.problem(
                    key,
                    _join(path, str(shown)),
                    "unknown key; expected one of: " + ", ".join(keys),
                )
            elif name in found:
                self.problem(key, _join(path, name), "duplicate key")
            else:
                found[name] = value
                self.key_lines[id(value)] = key.start_mark.line + 1
        for name in required:
            if name not in found:
                self.problem(node, path, f"missing key {name!r}")
        return found

    def sequence(self, node: Node, path: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"expected a list, got {_kind(node)}")
            return []
        return list(node.value)

    def _scalar(self, node: Node) -> Any:
        return _SCALAR.construct_object(node) if isinstance(node, ScalarNode) else None

    def text(self, node: Node, path: str) -> str | None:
        if isinstance(node, ScalarNode) and node.tag != _TAG + "null":
            # Any scalar's own text: `text: on` is the text "on", not a boolean.
            return str(node.value)
        self.problem(node, path, f"expected text, got {_kind(node)}")
        return None

    def integer(self, node: Node, path: str, bounds: tuple[int, int] = _INT32) -> int | None:
        value = self._scalar(node) if node.tag == _TAG + "int" else None
        if not isinstance(value, int):
            self.problem(node, path, f"expected an integer, got {_kind(node)}")
            return None
        if not bounds[0] <= value <= bounds[1]:
            self.problem(node, path, f"{value} is out of range {bounds[0]}..{bounds[1]}")
            return None
        return value

    def number(self, node: Node, path: str) -> float | None:
        if node.tag in (_TAG + "int", _TAG + "float"):
            value = self._scalar(node)
            try:
                return float(value)
            except OverflowError:
                self.problem(node, path, f"{value} is too large for a number")
                return None
        self.problem(node, path, f"expected a number, got {_kind(node)}")
        return None

    def boolean(self, node: Node, path: str) -> bool | None:
        if node.tag == _TAG + "bool":
            return bool(self._scalar(node))
        self.problem(node, path, f"expected true or false, got {_kind(node)}")
        return None

    def enum(
        self,
        node: Node,
        path: str,
        table: Mapping[str, int],
        aliases: Mapping[str, int] | None = None,
    ) -> int | None:
        if node.tag == _TAG + "int":
            return self.integer(node, path)
        word = node.value if isinstance(node, ScalarNode) else None
        choices = {**table, **(aliases or {})}
        if isinstance(word, str) and word in choices:
            return choices[word]
        self.problem(node, path, "expected one of: " + ", ".join(table))
        return None

    def pair(
        self, node: Node, path: str, read: Callable[[Node, str], _M | None]
    ) -> tuple[_M, _M] | None:
        items = self.sequence(node, path)
        if not isinstance(node, SequenceNode):
            return None
        if len(items) != 2:
            self.problem(node, path, f"expected [low, high], got {len(items)} item(s)")
            return None
        low, high = read(items[0], f"{path}[0]"), read(items[1], f"{path}[1]")
        return None if low is None or high is None else (low, high)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_PREDICATE_KEYS = (
    "attribute",
    "operator",
    "number",
    "number_range",
    "text",
    "text_set",
    "days",
    "day_range",
    "change_period_days",
)
_OPERANDS = _PREDICATE_KEYS[2:8]
_CRITERION_KEYS = ("all", "any", "not", *_PREDICATE_KEYS)


def _read_criterion(
    r: _Reader, node: Node, path: str, proto: str, out: criteria_pb2.Criterion
) -> None:
    r.mark(proto, path, node)
    keys = r.mapping(node, path, _CRITERION_KEYS)
    if keys is None:
        return
    kinds: list[str] = [k for k in ("all", "any", "not") if k in keys]
    if "attribute" in keys:
        kinds.append("attribute")
    elif any(k in keys for k in _PREDICATE_KEYS):
        r.problem(node, path, "a predicate needs the key 'attribute'")
        return
    if len(kinds) > 1:
        r.problem(
            node, path, "expected one of all, any, not or a predicate, got " + ", ".join(kinds)
        )
        return
    if not kinds:
        out.SetInParent()
        return
    kind = kinds[0]
    if kind in ("all", "any"):
        r.mark(f"{proto}.{kind}", _join(path, kind), keys[kind])
        r.mark(f"{proto}.{kind}.of", _join(path, kind), keys[kind])
        target = getattr(out, kind)
        target.SetInParent()
        for i, item in enumerate(r.sequence(keys[kind], _join(path, kind))):
            _read_criterion(
                r, item, f"{path}.{kind}[{i}]", f"{proto}.{kind}.of[{i}]", target.of.add()
            )
    elif kind == "not":
        _read_criterion(r, keys["not"], _join(path, "not"), f"{proto}.negation", out.negation)
    else:
        _read_predicate(r, node, keys, path, f"{proto}.predicate", out.predicate)


def _read_predicate(
    r: _Reader,
    node: Node,
    keys: dict[str, Node],
    path: str,
    proto: str,
    out: criteria_pb2.Predicate,
) -> None:
    r.mark(proto, path, node)
    out.SetInParent()
    for key, value in keys.items():
        r.mark(f"{proto}.{key}", _join(path, key), value)
    attribute = r.text(keys["attribute"], _join(path, "attribute"))
    if attribute is not None:
        out.attribute = attribute
    if "operator" in keys:
        operator = r.enum(keys["operator"], _join(path, "operator"), OPERATORS, OPERATOR_ALIASES)
        if operator is not None:
            out.operator = operator  # type: ignore[assignment]
    operands = [k for k in _OPERANDS if k in keys]
    if len(operands) > 1:
        r.problem(node, path, "expected at most one operand, got " + ", ".join(operands))
        return
    if "change_period_days" in keys:
        period = r.integer(keys["change_period_days"], _join(path, "change_period_days"))
        if period is not None:
            out.change_period_days = period
    if not operands:
        return
    key = operands[0]
    value, where = keys[key], _join(path, key)
    if key == "number":
        number = r.number(value, where)
        if number is not None:
            out.number = number
    elif key == "text":
        text = r.text(value, where)
        if text is not None:
            out.text = text
    elif key == "days":
        days = r.integer(value, where, _INT64)
        if days is not None:
            out.days = days
    elif key == "text_set":
        out.text_set.SetInParent()
        r.mark(f"{proto}.text_set.values", where, value)
        for i, item in enumerate(r.sequence(value, where)):
            r.mark(f"{proto}.text_set.values[{i}]", f"{where}[{i}]", item)
            text = r.text(item, f"{where}[{i}]")
            if text is not None:
                out.text_set.values.append(text)
    elif key == "number_range":
        _mark_pair(r, f"{proto}.number_range", where, value)
        numbers = r.pair(value, where, r.number)
        if numbers is not None:
            out.number_range.low, out.number_range.high = numbers
    else:
        _mark_pair(r, f"{proto}.day_range", where, value)
        days_pair = r.pair(value, where, lambda n, p: r.integer(n, p, _INT64))
        if days_pair is not None:
            out.day_range.low, out.day_range.high = days_pair


def _mark_pair(r: _Reader, proto: str, path: str, node: Node) -> None:
    if isinstance(node, SequenceNode):
        for bound, item in zip(("low", "high"), node.value, strict=False):
            r.mark(f"{proto}.{bound}", path + ("[0]" if bound == "low" else "[1]"), item)


def _read_settings(r: _Reader, node: Node, out: ruleset_pb2.ModelSettings) -> None:
    r.mark("settings", "settings", node)
    keys = r.mapping(node, "settings", ("poor_max", "good_min", "ignore_missing", "enterprise"))
    out.SetInParent()
    if keys is None:
        return
    for name in ("poor_max", "good_min"):
        if name in keys:
            r.mark(f"settings.{name}", f"settings.{name}", keys[name])
            threshold = r.integer(keys[name], f"settings.{name}")
            if threshold is not None:
                setattr(out, name, threshold)
    if "ignore_missing" in keys:
        flag = r.boolean(keys["ignore_missing"], "settings.ignore_missing")
        out.ignore_missing = bool(flag)
    if "enterprise" in keys:
        enterprise = keys["enterprise"]
        r.mark("settings.enterprise", "settings.enterprise", enterprise)
        out.enterprise.SetInParent()
        e = r.mapping(
            enterprise,
            "settings.enterprise",
            ("method", "poor_share_percent", "good_share_percent"),
        )
        for name, given in (e or {}).items():
            where = f"settings.enterprise.{name}"
            r.mark(where, where, given)
            if name == "method":
                method = r.enum(given, where, METHODS)
                if method is not None:
                    out.enterprise.method = method  # type: ignore[assignment]
            else:
                share = r.integer(given, where)
                if share is not None:
                    setattr(out.enterprise, name, share)


def _entries(r: _Reader, node: Node, path: str) -> Iterator[tuple[int, str, Node]]:
    r.mark(path, path, node)
    for i, item in enumerate(r.sequence(node, path)):
        r.mark(f"{path}[{i}]", f"{path}[{i}]", item)
        yield i, f"{path}[{i}]", item


def _texts(r: _Reader, node: Node, path: str, out: Any) -> None:
    for _, where, item in _entries(r, node, path):
        text = r.text(item, where)
        if text is not None:
            out.append(text)


def _read_fields(
    r: _Reader, keys: dict[str, Node], path: str, out: Any, texts: tuple[str, ...]
) -> None:
    """Text fields of a message, each marked at its key's value."""
    for name in texts:
        if name in keys:
            where = _join(path, name)
            r.mark(where, where, keys[name])
            text = r.text(keys[name], where)
            if text is not None:
                setattr(out, name, text)


def _read_catalog(r: _Reader, node: Node, out: catalog_pb2.Catalog) -> None:
    r.mark("catalog", "catalog", node)
    keys = r.mapping(node, "catalog", ("dimensions", "attributes"))
    if keys is None:
        return
    if "dimensions" in keys:
        for _, path, item in _entries(r, keys["dimensions"], "catalog.dimensions"):
            fields = r.mapping(item, path, ("name", "display_name"), required=("name",))
            if fields is not None:
                _read_fields(r, fields, path, out.dimensions.add(), ("name", "display_name"))
    if "attributes" in keys:
        for _, path, item in _entries(r, keys["attributes"], "catalog.attributes"):
            fields = r.mapping(
                item,
                path,
                ("name", "display_name", "type", "ordinal_levels", "dimension"),
                required=("name",),
            )
            if fields is None:
                continue
            attribute = out.attributes.add()
            _read_fields(r, fields, path, attribute, ("name", "display_name", "dimension"))
            if "type" in fields:
                r.mark(f"{path}.type", f"{path}.type", fields["type"])
                kind = r.enum(fields["type"], f"{path}.type", TYPES)
                if kind is not None:
                    attribute.type = kind  # type: ignore[assignment]
            if "ordinal_levels" in fields:
                levels = f"{path}.ordinal_levels"
                _texts(r, fields["ordinal_levels"], levels, attribute.ordinal_levels)


def _read_weight(r: _Reader, keys: dict[str, Node], path: str, out: Any) -> None:
    if "weight" in keys:
        where = f"{path}.weight"
        r.mark(where, where, keys["weight"])
        weight = r.integer(keys["weight"], where)
        if weight is not None:
            out.weight = weight


def _read_profile(r: _Reader, node: Node, path: str, out: ruleset_pb2.Profile) -> None:
    keys = r.mapping(
        node,
        path,
        ("name", "display_name", "segment", "categories", "dimensions", "metrics"),
        required=("name",),
    )
    if keys is None:
        return
    _read_fields(r, keys, path, out, ("name", "display_name"))
    if "segment" in keys:
        _read_criterion(r, keys["segment"], f"{path}.segment", f"{path}.segment", out.segment)
    if "categories" in keys:
        for _, cpath, item in _entries(r, keys["categories"], f"{path}.categories"):
            fields = r.mapping(item, cpath, ("name", "good", "poor"), required=("name",))
            if fields is None:
                continue
            category = out.categories.add()
            _read_fields(r, fields, cpath, category, ("name",))
            for column in ("good", "poor"):
                if column in fields:
                    for _, where, c in _entries(r, fields[column], f"{cpath}.{column}"):
                        _read_criterion(r, c, where, where, getattr(category, column).add())
    if "dimensions" in keys:
        for _, dpath, item in _entries(r, keys["dimensions"], f"{path}.dimensions"):
            fields = r.mapping(item, dpath, ("dimension", "weight"), required=("dimension",))
            if fields is not None:
                dimension = out.dimensions.add()
                _read_fields(r, fields, dpath, dimension, ("dimension",))
                _read_weight(r, fields, dpath, dimension)
    if "metrics" in keys:
        for _, mpath, item in _entries(r, keys["metrics"], f"{path}.metrics"):
            fields = r.mapping(
                item, mpath, ("attribute", "weight", "good", "poor"), required=("attribute",)
            )
            if fields is None:
                continue
            metric = out.metrics.add()
            _read_fields(r, fields, mpath, metric, ("attribute",))
            _read_weight(r, fields, mpath, metric)
            for column in ("good", "poor"):
                if column in fields:
                    where = f"{mpath}.{column}"
                    _read_criterion(r, fields[column], where, where, getattr(metric, column))


def load(text: str) -> Loaded:
    """Reads a file's text; raises `FileError` with every problem found."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc)
        raise FileError([Problem(line, "", f"not valid YAML: {reason}")]) from exc
    if root is None:
        raise FileError([Problem(0, "", "the file is empty")])
    r = _Reader()
    keys = r.mapping(root, "", ("model", "etags", "settings", "catalog", "profiles"))
    if keys is None:
        raise FileError(r.problems)
    loaded = Loaded(model=0, draft=Draft(), catalog=catalog_pb2.Catalog(), _where=r.where)
    if "model" in keys:
        r.mark("model", "model", keys["model"])
        model = r.enum(keys["model"], "model", MODELS)
        loaded.model = model or 0
    else:
        loaded.has_model = False
    if "etags" in keys:
        etags = r.mapping(keys["etags"], "etags", ("draft", "catalog")) or {}
        if "draft" in etags:
            loaded.draft.etag = r.text(etags["draft"], "etags.draft") or ""
        if "catalog" in etags:
            loaded.catalog.etag = r.text(etags["catalog"], "etags.catalog") or ""
    if "settings" in keys:
        _read_settings(r, keys["settings"], loaded.draft.settings)
    if "catalog" in keys:
        _read_catalog(r, keys["catalog"], loaded.catalog)
    else:
        r.problem(root, "", "missing key 'catalog'")
    if "profiles" in keys:
        for _, path, item in _entries(r, keys["profiles"], "profiles"):
            _read_profile(r, item, path, loaded.draft.profiles.add())
    if r.problems:
        raise FileError(r.problems, loaded)
    return loaded
