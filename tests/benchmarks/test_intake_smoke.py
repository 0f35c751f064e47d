"""The intake benchmark runs end to end on a small workload and checks what it stored (no timing
asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import intake

pytestmark = pytest.mark.timeout(240)


def test_the_intake_benchmark_runs_and_checks_what_it_stored(tmp_path: Path) -> None:
    output = tmp_path / "intake.json"
    assert intake.main(["--accounts", "2000", "--rpc-seconds", "0.3", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert [r["name"].split(" (")[0] for r in report["bulk"]] == [
        "rescore",
        "SQLite floor",
        "healthscore ingest",
    ]
    assert all(r["values"] > 2000 * 19 for r in report["bulk"])
    assert [r["name"].split(",")[0] for r in report["rpc"]] == [
        "ScoreAccounts",
        "WriteAccountData",
    ]
