"""kill -9 during intake: every acknowledged write is there after a restart, no write is there in
part, and every account's current health follows its data (written in the same transaction)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from healthscore.server.app import App
from healthscore.store.accounts import ACCOUNTS_FILE
from tests.accounts.worker import BASE_US, BATCH

REPO = Path(__file__).resolve().parents[2]
WORKER = [sys.executable, "-m", "tests.accounts.worker"]


def check(data_dir: Path, acknowledged: list[int]) -> int:
    """Asserts the invariants; returns how many batches are stored."""
    App.open(data_dir).close()  # a restart: opens (and recovers) both stores
    with sqlite3.connect(data_dir / ACCOUNTS_FILE) as conn:
        per_batch = dict(
            conn.execute(
                "SELECT (observe_time - ?) / 1000, count(*) FROM account_data GROUP BY 1",
                (BASE_US,),
            ).fetchall()
        )
        # Each batch entirely there or entirely not.
        assert set(per_batch.values()) <= {BATCH}, per_batch
        for k in acknowledged:
            assert per_batch.get(k) == BATCH, f"acknowledged batch {k} lost"
        # Health exists for every account with data, computed from its latest record.
        stale = conn.execute(
            "SELECT d.account_id FROM (SELECT account_id, max(observe_time) AS latest"
            " FROM account_data GROUP BY account_id) d"
            " LEFT JOIN account_health h ON h.account_id = d.account_id"
            " WHERE h.data_time IS NOT d.latest"
        ).fetchall()
        assert stale == []
    return len(per_batch)


@pytest.mark.timeout(180)
def test_random_kills_lose_no_acknowledged_write(tmp_path):
    data_dir = tmp_path / "data"
    rng = random.Random(os.getpid())
    stored = 0
    for _ in range(4):
        worker = subprocess.Popen(
            [*WORKER, "loop", str(data_dir)], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        acknowledged: list[int] = []
        ready = threading.Event()

        def read(stdout=worker.stdout, acknowledged=acknowledged, ready=ready) -> None:
            for line in stdout:
                acknowledged.append(int(line.split()[1]))
                ready.set()

        reader = threading.Thread(target=read)
        reader.start()
        try:
            assert ready.wait(timeout=60), "the worker never acknowledged a write"
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            worker.kill()
            worker.wait()
            reader.join()
        assert worker.returncode == -signal.SIGKILL
        stored = check(data_dir, acknowledged)
    assert stored > 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_kill_inside_a_write(tmp_path, point):
    data_dir = tmp_path / "data"
    env = {**os.environ, "HEALTHSCORE_STORE_CRASH": f"write_data:{point}"}
    result = subprocess.run(
        [*WORKER, "once", str(data_dir)], cwd=REPO, env=env, timeout=60, check=False
    )
    assert result.returncode == -signal.SIGKILL
    stored = check(data_dir, [])
    assert stored == (0 if point == "before_commit" else 1)


@pytest.mark.timeout(180)
def test_an_ingest_killed_midway_and_run_again_stores_everything_once(tmp_path):
    data_dir = tmp_path / "data"
    App.open(data_dir).close()
    source = tmp_path / "accounts.csv"
    with source.open("w") as handle:
        handle.write("id,engagement_score\n")
        handle.writelines(f"acct-{i},{i % 100}\n" for i in range(20_000))
    argv = [
        *(sys.executable, "-m", "healthscore.cli", "ingest", str(source)),
        *("--data-dir", str(data_dir), "--quiet", "--batch-rows", "500"),
        *("--observe-time", "2026-11-30T00:00:00Z", "--errors", str(tmp_path / "e.csv")),
    ]
    job = subprocess.Popen(argv, cwd=REPO)
    # Killed once a few batches are in: mid-job, whatever the machine's speed.
    deadline = time.monotonic() + 120
    while job.poll() is None and time.monotonic() < deadline:
        with sqlite3.connect(data_dir / ACCOUNTS_FILE) as conn:
            if conn.execute("SELECT count(*) FROM account_data").fetchone()[0] >= 1_000:
                break
        time.sleep(0.01)
    job.kill()
    job.wait()
    assert job.returncode == -signal.SIGKILL, "the job ended before the kill"
    with sqlite3.connect(data_dir / ACCOUNTS_FILE) as conn:
        stored = conn.execute("SELECT count(*) FROM account_data").fetchone()[0]
        # Whole batches only, and every stored account has its health.
        assert stored % 500 == 0
        assert conn.execute("SELECT count(*) FROM account_health").fetchone()[0] == stored
    assert subprocess.run(argv, cwd=REPO, timeout=150, check=False).returncode == 0
    with sqlite3.connect(data_dir / ACCOUNTS_FILE) as conn:
        count, shortest, longest = conn.execute(
            "SELECT count(*), min(length(body)), max(length(body)) FROM account_data"
        ).fetchone()
        assert count == 20_000
        assert longest < 2 * shortest  # no record appended to itself by the second run
        assert conn.execute("SELECT count(*) FROM account_health").fetchone()[0] == 20_000
