"""The `Store` on a SQL database, written once: what each write reads, checks and writes, and how
rows become records. `SqliteStore` and `PostgresStore` supply only their dialect:

- `_begin`: one write transaction holding the database-wide write lock from its first statement
  (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's advisory lock), committed when the block ends and
  rolled back when it raises, its driver's errors mapped to the project's;
- `_read`: one statement outside a write transaction;
- `_activated`: anything an activation's transaction must also do (PostgreSQL notifies).

The SQL here is what both databases accept: `?` placeholders (the PostgreSQL store's connection
turns them into psycopg's `%s`), `INSERT ... ON CONFLICT ... DO UPDATE` for upserts, and a
column alias for every value read by name. Timestamps are UTC microseconds since the Unix epoch
(integers sort and compare exactly).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from healthscore.errors import HealthScoreError, NotFoundError, StaleEtagError
from healthscore.store.base import (
    ActivationRecord,
    CatalogRecord,
    DraftRecord,
    Store,
    VersionRecord,
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
# The version and activation that `initialize` writes have no caller comment.
_INITIAL_COMMENT = "first start"


class SchemaTooNewError(HealthScoreError, RuntimeError):
    """The database was written by a newer healthscore; this code must not touch it."""


def refuse_newer(where: str, version: int, known: int) -> None:
    """SchemaTooNewError naming `where` if schema `version` is beyond the `known` steps."""
    if version > known:
        raise SchemaTooNewError(
            f"{where}: schema version {version} is newer than this healthscore knows "
            f"({known}); upgrade healthscore to open it"
        )


class Row(Protocol):
    """A result row, read by column name (`sqlite3.Row`, psycopg's `dict_row`)."""

    def __getitem__(self, key: str, /) -> Any: ...


class Cursor(Protocol):
    def fetchone(self) -> Row | None: ...
    def fetchall(self) -> Sequence[Row]: ...


class Connection(Protocol):
    """What the shared logic needs of a connection: statements with `?` placeholders."""

    def execute(self, sql: str, parameters: Sequence[object] = (), /) -> Cursor: ...


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _time(value: int) -> dt.datetime:
    return _EPOCH + value * _MICROSECOND


def _etag(revision: int) -> str:
    # The revision makes etags of one resource distinct; the random part keeps them distinct even
    # if a resource were deleted and recreated, and makes them unguessable.
    return f"{revision}-{secrets.token_hex(8)}"


def _version(row: Row) -> VersionRecord:
    return VersionRecord(
        model=row["model"],
        number=row["number"],
        ruleset=bytes(row["ruleset"]),
        comment=row["comment"],
        creator=row["creator"],
        create_time=_time(row["create_time"]),
    )


def _activation(row: Row) -> ActivationRecord:
    return ActivationRecord(
        number=row["number"],
        model=row["model"],
        version=row["version"],
        previous_model=row["previous_model"],
        previous_version=row["previous_version"],
        actor=row["actor"],
        comment=row["comment"],
        activate_time=_time(row["activate_time"]),
    )


def _check_limit(limit: int) -> None:
    # SQLite reads a negative LIMIT as "no limit": refuse it rather than return everything.
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")


def _check_etag(what: str, row: Row | None, expected: str | None) -> None:
    if expected is None:
        return
    if row is None or row["etag"] != expected:
        raise StaleEtagError(f"the {what} has changed since etag {expected!r} was read")


_C = TypeVar("_C")


class Transactions(ABC, Generic[_C]):
    """Write transactions over a dialect's `_begin`, with the crash test hook's points around
    each commit (the design stores' and the account store's, `store/accounts.py`)."""

    def __init__(self) -> None:
        # Test hook, read once here: `HEALTHSCORE_STORE_CRASH=<write>:<before_commit|after_commit>`
        # (e.g. `publish:before_commit`) makes this process SIGKILL itself at that point of that
        # write, so durability tests can crash deterministically inside a transaction.
        self._crash_at = os.environ.get("HEALTHSCORE_STORE_CRASH")

    @abstractmethod
    def _begin(self) -> AbstractContextManager[_C]:
        """One write transaction holding the write lock from its first statement: committed when
        the block ends, rolled back when it raises."""

    def _crash(self, write: str, point: str) -> None:
        if self._crash_at is not None and self._crash_at == f"{write}:{point}":
            os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def _transaction(self, write: str) -> Iterator[_C]:
        """`_begin`, with the crash hook's points around its commit."""
        with self._begin() as conn:
            yield conn
            self._crash(write, "before_commit")
        self._crash(write, "after_commit")


class SqlStore(Transactions[Connection], Store):
    """The `Store` methods over a dialect's transactions and reads (see the module)."""

    # The dialect (and `Transactions._begin`).

    @abstractmethod
    def _read(self, sql: str, parameters: Sequence[object] = ()) -> Sequence[Row]:
        """The rows of one statement, outside any write transaction."""

    def _activated(self, conn: Connection, record: ActivationRecord) -> None:
        """Runs in the transaction that records `record`, before it commits."""

    # Reads.

    def get_catalog(self) -> CatalogRecord | None:
        rows = self._read("SELECT body, etag, update_time, updater FROM catalog")
        if not rows:
            return None
        row = rows[0]
        return CatalogRecord(
            catalog=bytes(row["body"]),
            etag=row["etag"],
            update_time=_time(row["update_time"]),
            updater=row["updater"],
        )

    def get_draft(self, model: int) -> DraftRecord | None:
        rows = self._read(
            "SELECT body, etag, update_time, updater FROM drafts WHERE model = ?", (model,)
        )
        if not rows:
            return None
        row = rows[0]
        return DraftRecord(
            model=model,
            draft=bytes(row["body"]),
            etag=row["etag"],
            update_time=_time(row["update_time"]),
            updater=row["updater"],
        )

    def get_version(self, model: int, number: int) -> VersionRecord | None:
        rows = self._read("SELECT * FROM versions WHERE model = ? AND number = ?", (model, number))
        return _version(rows[0]) if rows else None

    def latest_version(self, model: int) -> VersionRecord | None:
        rows = self._read(
            "SELECT * FROM versions WHERE model = ? ORDER BY number DESC LIMIT 1", (model,)
        )
        return _version(rows[0]) if rows else None

    def list_versions(
        self, model: int, *, limit: int, before: int | None = None
    ) -> list[VersionRecord]:
        _check_limit(limit)
        # The CAST: PostgreSQL cannot tell the type of a parameter that is only tested for NULL.
        rows = self._read(
            "SELECT * FROM versions WHERE model = ? AND (CAST(? AS INTEGER) IS NULL OR number < ?)"
            " ORDER BY number DESC LIMIT ?",
            (model, before, before, limit),
        )
        return [_version(row) for row in rows]

    def all_versions(self) -> list[VersionRecord]:
        rows = self._read("SELECT * FROM versions ORDER BY create_time, model, number")
        return [_version(row) for row in rows]

    def active(self) -> ActivationRecord | None:
        rows = self._read("SELECT * FROM activations ORDER BY number DESC LIMIT 1")
        return _activation(rows[0]) if rows else None

    def list_activations(self, *, limit: int, before: int | None = None) -> list[ActivationRecord]:
        _check_limit(limit)
        rows = self._read(
            "SELECT * FROM activations WHERE (CAST(? AS INTEGER) IS NULL OR number < ?)"
            " ORDER BY number DESC LIMIT ?",
            (before, before, limit),
        )
        return [_activation(row) for row in rows]

    # Writes.

    def put_catalog(
        self, catalog: bytes, *, updater: str, expected_etag: str | None
    ) -> CatalogRecord:
        with self._transaction("put_catalog") as conn:
            row = conn.execute("SELECT revision, etag FROM catalog").fetchone()
            _check_etag("catalog", row, expected_etag)
            revision = row["revision"] + 1 if row else 1
            record = CatalogRecord(
                catalog=catalog, etag=_etag(revision), update_time=now(), updater=updater
            )
            _write_catalog(conn, record, revision)
        return record

    def put_draft(
        self, model: int, draft: bytes, *, updater: str, expected_etag: str | None
    ) -> DraftRecord:
        with self._transaction("put_draft") as conn:
            row = conn.execute(
                "SELECT revision, etag FROM drafts WHERE model = ?", (model,)
            ).fetchone()
            _check_etag(f"draft of model {model}", row, expected_etag)
            revision = row["revision"] + 1 if row else 1
            record = DraftRecord(
                model=model,
                draft=draft,
                etag=_etag(revision),
                update_time=now(),
                updater=updater,
            )
            _write_draft(conn, record, revision)
        return record

    def publish(
        self,
        model: int,
        ruleset: bytes,
        *,
        comment: str,
        creator: str,
        expected_draft_etag: str | None,
    ) -> VersionRecord:
        with self._transaction("publish") as conn:
            if expected_draft_etag is not None:
                row = conn.execute(
                    "SELECT revision, etag FROM drafts WHERE model = ?", (model,)
                ).fetchone()
                _check_etag(f"draft of model {model}", row, expected_draft_etag)
            return _insert_version(conn, model, ruleset, comment=comment, creator=creator)

    def activate(self, model: int, number: int, *, actor: str, comment: str) -> ActivationRecord:
        with self._transaction("activate") as conn:
            exists = conn.execute(
                "SELECT 1 FROM versions WHERE model = ? AND number = ?", (model, number)
            ).fetchone()
            if exists is None:
                raise NotFoundError(f"version {number} of model {model} does not exist")
            return self._insert_activation(conn, model, number, actor=actor, comment=comment)

    def initialize(
        self,
        *,
        catalog: bytes,
        drafts: dict[int, bytes],
        publish: tuple[int, bytes] | None,
        actor: str,
    ) -> bool:
        with self._transaction("initialize") as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM catalog) OR EXISTS (SELECT 1 FROM drafts)"
                " OR EXISTS (SELECT 1 FROM versions) OR EXISTS (SELECT 1 FROM activations)"
                " AS has_data"
            ).fetchone()
            if row is not None and row["has_data"]:
                return False
            first = now()
            _write_catalog(conn, CatalogRecord(catalog, _etag(1), first, actor), 1)
            for model, draft in drafts.items():
                _write_draft(conn, DraftRecord(model, draft, _etag(1), first, actor), 1)
            if publish is not None:
                model, ruleset = publish
                version = _insert_version(
                    conn, model, ruleset, comment=_INITIAL_COMMENT, creator=actor
                )
                self._insert_activation(
                    conn, model, version.number, actor=actor, comment=_INITIAL_COMMENT
                )
        return True

    def _insert_activation(
        self, conn: Connection, model: int, version: int, *, actor: str, comment: str
    ) -> ActivationRecord:
        # Inside the write transaction: the previous activation cannot change meanwhile.
        previous = conn.execute(
            "SELECT number, model, version FROM activations ORDER BY number DESC LIMIT 1"
        ).fetchone()
        record = ActivationRecord(
            number=previous["number"] + 1 if previous else 1,
            model=model,
            version=version,
            previous_model=previous["model"] if previous else None,
            previous_version=previous["version"] if previous else None,
            actor=actor,
            comment=comment,
            activate_time=now(),
        )
        conn.execute(
            "INSERT INTO activations (number, model, version, previous_model, previous_version,"
            " actor, comment, activate_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.number,
                record.model,
                record.version,
                record.previous_model,
                record.previous_version,
                actor,
                comment,
                micros(record.activate_time),
            ),
        )
        self._activated(conn, record)
        return record

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _write_catalog(conn: Connection, record: CatalogRecord, revision: int) -> None:
    conn.execute(
        "INSERT INTO catalog (id, body, revision, etag, update_time, updater)"
        " VALUES (1, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET body = excluded.body, revision = excluded.revision,"
        " etag = excluded.etag, update_time = excluded.update_time, updater = excluded.updater",
        (record.catalog, revision, record.etag, micros(record.update_time), record.updater),
    )


def _write_draft(conn: Connection, record: DraftRecord, revision: int) -> None:
    conn.execute(
        "INSERT INTO drafts (model, body, revision, etag, update_time, updater)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (model) DO UPDATE SET body = excluded.body, revision = excluded.revision,"
        " etag = excluded.etag, update_time = excluded.update_time, updater = excluded.updater",
        (
            record.model,
            record.draft,
            revision,
            record.etag,
            micros(record.update_time),
            record.updater,
        ),
    )


def _insert_version(
    conn: Connection, model: int, ruleset: bytes, *, comment: str, creator: str
) -> VersionRecord:
    # Inside the write transaction: no other writer can take the same number.
    row = conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 AS next_number FROM versions WHERE model = ?", (model,)
    ).fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    record = VersionRecord(model, row["next_number"], ruleset, comment, creator, now())
    conn.execute(
        "INSERT INTO versions (model, number, ruleset, comment, creator, create_time)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (model, record.number, ruleset, comment, creator, micros(record.create_time)),
    )
    return record
