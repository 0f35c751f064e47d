"""Every store test runs against both stores: the embedded SQLite file and PostgreSQL (a real
server: see `tests/postgres.py`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from healthscore.store import Store
from tests.store.support import open_store


@pytest.fixture(params=["sqlite", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path) -> str:
    """Where a store lives: a SQLite file's path or a PostgreSQL database's URL (empty)."""
    if request.param == "sqlite":
        return str(tmp_path / "healthscore.db")
    url: str = request.getfixturevalue("database_url")
    return url


@pytest.fixture
def store(target: str) -> Iterator[Store]:
    opened = open_store(target)
    try:
        yield opened
    finally:
        opened.close()
