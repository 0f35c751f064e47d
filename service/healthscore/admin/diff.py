"""What changed between two states of a model's design (a version, a draft, a file): settings,
catalog entries, and profiles added, removed, reordered or changed field by field.

Both sides are compared in the YAML form of `yamlio`, so a change reads as the file would:
`metrics[engagement_score].good.number: 60 → 65`. Lists of named entries (profiles, categories,
dimensions, metrics, catalog entries) are matched by name, so an insertion is one change, not a
shift of every later entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from healthscore import yamlio
from healthscore_client.v1 import catalog_pb2, ruleset_pb2

# The key that names the entries of a list, by the list's key in the YAML form.
_IDENTITY = {
    "categories": "name",
    "dimensions": ("dimension", "name"),
    "metrics": "attribute",
    "attributes": "name",
}
_MISSING = object()


@dataclass(frozen=True)
class Change:
    """One field that differs: its path, and its value on each side (`None`: absent there)."""

    path: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}

    def render(self) -> str:
        if self.old is None:
            return f"+ {self.path}: {yamlio.inline(self.new)}"
        if self.new is None:
            return f"- {self.path}: {yamlio.inline(self.old)}"
        return f"~ {self.path}: {yamlio.inline(self.old)} → {yamlio.inline(self.new)}"


@dataclass
class DesignDiff:
    """The differences from `old` to `new`."""

    settings: list[Change] = field(default_factory=list)
    catalog: list[Change] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    old_order: list[str] = field(default_factory=list)
    new_order: list[str] = field(default_factory=list)
    changed: dict[str, list[Change]] = field(default_factory=dict)

    @property
    def reordered(self) -> bool:
        """Whether the profiles on both sides come in a different relative order."""
        kept = set(self.old_order) & set(self.new_order)
        return [n for n in self.old_order if n in kept] != [n for n in self.new_order if n in kept]

    @property
    def equal(self) -> bool:
        return not (
            self.settings
            or self.catalog
            or self.added
            or self.removed
            or self.reordered
            or self.changed
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "settings": [c.as_dict() for c in self.settings],
            "catalog": [c.as_dict() for c in self.catalog],
            "profiles": {
                "added": self.added,
                "removed": self.removed,
                "order": {"old": self.old_order, "new": self.new_order} if self.reordered else None,
                "changed": {
                    name: [c.as_dict() for c in changes] for name, changes in self.changed.items()
                },
            },
        }

    def lines(self) -> list[str]:
        """The differences for people, one per line, each starting with +, -, ~ or a heading."""
        out: list[str] = []
        if self.settings:
            out += ["settings:", *(f"  {c.render()}" for c in self.settings)]
        if self.catalog:
            out += ["catalog:", *(f"  {c.render()}" for c in self.catalog)]
        if self.added or self.removed or self.reordered or self.changed:
            out.append("profiles:")
            for name in self.added:
                out.append(f"  + {name} (position {self.new_order.index(name) + 1})")
            out += [f"  - {name}" for name in self.removed]
            if self.reordered:
                out.append(f"  ~ order: {', '.join(self.old_order)} → {', '.join(self.new_order)}")
            for name, changes in self.changed.items():
                out.append(f"  ~ {name}:")
                out += [f"      {c.render()}" for c in changes]
        return out


def _same(a: Any, b: Any) -> bool:
    """Exact equality of YAML-form values: -0.0 is not 0.0, 1 is not 1.0."""
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and repr(a) == repr(b)


def _identity(key: str, items: list[Any]) -> str | None:
    """The key naming the entries of list `key`, when each entry has a distinct one."""
    names = _IDENTITY.get(key)
    for name in (names,) if isinstance(names, str) else names or ():
        values = [item.get(name) if isinstance(item, dict) else None for item in items]
        if all(isinstance(v, str) for v in values) and len(set(values)) == len(values):
            return name
    return None


def _changes(path: str, old: Any, new: Any, key: str = "") -> list[Change]:
    if _same(old, new):
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[Change] = []
        for k in [*old, *(k for k in new if k not in old)]:
            here = f"{path}.{k}" if path else k
            a, b = old.get(k, _MISSING), new.get(k, _MISSING)
            if a is _MISSING or b is _MISSING:
                found.append(
                    Change(here, None if a is _MISSING else a, None if b is _MISSING else b)
                )
            else:
                found += _changes(here, a, b, k)
        return found
    if isinstance(old, list) and isinstance(new, list):
        name = _identity(key, old)
        if name is not None and _identity(key, new) == name:
            before = {item[name]: item for item in old}
            after = {item[name]: item for item in new}
            found = []
            for n, item in before.items():
                here = f"{path}[{n}]"
                found += (
                    [Change(here, item, None)] if n not in after else _changes(here, item, after[n])
                )
            found += [
                Change(f"{path}[{n}]", None, item) for n, item in after.items() if n not in before
            ]
            order_old = [n for n in before if n in after]
            order_new = [n for n in after if n in before]
            if order_old != order_new:
                found.append(Change(f"{path} order", order_old, order_new))
            return found
        if len(old) == len(new):
            found = []
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                found += _changes(f"{path}[{i}]", a, b)
            return found
    return [Change(path, old, new)]


def compare(old: ruleset_pb2.Ruleset, new: ruleset_pb2.Ruleset) -> DesignDiff:
    """The differences between two rulesets' settings, catalogs and profiles."""
    result = DesignDiff()
    result.settings = _changes("", _settings(old), _settings(new))
    result.catalog = _changes("", _catalog(old.catalog), _catalog(new.catalog))
    result.old_order = _names(old.profiles)
    result.new_order = _names(new.profiles)
    before = dict(zip(result.old_order, map(yamlio.profile_form, old.profiles), strict=True))
    after = dict(zip(result.new_order, map(yamlio.profile_form, new.profiles), strict=True))
    result.added = [n for n in after if n not in before]
    result.removed = [n for n in before if n not in after]
    for name, profile in after.items():
        if name in before:
            changes = _changes("", before[name], profile)
            if changes:
                result.changed[name] = changes
    return result


def _names(profiles: Any) -> list[str]:
    """The profiles' names; a name used twice (a draft may have it) is told apart by position."""
    names = [p.name for p in profiles]
    return [n if names.count(n) == 1 else f"{n} (#{i + 1})" for i, n in enumerate(names)]


def _settings(ruleset: ruleset_pb2.Ruleset) -> dict[str, Any]:
    return yamlio.settings_form(ruleset.settings)


def _catalog(catalog: catalog_pb2.Catalog) -> dict[str, Any]:
    return yamlio.catalog_form(catalog)
