"""The replicas benchmark runs end to end briefly (no timing asserts: it must not rot). Its own
check runs too: both replicas score like the SQLite server with the version activated on one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import replicas


@pytest.mark.timeout(300)
def test_replicas_benchmark_runs_every_case(tmp_path: Path) -> None:
    output = tmp_path / "replicas.json"
    argv = ["--seconds", "0.3", "--warmup", "0.1", "--repeats", "1", "--output", str(output)]
    assert replicas.main(argv) == 0
    report = json.loads(output.read_text())
    assert set(report["accounts_per_s"]) == {"sqlite", "postgres", "postgres x2"}
    assert all(rate > 0 for rate in report["accounts_per_s"].values())
    assert report["postgres_vs_sqlite"] > 0 and report["two_replicas_vs_one"] > 0
