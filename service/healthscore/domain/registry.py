"""Compiled rulesets, by name: compile once, score many times.

The active ruleset is one reference swapped atomically on activation: a request takes the
reference once and scores with it to the end, so in-flight requests finish on the version they
started with. Versions are immutable, so their compiled forms are cached by name; a draft's is
cached by its etag and the catalog's.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from healthscore import engine
from healthscore.domain import names
from healthscore.errors import (
    FailedPreconditionError,
    InvalidInputError,
    InvalidRulesetError,
    NotFoundError,
    Violation,
)
from healthscore.store import Store
from healthscore_client.v1 import catalog_pb2, profile_service_pb2, ruleset_pb2

# Compiled versions kept besides the active one (a compiled ruleset is small: kilobytes).
_CACHE_SIZE = 32
# Other server processes may activate a version: the active one is re-read at most this often
# (by the first call after that; a store that pushes activations needs no polling: `poll_seconds`).
ACTIVE_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class Scorer:
    """A ruleset ready to score with, and its name (`models/{model}/versions/{n}` or
    `models/{model}/draft`)."""

    name: str
    model: int
    ruleset: ruleset_pb2.Ruleset
    compiled: engine.CompiledRuleset


def draft_ruleset(store: Store, model: int) -> tuple[ruleset_pb2.Ruleset, str]:
    """The ruleset a model's draft stands for (with the current catalog), and a cache key."""
    record = store.get_draft(model)
    catalog = store.get_catalog()
    if record is None or catalog is None:
        raise NotFoundError(f"{names.draft_name(model)} does not exist")
    draft = profile_service_pb2.Draft.FromString(record.draft)
    ruleset = ruleset_pb2.Ruleset(
        version=names.draft_name(model),
        model=ruleset_pb2.HealthModel.ValueType(model),
        catalog=catalog_pb2.Catalog.FromString(catalog.catalog),
        settings=draft.settings,
        profiles=draft.profiles,
    )
    return ruleset, f"{record.etag}/{catalog.etag}"


class Registry:
    """Resolves ruleset names to compiled rulesets (thread-safe)."""

    def __init__(self, store: Store, *, poll_seconds: float | None = ACTIVE_CHECK_SECONDS) -> None:
        """`poll_seconds`: how stale the active version may be before a call re-reads it; None:
        never in a call (the store's watcher calls `refresh_active` on every activation)."""
        self._store = store
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, Scorer] = OrderedDict()
        self._drafts: dict[int, tuple[str, Scorer]] = {}
        self._active: Scorer | None = None
        self._active_number = 0
        self._checked_at = 0.0

    # The active version.
    def active(self) -> Scorer:
        """The active version's scorer (re-read when another process may have switched it)."""
        poll = self._poll_seconds
        if poll is not None and time.monotonic() - self._checked_at > poll:
            self.refresh_active()
        active = self._active
        if active is None:
            raise FailedPreconditionError("no version is active: activate one first")
        return active

    def refresh_active(self) -> None:
        """Loads the store's active version if it changed (compiling outside the lock)."""
        record = self._store.active()
        self._checked_at = time.monotonic()
        if record is None or record.number == self._active_number:
            return
        scorer = self.version(record.model, record.version)
        with self._lock:
            if record.number > self._active_number:
                self._active, self._active_number = scorer, record.number

    # Any ruleset, by name.
    def version(self, model: int, number: int) -> Scorer:
        name = names.version_name(model, number)
        with self._lock:
            cached = self._versions.get(name)
            if cached is not None:
                self._versions.move_to_end(name)
                return cached
        record = self._store.get_version(model, number)
        if record is None:
            raise NotFoundError(f"{name} does not exist")
        ruleset = ruleset_pb2.Ruleset.FromString(record.ruleset)
        ruleset.version = name  # stored unnamed: the number is given inside the publish
        scorer = Scorer(name, model, ruleset, engine.compile_ruleset(ruleset))
        with self._lock:
            self._versions[name] = scorer
            while len(self._versions) > _CACHE_SIZE:
                self._versions.popitem(last=False)
        return scorer

    def latest(self, model: int) -> Scorer:
        record = self._store.latest_version(model)
        if record is None:
            raise NotFoundError(f"{names.model_name(model)} has no published version")
        return self.version(model, record.number)

    def draft(self, model: int) -> Scorer:
        """The draft, compiled; FAILED_PRECONDITION with every violation when it does not
        validate."""
        ruleset, key = draft_ruleset(self._store, model)
        with self._lock:
            cached = self._drafts.get(model)
            if cached is not None and cached[0] == key:
                return cached[1]
        try:
            compiled = engine.compile_ruleset(ruleset)
        except InvalidRulesetError as exc:
            raise FailedPreconditionError(
                f"{names.draft_name(model)} does not validate",
                [
                    Violation(f"{names.draft_name(model)}: {v.path}", v.message)
                    for v in exc.violations
                ],
            ) from exc
        scorer = Scorer(names.draft_name(model), model, ruleset, compiled)
        with self._lock:
            self._drafts[model] = (key, scorer)
        return scorer

    def resolve(self, name: str, field: str) -> Scorer:
        """`""` (the active version), `models/{m}`, `models/{m}/draft` or a version's name."""
        if not name:
            return self.active()
        ref = names.parse_ruleset(name, field)
        if ref.draft:
            return self.draft(ref.model)
        if ref.number is None:
            return self.latest(ref.model)
        return self.version(ref.model, ref.number)

    def resolve_other(self, model: int, name: str, field: str) -> Scorer:
        """The other model's ruleset for side-by-side scoring: `name` (which must be of the
        other model), else its latest version, else its draft."""
        other = names.other_model(model)
        if name:
            scorer = self.resolve(name, field)
            if scorer.model != other:
                raise InvalidInputError(
                    f"{field}: {name!r} is not of the other model",
                    [Violation(field, f"must name a ruleset of {names.model_name(other)}")],
                )
            return scorer
        if self._store.latest_version(other) is not None:
            return self.latest(other)
        return self.draft(other)
