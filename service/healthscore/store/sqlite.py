"""The embedded store: one SQLite file (`<data-dir>/healthscore.db`) behind the `Store` interface.

Durability: WAL with `synchronous=FULL`, so a commit that returned is on disk and a `kill -9` at
any moment leaves each write entirely done or not at all. Every write runs in `BEGIN IMMEDIATE`,
which takes the database's write lock before the first read: an etag check or a `max + 1` and the
write that depends on it cannot interleave with another writer, in this process or another one.

The `Store` methods themselves are `SqlStore`'s (`sql.py`), shared with the PostgreSQL store.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from healthscore.errors import HealthScoreError

# SchemaTooNewError re-exported: the account store and the tests import it from here.
from healthscore.store.sql import SchemaTooNewError as SchemaTooNewError
from healthscore.store.sql import SqlStore, refuse_newer

#: The embedded store's file in a data directory (the server, the jobs and the CLI open it).
DATABASE_FILE = "healthscore.db"

_BUSY_TIMEOUT_S = 10.0

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


def connect(
    path: Path, *, page_size: int | None = None, pragmas: Sequence[str] = ()
) -> sqlite3.Connection:
    """A connection to the SQLite file `path` as the stores use it (this one and the account
    store, `store/accounts.py`): no implicit transactions (every one is explicit, `begin`), WAL
    with `synchronous=FULL`, then `pragmas`; a file that is damaged or not a database is refused
    (CorruptDatabaseError naming it). `page_size` takes effect only on a new, empty file."""
    # isolation_level=None: no implicit BEGINs; every transaction is explicit.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT_S
    )
    try:
        try:
            if page_size is not None:
                conn.execute(f"PRAGMA page_size = {int(page_size)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise opening(path, exc) from exc
        if mode != "wal":
            raise RuntimeError(f"{path}: cannot use WAL journaling (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        for pragma in pragmas:
            conn.execute(pragma)
        check_integrity(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(
    conn: sqlite3.Connection,
    path: Path,
    migrations: Sequence[Sequence[str]],
    transaction: Callable[[str], AbstractContextManager[object]],
) -> None:
    """Brings the file's schema to `len(migrations)`: step i (from 0) takes `PRAGMA user_version`
    from i to i + 1 in its own `transaction("migrate")`; a newer schema is refused."""

    def user_version() -> int:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    version = user_version()
    refuse_newer(str(path), version, len(migrations))
    for target in range(version + 1, len(migrations) + 1):
        with transaction("migrate"):
            # Another process may have applied this step since we looked.
            current = user_version()
            refuse_newer(str(path), current, len(migrations))
            if current >= target:
                continue
            for statement in migrations[target - 1]:
                conn.execute(statement)
            # user_version lives in the database header: it commits with the step.
            conn.execute(f"PRAGMA user_version = {target}")


@contextmanager
def begin(lock: threading.Lock, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` under `lock`: SQLite's write lock from the transaction's first
    statement; committed when the block ends, rolled back when it raises."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


class SqliteStore(SqlStore):
    """`Store` on one SQLite file.

    Threads share one connection behind a lock: SQLite admits one writer at a time anyway, store
    calls are few and short next to scoring (the active ruleset is compiled once and cached), and
    one connection makes `close` simple and exact. Processes coordinate through SQLite's file
    locks and busy timeout.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._conn = connect(path, pragmas=["PRAGMA foreign_keys = ON"])
        try:
            self._conn.row_factory = sqlite3.Row
            migrate(self._conn, path, MIGRATIONS, self._transaction)
        except BaseException:
            self._conn.close()
            raise

    # The dialect.

    def _begin(self) -> AbstractContextManager[sqlite3.Connection]:
        return begin(self._lock, self._conn)

    def _read(self, sql: str, parameters: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, parameters).fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()
