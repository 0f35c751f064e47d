"""`kill -9` durability: a store killed at any moment reopens entirely before or entirely after
each write.

Random kills hit a worker that publishes, activates and edits drafts in a loop; deterministic ones
use the store's crash hook (`HEALTHSCORE_STORE_CRASH`) to die just before or just after COMMIT."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from healthscore.store import Store
from tests.store.support import MULTIDIMENSIONAL, check_invariants, open_store, ruleset_body
from tests.store.worker import initialize

REPO = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "-m", "tests.store.worker"]


def run_worker(*args: str, crash: str) -> int:
    env = {**os.environ, "HEALTHSCORE_STORE_CRASH": crash}
    return subprocess.run([*WORKER, *args], cwd=REPO, env=env, timeout=60, check=False).returncode


@pytest.mark.timeout(240)
def test_random_kills_leave_every_acknowledged_write_and_no_partial_one(target):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for round_ in range(10):
        worker = subprocess.Popen(
            [*WORKER, "loop", target], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        acknowledged: list[list[str]] = []
        ready = threading.Event()

        def read(stdout=worker.stdout, acknowledged=acknowledged, ready=ready) -> None:
            for line in stdout:
                acknowledged.append(line.split())
                ready.set()

        reader = threading.Thread(target=read)
        reader.start()
        try:
            assert ready.wait(timeout=60), "the worker never started writing"
            time.sleep(rng.uniform(0.0, 0.4))  # when the kill lands: the random moment
        finally:
            worker.kill()  # SIGKILL
            worker.wait()
            reader.join()
        assert worker.returncode == -signal.SIGKILL

        with open_store(target) as store:
            context = f"seed {seed}, round {round_}"
            check_invariants(store)
            activations = len(store.list_activations(limit=1_000_000))
            for line in acknowledged:
                if line[0] == "published":
                    model, number = int(line[1]), int(line[2])
                    assert store.get_version(model, number) is not None, context
                elif line[0] == "activated":
                    assert int(line[1]) <= activations, context
    with open_store(target) as store:
        assert len(store.all_versions()) > 10, "the worker hardly wrote: kills proved little"


def prepared(target: str) -> Store:
    """An initialized store with version 2 of Multidimensional published, not active."""
    store = open_store(target)
    initialize(store)
    store.publish(
        MULTIDIMENSIONAL,
        ruleset_body(MULTIDIMENSIONAL, 2),
        comment="",
        creator="test",
        expected_draft_etag=None,
    )
    return store


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_kill_during_publish(target, point):
    prepared(target).close()
    assert run_worker("publish", target, str(MULTIDIMENSIONAL), crash=f"publish:{point}") == (
        -signal.SIGKILL
    )
    with open_store(target) as store:
        check_invariants(store)
        version = store.get_version(MULTIDIMENSIONAL, 3)
        if point == "before_commit":
            assert version is None
            assert store.latest_version(MULTIDIMENSIONAL).number == 2
        else:
            assert version.ruleset == ruleset_body(MULTIDIMENSIONAL, 3)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_kill_during_activation(target, point):
    with prepared(target) as store:
        before = store.active()
    crash = f"activate:{point}"
    assert run_worker("activate", target, str(MULTIDIMENSIONAL), "2", crash=crash) == (
        -signal.SIGKILL
    )
    with open_store(target) as store:
        check_invariants(store)
        active = store.active()
        if point == "before_commit":
            assert active == before
        else:
            assert (active.number, active.model, active.version) == (2, MULTIDIMENSIONAL, 2)
            assert (active.previous_model, active.previous_version) == (MULTIDIMENSIONAL, 1)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_kill_during_first_start(target, point):
    assert run_worker("initialize", target, crash=f"initialize:{point}") == -signal.SIGKILL
    with open_store(target) as store:
        check_invariants(store)
        if point == "before_commit":
            assert store.get_catalog() is None
            assert store.all_versions() == []
            assert store.active() is None
            assert store.initialize(catalog=b"c", drafts={}, publish=None, actor="second start")
        else:
            assert store.get_catalog() is not None
            assert store.active().version == 1


@pytest.mark.timeout(60)
def test_the_crash_hook_fires_only_at_its_write(target):
    prepared(target).close()
    assert run_worker("publish", target, str(MULTIDIMENSIONAL), crash="activate:before_commit") == 0
    with open_store(target) as store:
        assert store.latest_version(MULTIDIMENSIONAL).number == 3
