"""A damaged database file is refused when it is opened, with an error naming the file, instead
of being served until a read stumbles on the damage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healthscore.server.app import DATABASE_FILE
from healthscore.store import SqliteStore
from healthscore.store.sqlite import CorruptDatabaseError

ROOT = Path(__file__).resolve().parents[2]


def damage_the_middle(path: Path) -> None:
    """Overwrites pages in the middle of the file (not the header) with garbage."""
    size = path.stat().st_size
    page = 4096
    assert size >= 4 * page, "too small to damage only its middle"
    with path.open("r+b") as out:
        out.seek((size // page // 2) * page)
        out.write(b"\xa5\x5a" * page)


def filled_database(path: Path) -> None:
    import sqlite3

    with SqliteStore(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE filler (x BLOB)")
    conn.executemany("INSERT INTO filler VALUES (?)", [(bytes([i]) * 3000,) for i in range(64)])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def test_a_database_damaged_in_the_middle_is_refused_on_open(tmp_path: Path) -> None:
    path = tmp_path / "healthscore.db"
    filled_database(path)
    with SqliteStore(path):
        pass  # intact: opens
    damage_the_middle(path)
    with pytest.raises(CorruptDatabaseError, match=r"healthscore\.db") as caught:
        SqliteStore(path)
    assert "integrity" in str(caught.value)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "healthscore.db"
    path.write_bytes(b"not a database at all" * 1000)
    with pytest.raises(CorruptDatabaseError, match=r"healthscore\.db"):
        SqliteStore(path)


def test_serve_refuses_a_damaged_data_directory_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    filled_database(data_dir / DATABASE_FILE)
    damage_the_middle(data_dir / DATABASE_FILE)
    result = subprocess.run(
        [sys.executable, "-m", "healthscore.cli", "serve", "--port", "0", "--data-dir", data_dir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "server_started" not in result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "healthscore.db" in errors[0] and "integrity" in errors[0]
