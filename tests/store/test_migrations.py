"""The schema: created on first open, upgraded step by step, never touched when current, and a
newer one refused."""

from __future__ import annotations

import sqlite3
import time

import pytest

from healthscore.store import SqliteStore, sqlite
from tests.store.support import MULTIDIMENSIONAL, ruleset_body


@pytest.fixture
def path(tmp_path):
    return tmp_path / "healthscore.db"


def user_version(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def test_a_fresh_database_gets_the_whole_schema_in_wal_mode(path):
    SqliteStore(path).close()
    assert user_version(path) == len(sqlite.MIGRATIONS)
    assert {"catalog", "drafts", "versions", "activations"} <= tables(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_connection_is_durable_and_checks_foreign_keys(path):
    with SqliteStore(path) as store:
        # Per-connection settings: only the store's own connection can show them.
        conn = store._conn
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_reopening_a_current_database_writes_nothing(path):
    with SqliteStore(path) as store:
        store.publish(
            MULTIDIMENSIONAL,
            ruleset_body(MULTIDIMENSIONAL, 1),
            comment="",
            creator="ann",
            expected_draft_etag=None,
        )
    # Another connection holds the write lock: an open that tried to write would wait for it.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with SqliteStore(path) as store:
            assert store.latest_version(MULTIDIMENSIONAL).number == 1
        assert time.monotonic() - started < 1.0
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert user_version(path) == len(sqlite.MIGRATIONS)


def test_a_newer_schema_is_refused_untouched(path):
    SqliteStore(path).close()
    newer = len(sqlite.MIGRATIONS) + 1
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    with pytest.raises(sqlite.SchemaTooNewError, match=f"schema version {newer} is newer"):
        SqliteStore(path)
    assert user_version(path) == newer


def test_an_old_schema_gets_only_the_missing_steps(path, monkeypatch):
    with SqliteStore(path) as store:
        store.put_catalog(b"kept", updater="ann", expected_etag=None)
    extra = ["CREATE TABLE extra (x INTEGER)", "INSERT INTO extra VALUES (1)"]
    monkeypatch.setattr(sqlite, "MIGRATIONS", [*sqlite.MIGRATIONS, extra])
    with SqliteStore(path) as store:
        assert store.get_catalog().catalog == b"kept"
    assert user_version(path) == len(sqlite.MIGRATIONS)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT x FROM extra").fetchall() == [(1,)]


def test_a_failing_step_is_rolled_back_whole(path, monkeypatch):
    SqliteStore(path).close()
    current = user_version(path)
    broken = ["CREATE TABLE half (x INTEGER)", "INSERT INTO no_such_table VALUES (1)"]
    monkeypatch.setattr(sqlite, "MIGRATIONS", [*sqlite.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        SqliteStore(path)
    assert user_version(path) == current
    assert "half" not in tables(path)
