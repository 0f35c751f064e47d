"""The rescore benchmark runs end to end on a small workload (no timing asserts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import rescore as bench

pytestmark = pytest.mark.timeout(180)


def test_the_rescore_benchmark_runs_and_checks_results(tmp_path: Path) -> None:
    output = tmp_path / "rescore.json"
    assert bench.main(["--accounts", "3000", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    names = [row["name"] for row in report["results"]]
    assert names[0].startswith("polars") and any("DIMENSIONS" in n for n in names)
    assert all(row["accounts_per_s"] > 0 and row["peak_rss_mib"] > 0 for row in report["results"])
    assert {s["stage"].split(",")[0] for s in report["stages"]} >= {"parquet decode (pyarrow)"}
