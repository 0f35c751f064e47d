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
once.

The `Store` methods themselves are `SqlStore`'s (`sql.py`), shared with the SQLite store: here
are the pool, the lock, the errors' mapping, the placeholders' translation and the notification.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from healthscore.errors import UnavailableError
from healthscore.store.base import ActivationRecord
from healthscore.store.sql import Connection as SqlConnection
from healthscore.store.sql import SqlStore, micros, now, refuse_newer

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


class _Translated:
    """A pooled connection taking the shared SQL's `?` placeholders (psycopg's are `%s`)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> psycopg.Cursor[Row]:
        return self._conn.execute(_translated(sql), parameters)


@functools.cache  # the SQL is the shared store's constant statements
def _translated(sql: str) -> bytes:
    return sql.replace("?", "%s").encode()


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable database URL>"
    info.pop("password", None)
    return psycopg.conninfo.make_conninfo("", **info)


class PostgresStore(SqlStore):
    """`Store` on a PostgreSQL database, through a small connection pool (connections are
    checked before use, so one the server dropped is replaced instead of failing a call)."""

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        super().__init__()
        self._url = url
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

    def _migrate(self, conn: Connection) -> None:
        version = self._schema_version(conn)
        refuse_newer(_redacted(self._url), version, len(MIGRATIONS))
        for target in range(version + 1, len(MIGRATIONS) + 1):
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
                conn.execute(_MIGRATIONS_TABLE)
                # Another replica may have applied this step since we looked.
                current = self._schema_version(conn)
                refuse_newer(_redacted(self._url), current, len(MIGRATIONS))
                if current >= target:
                    continue
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied_time) VALUES (%s, %s)",
                    (target, micros(now())),
                )

    # The dialect.

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
    def _begin(self) -> Iterator[_Translated]:
        """A transaction on a pooled connection holding the database-wide write lock from its
        first statement; the lock goes with COMMIT or ROLLBACK."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
            yield _Translated(conn)

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        with self._connection() as conn:
            return _Translated(conn).execute(sql, parameters).fetchall()

    def _activated(self, conn: SqlConnection, record: ActivationRecord) -> None:
        # Delivered at COMMIT only, to every listening replica.
        conn.execute("SELECT pg_notify(?, ?)", (CHANNEL, str(record.number)))

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
