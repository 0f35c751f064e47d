"""The PostgreSQL schema: versioned in `schema_migrations`, applied on open, once, even by replicas
opening together; never touched when current; a newer one refused; a failing step rolled back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from healthscore.store import postgres
from healthscore.store.postgres import PostgresStore
from healthscore.store.sql import SchemaTooNewError
from tests.store.support import MULTIDIMENSIONAL, ruleset_body


def applied(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {name for (name,) in rows}


def test_a_fresh_database_gets_the_whole_schema_recorded(database_url):
    PostgresStore(database_url).close()
    assert applied(database_url) == list(range(1, len(postgres.MIGRATIONS) + 1))
    assert {"catalog", "drafts", "versions", "activations", "schema_migrations"} <= tables(
        database_url
    )


@pytest.mark.timeout(120)
def test_replicas_opening_together_apply_each_step_once(database_url):
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: PostgresStore(database_url), range(4)))
    for store in stores:
        store.close()
    assert applied(database_url) == list(range(1, len(postgres.MIGRATIONS) + 1))


@pytest.mark.timeout(60)
def test_reopening_a_current_database_writes_nothing(database_url):
    with PostgresStore(database_url) as store:
        store.publish(
            MULTIDIMENSIONAL,
            ruleset_body(MULTIDIMENSIONAL, 1),
            comment="",
            creator="ann",
            expected_draft_etag=None,
        )
    # Another session holds the migration lock: an open that tried to migrate would wait.
    with psycopg.connect(database_url, autocommit=True) as blocker:
        blocker.execute("SELECT pg_advisory_lock(%s)", (postgres._MIGRATE_LOCK,))
        opened: list[int] = []

        def reopen() -> None:
            with PostgresStore(database_url) as store:
                opened.append(store.latest_version(MULTIDIMENSIONAL).number)

        thread = threading.Thread(target=reopen, daemon=True)
        thread.start()
        thread.join(timeout=30)
        assert opened == [1], "opening a current database waited for the migration lock"
    assert applied(database_url) == list(range(1, len(postgres.MIGRATIONS) + 1))


def test_a_newer_schema_is_refused_untouched(database_url):
    PostgresStore(database_url).close()
    newer = len(postgres.MIGRATIONS) + 1
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 0)", (newer,))
    with pytest.raises(SchemaTooNewError, match=f"schema version {newer} is newer"):
        PostgresStore(database_url)
    assert applied(database_url)[-1] == newer


def test_an_old_schema_gets_only_the_missing_steps(database_url, monkeypatch):
    with PostgresStore(database_url) as store:
        store.put_catalog(b"kept", updater="ann", expected_etag=None)
    extra = ["CREATE TABLE extra (x INTEGER)", "INSERT INTO extra VALUES (1)"]
    monkeypatch.setattr(postgres, "MIGRATIONS", [*postgres.MIGRATIONS, extra])
    with PostgresStore(database_url) as store:
        assert store.get_catalog().catalog == b"kept"
        assert store.schema_version() == len(postgres.MIGRATIONS)
    assert applied(database_url) == list(range(1, len(postgres.MIGRATIONS) + 1))
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT x FROM extra").fetchall() == [(1,)]


def test_a_failing_step_is_rolled_back_whole(database_url, monkeypatch):
    PostgresStore(database_url).close()
    before = applied(database_url)
    broken = ["CREATE TABLE half (x INTEGER)", "INSERT INTO no_such_table VALUES (1)"]
    monkeypatch.setattr(postgres, "MIGRATIONS", [*postgres.MIGRATIONS, broken])
    with pytest.raises(psycopg.errors.UndefinedTable, match="no_such_table"):
        PostgresStore(database_url)
    assert applied(database_url) == before
    assert "half" not in tables(database_url)


def test_an_unreachable_database_is_a_clear_error_without_the_password():
    url = "postgresql://ann:secret-pw@127.0.0.1:1/none?connect_timeout=1"
    with pytest.raises(postgres.DatabaseUnavailableError, match="cannot connect") as raised:
        PostgresStore(url)
    assert "secret-pw" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
