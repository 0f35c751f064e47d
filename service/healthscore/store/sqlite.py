"""The embedded store: one SQLite file (`<data-dir>/healthscore.db`) behind the `Store` interface.

Durability: WAL with `synchronous=FULL`, so a commit that returned is on disk and a `kill -9` at
any moment leaves each write entirely done or not at all. Every write runs in `BEGIN IMMEDIATE`,
which takes the database's write lock before the first read: an etag check or a `max + 1` and the
write that depends on it cannot interleave with another writer, in this process or another one.

Timestamps are UTC microseconds since the Unix epoch (integers sort and compare exactly).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from healthscore.errors import HealthScoreError, NotFoundError, StaleEtagError
from healthscore.store.base import (
    ActivationRecord,
    CatalogRecord,
    DraftRecord,
    Store,
    VersionRecord,
)

#: The embedded store's file in a data directory (the server, the jobs and the CLI open it).
DATABASE_FILE = "healthscore.db"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_BUSY_TIMEOUT_S = 10.0
# The version and activation that `initialize` writes have no caller comment.
_INITIAL_COMMENT = "first start"

# The schema, step by step: step i (from 0) takes `PRAGMA user_version` from i to i + 1 in its own
# transaction. Append new steps; never edit a released one.
MIGRATIONS: list[Sequence[str]] = [
    (
        """CREATE TABLE catalog (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            body BLOB NOT NULL,
            revision INTEGER NOT NULL,
            etag TEXT NOT NULL,
            update_time INTEGER NOT NULL,
            updater TEXT NOT NULL
        )""",
        """CREATE TABLE drafts (
            model INTEGER PRIMARY KEY,
            body BLOB NOT NULL,
            revision INTEGER NOT NULL,
            etag TEXT NOT NULL,
            update_time INTEGER NOT NULL,
            updater TEXT NOT NULL
        )""",
        """CREATE TABLE versions (
            model INTEGER NOT NULL,
            number INTEGER NOT NULL CHECK (number >= 1),
            ruleset BLOB NOT NULL,
            comment TEXT NOT NULL,
            creator TEXT NOT NULL,
            create_time INTEGER NOT NULL,
            PRIMARY KEY (model, number)
        )""",
        """CREATE TABLE activations (
            number INTEGER PRIMARY KEY CHECK (number >= 1),
            model INTEGER NOT NULL,
            version INTEGER NOT NULL,
            previous_model INTEGER,
            previous_version INTEGER,
            actor TEXT NOT NULL,
            comment TEXT NOT NULL,
            activate_time INTEGER NOT NULL,
            FOREIGN KEY (model, version) REFERENCES versions (model, number),
            FOREIGN KEY (previous_model, previous_version) REFERENCES versions (model, number)
        )""",
    ),
]


class SchemaTooNewError(HealthScoreError, RuntimeError):
    """The database was written by a newer healthscore; this code must not touch it."""


class CorruptDatabaseError(HealthScoreError, RuntimeError):
    """The database file is damaged (or not a database): refused when opened."""


# `quick_check` reads every page and checks the b-trees (not that indexes match their tables):
# linear in the file's size, and what damage to a page in the middle of the file breaks.
_MAX_PROBLEMS_SHOWN = 3


def check_integrity(conn: sqlite3.Connection, path: Path) -> None:
    """CorruptDatabaseError naming `path` unless SQLite's integrity check passes."""
    try:
        rows = conn.execute(f"PRAGMA quick_check({_MAX_PROBLEMS_SHOWN})").fetchall()
    except sqlite3.DatabaseError as exc:
        raise CorruptDatabaseError(
            f"{path}: damaged database, refusing to open it (integrity check: {exc}); "
            "restore it from a backup"
        ) from exc
    problems = [str(row[0]) for row in rows]
    if problems != ["ok"]:
        raise CorruptDatabaseError(
            f"{path}: damaged database, refusing to open it (integrity check: "
            f"{'; '.join(problems)}); restore it from a backup"
        )


def opening(path: Path, exc: sqlite3.DatabaseError) -> CorruptDatabaseError:
    """The error for a file SQLite cannot open as a database at all."""
    return CorruptDatabaseError(
        f"{path}: not a healthscore database or damaged, refusing to open it (integrity check: "
        f"{exc}); restore it from a backup"
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _time(micros: int) -> dt.datetime:
    return _EPOCH + micros * _MICROSECOND


def _etag(revision: int) -> str:
    # The revision makes etags of one resource distinct; the random part keeps them distinct even
    # if a resource were deleted and recreated, and makes them unguessable.
    return f"{revision}-{secrets.token_hex(8)}"


def _version(row: sqlite3.Row) -> VersionRecord:
    return VersionRecord(
        model=row["model"],
        number=row["number"],
        ruleset=row["ruleset"],
        comment=row["comment"],
        creator=row["creator"],
        create_time=_time(row["create_time"]),
    )


def _activation(row: sqlite3.Row) -> ActivationRecord:
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


class SqliteStore(Store):
    """`Store` on one SQLite file.

    Threads share one connection behind a lock: SQLite admits one writer at a time anyway, store
    calls are few and short next to scoring (the active ruleset is compiled once and cached), and
    one connection makes `close` simple and exact. Processes coordinate through SQLite's file
    locks and busy timeout.
    """

    def __init__(self, path: Path) -> None:
        # Test hook, read once here: `HEALTHSCORE_STORE_CRASH=<write>:<before_commit|after_commit>`
        # (e.g. `publish:before_commit`) makes this process SIGKILL itself at that point of that
        # write, so durability tests can crash deterministically inside a transaction.
        self._crash_at = os.environ.get("HEALTHSCORE_STORE_CRASH")
        self._lock = threading.Lock()
        # isolation_level=None: no implicit BEGINs; every transaction is explicit below.
        self._conn = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S
        )
        try:
            self._conn.row_factory = sqlite3.Row
            try:
                mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                raise opening(path, exc) from exc
            if mode != "wal":
                raise RuntimeError(f"{path}: cannot use WAL journaling (got {mode!r})")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            check_integrity(self._conn, path)
            self._migrate(path)
        except BaseException:
            self._conn.close()
            raise

    # Schema.

    def _user_version(self) -> int:
        version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    def _refuse_newer(self, path: Path, version: int) -> None:
        if version > len(MIGRATIONS):
            raise SchemaTooNewError(
                f"{path}: schema version {version} is newer than this healthscore knows "
                f"({len(MIGRATIONS)}); upgrade healthscore to open it"
            )

    def _migrate(self, path: Path) -> None:
        version = self._user_version()
        self._refuse_newer(path, version)
        for target in range(version + 1, len(MIGRATIONS) + 1):
            with self._transaction("migrate") as conn:
                # Another process may have applied this step since we looked.
                current = self._user_version()
                self._refuse_newer(path, current)
                if current >= target:
                    continue
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement)
                # user_version lives in the database header: it commits with the step.
                conn.execute(f"PRAGMA user_version = {target}")

    # Transactions.

    def _crash(self, write: str, point: str) -> None:
        if self._crash_at is not None and self._crash_at == f"{write}:{point}":
            os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def _transaction(self, write: str) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from its first statement."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                self._crash(write, "before_commit")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._crash(write, "after_commit")

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, parameters).fetchall()

    # Reads.

    def get_catalog(self) -> CatalogRecord | None:
        rows = self._read("SELECT body, etag, update_time, updater FROM catalog")
        if not rows:
            return None
        row = rows[0]
        return CatalogRecord(
            catalog=row["body"],
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
            draft=row["body"],
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
        """Newest first: at most `limit` versions numbered below `before` (None: all)."""
        _check_limit(limit)
        rows = self._read(
            "SELECT * FROM versions WHERE model = ? AND (? IS NULL OR number < ?)"
            " ORDER BY number DESC LIMIT ?",
            (model, before, before, limit),
        )
        return [_version(row) for row in rows]

    def all_versions(self) -> list[VersionRecord]:
        """Every version of every model (for catalog-change checks), oldest first."""
        rows = self._read("SELECT * FROM versions ORDER BY create_time, model, number")
        return [_version(row) for row in rows]

    def active(self) -> ActivationRecord | None:
        """The latest activation; None before the first."""
        rows = self._read("SELECT * FROM activations ORDER BY number DESC LIMIT 1")
        return _activation(rows[0]) if rows else None

    def list_activations(self, *, limit: int, before: int | None = None) -> list[ActivationRecord]:
        """Newest first: at most `limit` activations numbered below `before` (None: all)."""
        _check_limit(limit)
        rows = self._read(
            "SELECT * FROM activations WHERE (? IS NULL OR number < ?)"
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
                catalog=catalog, etag=_etag(revision), update_time=_now(), updater=updater
            )
            conn.execute(
                "INSERT OR REPLACE INTO catalog"
                " (id, body, revision, etag, update_time, updater) VALUES (1, ?, ?, ?, ?, ?)",
                (catalog, revision, record.etag, _micros(record.update_time), updater),
            )
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
                update_time=_now(),
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
        """Adds the next version of `model` (1 + the highest so far). The draft's etag, when
        given, must still be current (the caller validated exactly that draft)."""
        with self._transaction("publish") as conn:
            if expected_draft_etag is not None:
                row = conn.execute(
                    "SELECT revision, etag FROM drafts WHERE model = ?", (model,)
                ).fetchone()
                _check_etag(f"draft of model {model}", row, expected_draft_etag)
            return _insert_version(conn, model, ruleset, comment=comment, creator=creator)

    def activate(self, model: int, number: int, *, actor: str, comment: str) -> ActivationRecord:
        """Records an activation of an existing version (NotFoundError otherwise); the previous
        version is the currently active one."""
        with self._transaction("activate") as conn:
            exists = conn.execute(
                "SELECT 1 FROM versions WHERE model = ? AND number = ?", (model, number)
            ).fetchone()
            if exists is None:
                raise NotFoundError(f"version {number} of model {model} does not exist")
            return _insert_activation(conn, model, number, actor=actor, comment=comment)

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
        with self._transaction("initialize") as conn:
            has_data = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM catalog) OR EXISTS (SELECT 1 FROM drafts)"
                " OR EXISTS (SELECT 1 FROM versions) OR EXISTS (SELECT 1 FROM activations)"
            ).fetchone()[0]
            if has_data:
                return False
            now = _now()
            conn.execute(
                "INSERT INTO catalog (id, body, revision, etag, update_time, updater)"
                " VALUES (1, ?, 1, ?, ?, ?)",
                (catalog, _etag(1), _micros(now), actor),
            )
            for model, draft in drafts.items():
                record = DraftRecord(model, draft, _etag(1), now, actor)
                _write_draft(conn, record, 1)
            if publish is not None:
                model, ruleset = publish
                version = _insert_version(
                    conn, model, ruleset, comment=_INITIAL_COMMENT, creator=actor
                )
                _insert_activation(
                    conn, model, version.number, actor=actor, comment=_INITIAL_COMMENT
                )
        return True

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _check_etag(what: str, row: sqlite3.Row | None, expected: str | None) -> None:
    if expected is None:
        return
    if row is None or row["etag"] != expected:
        raise StaleEtagError(f"the {what} has changed since etag {expected!r} was read")


def _write_draft(conn: sqlite3.Connection, record: DraftRecord, revision: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO drafts (model, body, revision, etag, update_time, updater)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            record.model,
            record.draft,
            revision,
            record.etag,
            _micros(record.update_time),
            record.updater,
        ),
    )


def _insert_version(
    conn: sqlite3.Connection, model: int, ruleset: bytes, *, comment: str, creator: str
) -> VersionRecord:
    # Inside the write transaction: no other writer can take the same number.
    number = conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 FROM versions WHERE model = ?", (model,)
    ).fetchone()[0]
    record = VersionRecord(model, number, ruleset, comment, creator, _now())
    conn.execute(
        "INSERT INTO versions (model, number, ruleset, comment, creator, create_time)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (model, number, ruleset, comment, creator, _micros(record.create_time)),
    )
    return record


def _insert_activation(
    conn: sqlite3.Connection, model: int, version: int, *, actor: str, comment: str
) -> ActivationRecord:
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
        activate_time=_now(),
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
            _micros(record.activate_time),
        ),
    )
    return record
