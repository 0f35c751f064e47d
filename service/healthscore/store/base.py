"""The store interface: what the domain needs from persistence, nothing more.

Every write is one durable transaction: after a crash (even `kill -9`) the state is entirely
before or entirely after it. Bodies are serialized protobuf messages, so the store never needs to
understand rulesets. Models are `HealthModel` numbers.

Conditional writes take the etag the caller last saw (`expected_etag`); `None` writes
unconditionally. A mismatch raises `healthscore.errors.StaleEtagError` and changes nothing.
Etags are opaque, non-empty strings that change on every write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CatalogRecord:
    """The catalog: a serialized `Catalog` (its `etag` field empty) and the current etag."""

    catalog: bytes
    etag: str
    update_time: dt.datetime
    updater: str


@dataclass(frozen=True)
class DraftRecord:
    """A model's draft: a serialized `Draft` (settings and profiles; the output-only fields
    `etag`, `update_time` and `updater` empty, as they live here)."""

    model: int
    draft: bytes
    etag: str
    update_time: dt.datetime
    updater: str


@dataclass(frozen=True)
class VersionRecord:
    """A published version: number (from 1 within its model) and serialized `Ruleset`."""

    model: int
    number: int
    ruleset: bytes
    comment: str
    creator: str
    create_time: dt.datetime


@dataclass(frozen=True)
class ActivationRecord:
    """One switch of the active version (numbered from 1)."""

    number: int
    model: int
    version: int
    previous_model: int | None
    previous_version: int | None
    actor: str
    comment: str
    activate_time: dt.datetime


class Store(Protocol):
    """Persistence of health design. Implementations are safe to call from several threads."""

    # Reads.
    def get_catalog(self) -> CatalogRecord | None: ...
    def get_draft(self, model: int) -> DraftRecord | None: ...
    def get_version(self, model: int, number: int) -> VersionRecord | None: ...
    def latest_version(self, model: int) -> VersionRecord | None: ...
    def list_versions(
        self, model: int, *, limit: int, before: int | None = None
    ) -> list[VersionRecord]:
        """Newest first: at most `limit` versions numbered below `before` (None: all)."""
        ...

    def all_versions(self) -> list[VersionRecord]:
        """Every version of every model (for catalog-change checks), oldest first."""
        ...

    def active(self) -> ActivationRecord | None:
        """The latest activation; None before the first."""
        ...

    def list_activations(self, *, limit: int, before: int | None = None) -> list[ActivationRecord]:
        """Newest first: at most `limit` activations numbered below `before` (None: all)."""
        ...

    # Writes: each one durable transaction.
    def put_catalog(
        self, catalog: bytes, *, updater: str, expected_etag: str | None
    ) -> CatalogRecord: ...

    def put_draft(
        self, model: int, draft: bytes, *, updater: str, expected_etag: str | None
    ) -> DraftRecord: ...

    def publish(
        self,
        model: int,
        ruleset: bytes,
        *,
        comment: str,
        creator: str,
        expected_draft_etag: str | None,
    ) -> VersionRecord:
        """Adds the next version of `model` (1 + the highest so far). The draft's etag, when
        given, must still be current (the caller validated exactly that draft)."""
        ...

    def activate(self, model: int, number: int, *, actor: str, comment: str) -> ActivationRecord:
        """Records an activation of an existing version (NotFoundError otherwise); the previous
        version is the currently active one."""
        ...

    def initialize(
        self,
        *,
        catalog: bytes,
        drafts: dict[int, bytes],
        publish: tuple[int, bytes] | None,
        actor: str,
    ) -> bool:
        """First start: if the store is empty, writes the catalog, the drafts, and (when given)
        publishes `(model, ruleset)` as version 1 and activates it, all in one transaction.
        Returns whether it did (False: the store already had data; nothing written)."""
        ...

    def close(self) -> None: ...
