"""How the registry learns of activations made by other processes: by re-reading the store at
most every half second (SQLite), or only when told (PostgreSQL's watcher: no store call while
scoring, so a shared database adds nothing to a ScoreAccounts call)."""

from __future__ import annotations

import time

from healthscore.domain import bootstrap
from healthscore.domain.registry import ACTIVE_CHECK_SECONDS, Registry
from healthscore.store import SqliteStore


class CountingStore(SqliteStore):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.active_reads = 0

    def active(self):
        self.active_reads += 1
        return super().active()


def test_a_polling_registry_rereads_the_active_version(tmp_path) -> None:
    with CountingStore(tmp_path / "healthscore.db") as store:
        bootstrap.initialize(store)
        registry = Registry(store)
        registry.refresh_active()
        before = store.active_reads
        time.sleep(ACTIVE_CHECK_SECONDS * 1.5)
        registry.active()
        assert store.active_reads == before + 1


def test_a_pushed_registry_never_reads_the_store_while_scoring(tmp_path) -> None:
    with CountingStore(tmp_path / "healthscore.db") as store:
        bootstrap.initialize(store)
        registry = Registry(store, poll_seconds=None)
        registry.refresh_active()  # what the store's watcher calls on each activation
        before = store.active_reads
        time.sleep(ACTIVE_CHECK_SECONDS * 1.5)
        for _ in range(100):
            assert registry.active().name == "models/multidimensional/versions/1"
        assert store.active_reads == before
