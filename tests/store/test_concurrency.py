"""No lost updates: writers in several threads and in several processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from healthscore.errors import StaleEtagError
from healthscore.store import Store
from tests.store.support import MULTIDIMENSIONAL, open_store
from tests.store.worker import increment_draft

REPO = Path(__file__).resolve().parents[2]


def create_counter(store: Store) -> None:
    store.put_draft(MULTIDIMENSIONAL, b"0", updater="test", expected_etag=None)


def assert_no_lost_updates(store: Store, writers: list[str], count: int) -> None:
    versions = store.list_versions(MULTIDIMENSIONAL, limit=len(writers) * count + 1)
    assert sorted(v.number for v in versions) == list(range(1, len(writers) * count + 1))
    assert Counter(v.creator for v in versions) == dict.fromkeys(writers, count)
    assert store.get_draft(MULTIDIMENSIONAL).draft == str(len(writers) * count).encode()


@pytest.mark.timeout(120)
def test_threads_publish_and_update_without_lost_updates(target):
    writers, count = [f"thread-{i}" for i in range(8)], 25
    start = threading.Barrier(len(writers))
    with open_store(target) as store:
        create_counter(store)

        def write(name: str) -> None:
            start.wait()
            for _ in range(count):
                store.publish(
                    MULTIDIMENSIONAL, b"", comment="", creator=name, expected_draft_etag=None
                )
                increment_draft(store, MULTIDIMENSIONAL, name)

        with ThreadPoolExecutor(len(writers)) as pool:
            for done in [pool.submit(write, name) for name in writers]:
                done.result()
        assert_no_lost_updates(store, writers, count)


@pytest.mark.timeout(120)
def test_processes_publish_and_update_without_lost_updates(target):
    with open_store(target) as store:
        create_counter(store)
    writers, count = ["process-a", "process-b", "process-c"], 40
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.store.worker",
                "race",
                target,
                str(MULTIDIMENSIONAL),
                str(count),
                name,
            ],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in writers
    ]
    try:
        for process in processes:
            assert process.stdout.readline() == "ready\n"
        for process in processes:  # all have opened the store: start them together
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            process.communicate(timeout=100)
            assert process.returncode == 0
    finally:
        for process in processes:
            process.kill()
            process.wait()
    with open_store(target) as store:
        assert_no_lost_updates(store, writers, count)


@pytest.mark.timeout(120)
def test_racing_conditional_writes_exactly_one_wins(target):
    """Writers on connections of their own (as replicas are) all hold the same etag and write at
    once: one write succeeds, every other one is stale, round after round."""
    writers = 4
    stores = [open_store(target) for _ in range(writers)]
    try:
        etag = stores[0].put_draft(MULTIDIMENSIONAL, b"0", updater="t", expected_etag=None).etag
        for round_ in range(5):
            start = threading.Barrier(writers)

            def write(i: int, etag: str = etag, start: threading.Barrier = start) -> str | None:
                start.wait()
                try:
                    return (
                        stores[i]
                        .put_draft(
                            MULTIDIMENSIONAL, f"{i}".encode(), updater=f"w{i}", expected_etag=etag
                        )
                        .etag
                    )
                except StaleEtagError:
                    return None

            with ThreadPoolExecutor(writers) as pool:
                results = list(pool.map(write, range(writers)))
            winners = [r for r in results if r is not None]
            assert len(winners) == 1, f"round {round_}: {len(winners)} writers won"
            assert stores[0].get_draft(MULTIDIMENSIONAL).etag == winners[0]
            etag = winners[0]
    finally:
        for store in stores:
            store.close()
