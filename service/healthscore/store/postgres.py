"""The PostgreSQL store: the `Store` interface on one database that several replicas share.

Chosen by `--database-url` / `HEALTHSCORE_DATABASE_URL`; only then is psycopg imported, so a
server without the `postgres` extra installed runs on SQLite as before.

Serialization: every write transaction first takes one transaction-scoped advisory lock
(`pg_advisory_xact_lock`), the counterpart of SQLite's `BEGIN IMMEDIATE`. An etag check, a
`max + 1` version number or the previous activation, and the write that depends on it, therefore
never interleave with another writer of any replica; the lock is released by COMMIT or ROLLBACK,
also when the client dies (`kill -9`). Under READ COMMITTED every statement after the lock sees
all that earlier writers committed.

Activations: `activate` (and the first `initialize`) sends `NOTIFY healthscore_activation` in its
transaction, delivered at COMMIT to every replica that LISTENs (`watch`). The watcher's own
connection also tells whether the database is reachable: `watch` reports each change.

Schema: `MIGRATIONS` step i takes the `schema_migrations` table from version i to i + 1, one
transaction per step, under an advisory lock so that replicas starting together apply each step
once. Timestamps are UTC microseconds since the Unix epoch, as in the SQLite store.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from healthscore.errors import NotFoundError, StaleEtagError, UnavailableError
from healthscore.store.base import (
    ActivationRecord,
    CatalogRecord,
    DraftRecord,
    Store,
    VersionRecord,
)
from healthscore.store.sqlite import (
    _INITIAL_COMMENT,
    SchemaTooNewError,
    _check_limit,
    _etag,
    _micros,
    _now,
    _time,
)

log = structlog.get_logger("healthscore.store")
# psycopg and its pool log reconnection attempts through `logging`, which has no handler here and
# would print plain text into the JSON-lines log: the watcher reports reachability instead.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

# Advisory lock keys (one 64-bit space per database): all writes, and schema migrations.
_WRITE_LOCK = 0x6865616C7468_01  # "health" 01
_MIGRATE_LOCK = 0x6865616C7468_02
# The channel `activate` notifies; the payload is the activation's number.
CHANNEL = "healthscore_activation"
# A store call waits this long for a pooled connection before failing.
_POOL_TIMEOUT_S = 10.0
_CONNECT_TIMEOUT_S = 5
# The watcher checks its connection this often, and retries this often once it is lost; it also
# re-reads the active version this often even without a notification (a fallback only).
_WATCH_CHECK_S = 1.0
_WATCH_RETRY_S = 0.5
_WATCH_POLL_S = 5.0

MIGRATIONS: list[Sequence[str]] = [
    (
        """CREATE TABLE catalog (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            body BYTEA NOT NULL,
            revision BIGINT NOT NULL,
            etag TEXT NOT NULL,
            update_time BIGINT NOT NULL,
            updater TEXT NOT NULL
        )""",
        """CREATE TABLE drafts (
            model INTEGER PRIMARY KEY,
            body BYTEA NOT NULL,
            revision BIGINT NOT NULL,
            etag TEXT NOT NULL,
            update_time BIGINT NOT NULL,
            updater TEXT NOT NULL
        )""",
        """CREATE TABLE versions (
            model INTEGER NOT NULL,
            number INTEGER NOT NULL CHECK (number >= 1),
            ruleset BYTEA NOT NULL,
            comment TEXT NOT NULL,
            creator TEXT NOT NULL,
            create_time BIGINT NOT NULL,
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
            activate_time BIGINT NOT NULL,
            FOREIGN KEY (model, version) REFERENCES versions (model, number),
            FOREIGN KEY (previous_model, previous_version) REFERENCES versions (model, number)
        )""",
    ),
]

_MIGRATIONS_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_time BIGINT NOT NULL
)"""


class DatabaseUnavailableError(UnavailableError, ConnectionError):
    """The database cannot be reached (UNAVAILABLE: a later call may succeed)."""


Row = dict[str, Any]
Connection = psycopg.Connection[Row]


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


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **info)


class PostgresStore(Store):
    """`Store` on a PostgreSQL database, through a small connection pool (connections are
    checked before use, so one the server dropped is replaced instead of failing a call)."""

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        self._url = url
        self._crash_at = os.environ.get("HEALTHSCORE_STORE_CRASH")  # as in SqliteStore
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            timeout=_POOL_TIMEOUT_S,
            check=ConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": _CONNECT_TIMEOUT_S,
            },
            connection_class=psycopg.Connection[Row],
            name="healthscore-store",
        )
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._reachable = True  # as the watcher last saw it (always True unwatched)
        # One direct connection first: an unreachable database fails the start at once, with the
        # driver's reason, rather than as a pool timeout.
        try:
            conn = psycopg.connect(
                url, autocommit=True, row_factory=dict_row, connect_timeout=_CONNECT_TIMEOUT_S
            )
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailableError(f"{_redacted(url)}: cannot connect: {exc}") from None
        with conn:
            self._migrate(conn)
        self._pool.open(wait=True, timeout=_POOL_TIMEOUT_S)

    # Schema.

    def schema_version(self) -> int:
        with self._connection() as conn:
            return self._schema_version(conn)

    @staticmethod
    def _schema_version(conn: Connection) -> int:
        exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS e").fetchone()
        if exists is None or not exists["e"]:
            return 0
        row = conn.execute("SELECT MAX(version) AS v FROM schema_migrations").fetchone()
        return int(row["v"]) if row and row["v"] is not None else 0

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise SchemaTooNewError(
                f"{_redacted(self._url)}: schema version {version} is newer than this healthscore"
                f" knows ({len(MIGRATIONS)}); upgrade healthscore to open it"
            )

    def _migrate(self, conn: Connection) -> None:
        version = self._schema_version(conn)
        self._refuse_newer(version)
        for target in range(version + 1, len(MIGRATIONS) + 1):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
                conn.execute(_MIGRATIONS_TABLE)
                # Another replica may have applied this step since we looked.
                current = self._schema_version(conn)
                self._refuse_newer(current)
                if current >= target:
                    continue
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_time) VALUES (%s, %s)",
                    (target, _micros(_now())),
                )

    # Transactions.

    def _crash(self, write: str, point: str) -> None:
        if self._crash_at is not None and self._crash_at == f"{write}:{point}":
            os.kill(os.getpid(), signal.SIGKILL)

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A pooled connection; a lost database is UNAVAILABLE (at once while the watcher knows
        it is lost, else once the pool gave up waiting for a connection)."""
        if not self._reachable:
            raise DatabaseUnavailableError(f"{_redacted(self._url)}: the database is unreachable")
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise DatabaseUnavailableError(f"{_redacted(self._url)}: {exc}") from exc

    @contextmanager
    def _transaction(self, write: str) -> Iterator[Connection]:
        """One write transaction holding the database-wide write lock from its first statement."""
        with self._connection() as conn:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                yield conn
                self._crash(write, "before_commit")
            self._crash(write, "after_commit")

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        with self._connection() as conn:
            return conn.execute(sql.encode(), parameters).fetchall()

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
            "SELECT body, etag, update_time, updater FROM drafts WHERE model = %s", (model,)
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
        rows = self._read(
            "SELECT * FROM versions WHERE model = %s AND number = %s", (model, number)
        )
        return _version(rows[0]) if rows else None

    def latest_version(self, model: int) -> VersionRecord | None:
        rows = self._read(
            "SELECT * FROM versions WHERE model = %s ORDER BY number DESC LIMIT 1", (model,)
        )
        return _version(rows[0]) if rows else None

    def list_versions(
        self, model: int, *, limit: int, before: int | None = None
    ) -> list[VersionRecord]:
        """Newest first: at most `limit` versions numbered below `before` (None: all)."""
        _check_limit(limit)
        rows = self._read(
            "SELECT * FROM versions WHERE model = %s AND (%s::integer IS NULL OR number < %s)"
            " ORDER BY number DESC LIMIT %s",
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
            "SELECT * FROM activations WHERE (%s::integer IS NULL OR number < %s)"
            " ORDER BY number DESC LIMIT %s",
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
                "INSERT INTO catalog (id, body, revision, etag, update_time, updater)"
                " VALUES (1, %s, %s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body,"
                " revision = EXCLUDED.revision, etag = EXCLUDED.etag,"
                " update_time = EXCLUDED.update_time, updater = EXCLUDED.updater",
                (catalog, revision, record.etag, _micros(record.update_time), updater),
            )
        return record

    def put_draft(
        self, model: int, draft: bytes, *, updater: str, expected_etag: str | None
    ) -> DraftRecord:
        with self._transaction("put_draft") as conn:
            row = conn.execute(
                "SELECT revision, etag FROM drafts WHERE model = %s", (model,)
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
                    "SELECT revision, etag FROM drafts WHERE model = %s", (model,)
                ).fetchone()
                _check_etag(f"draft of model {model}", row, expected_draft_etag)
            return _insert_version(conn, model, ruleset, comment=comment, creator=creator)

    def activate(self, model: int, number: int, *, actor: str, comment: str) -> ActivationRecord:
        """Records an activation of an existing version (NotFoundError otherwise); the previous
        version is the currently active one."""
        with self._transaction("activate") as conn:
            exists = conn.execute(
                "SELECT 1 FROM versions WHERE model = %s AND number = %s", (model, number)
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
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM catalog) OR EXISTS (SELECT 1 FROM drafts)"
                " OR EXISTS (SELECT 1 FROM versions) OR EXISTS (SELECT 1 FROM activations)"
                " AS has_data"
            ).fetchone()
            if row is not None and row["has_data"]:
                return False
            now = _now()
            conn.execute(
                "INSERT INTO catalog (id, body, revision, etag, update_time, updater)"
                " VALUES (1, %s, 1, %s, %s, %s)",
                (catalog, _etag(1), _micros(now), actor),
            )
            for model, draft in drafts.items():
                _write_draft(conn, DraftRecord(model, draft, _etag(1), now, actor), 1)
            if publish is not None:
                model, ruleset = publish
                version = _insert_version(
                    conn, model, ruleset, comment=_INITIAL_COMMENT, creator=actor
                )
                _insert_activation(
                    conn, model, version.number, actor=actor, comment=_INITIAL_COMMENT
                )
        return True

    # Activations and reachability, pushed.

    def watch(
        self, on_activation: Callable[[], None], on_reachable: Callable[[bool], None]
    ) -> None:
        """Starts a thread that LISTENs on its own connection: `on_activation()` runs after every
        activation committed by any replica (and after each reconnection, as notifications sent
        meanwhile are lost); `on_reachable(False)` when the connection is lost, `(True)` once it
        is back (retried every half second). Callbacks run on that thread. Once per store."""
        if self._watcher is not None:
            raise RuntimeError("the store is already watched")
        self._watcher = threading.Thread(
            target=self._watch,
            args=(on_activation, on_reachable),
            name="store-watch",
            daemon=True,
        )
        self._watcher.start()

    def _watch(
        self, on_activation: Callable[[], None], on_reachable: Callable[[bool], None]
    ) -> None:
        reachable = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self._url, autocommit=True, connect_timeout=_CONNECT_TIMEOUT_S
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if not reachable:
                        reachable = self._reachable = True
                        log.warning("database_reachable", url=_redacted(self._url))
                        on_reachable(True)
                    on_activation()  # whatever happened while not listening
                    polled = time.monotonic()
                    while not self._stop.is_set():
                        got = False
                        for _ in conn.notifies(timeout=_WATCH_CHECK_S):
                            got = True
                            break  # one re-read covers every activation so far
                        if not got:
                            conn.execute("SELECT 1")  # a silent loss shows here
                        if got or time.monotonic() - polled > _WATCH_POLL_S:
                            on_activation()
                            polled = time.monotonic()
            except (psycopg.Error, DatabaseUnavailableError) as exc:
                if self._stop.is_set():
                    return
                if reachable:
                    reachable = self._reachable = False
                    log.warning("database_unreachable", url=_redacted(self._url), error=str(exc))
                    on_reachable(False)
                self._stop.wait(_WATCH_RETRY_S)
            except Exception:  # a callback failed: keep watching
                log.exception("store_watch_callback_failed", url=_redacted(self._url))
                self._stop.wait(_WATCH_RETRY_S)

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=_WATCH_CHECK_S + _CONNECT_TIMEOUT_S)
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _check_etag(what: str, row: Row | None, expected: str | None) -> None:
    if expected is None:
        return
    if row is None or row["etag"] != expected:
        raise StaleEtagError(f"the {what} has changed since etag {expected!r} was read")


def _write_draft(conn: Connection, record: DraftRecord, revision: int) -> None:
    conn.execute(
        "INSERT INTO drafts (model, body, revision, etag, update_time, updater)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (model) DO UPDATE SET body = EXCLUDED.body, revision = EXCLUDED.revision,"
        " etag = EXCLUDED.etag, update_time = EXCLUDED.update_time, updater = EXCLUDED.updater",
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
    conn: Connection, model: int, ruleset: bytes, *, comment: str, creator: str
) -> VersionRecord:
    # Under the write lock: no other writer, of any replica, can take the same number.
    row = conn.execute(
        "SELECT COALESCE(MAX(number), 0) + 1 AS n FROM versions WHERE model = %s", (model,)
    ).fetchone()
    assert row is not None
    record = VersionRecord(model, row["n"], ruleset, comment, creator, _now())
    conn.execute(
        "INSERT INTO versions (model, number, ruleset, comment, creator, create_time)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (model, record.number, ruleset, comment, creator, _micros(record.create_time)),
    )
    return record


def _insert_activation(
    conn: Connection, model: int, version: int, *, actor: str, comment: str
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
        " actor, comment, activate_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
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
    # Delivered at COMMIT only, to every listening replica.
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(record.number)))
    return record
