"""The rescore benchmark runs end to end on a small workload (no timing asserts)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks import rescore as bench

pytestmark = pytest.mark.timeout(180)


def test_the_rescore_benchmark_runs_and_checks_results(tmp_path: Path) -> None:
    output = tmp_path / "rescore.json"
    assert bench.main(["--accounts", "3000", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    names = [row["name"] for row in report["results"]]
    assert names[:2] == [
        "polars script (read, score, write)",
        "polars script, dimension scores and ranks too",
    ]
    assert any("DIMENSIONS" in n for n in names)
    baselines = {row["name"]: row["baseline"] for row in report["results"]}
    assert baselines["rescore, view DIMENSIONS"] == names[1]
    assert baselines["rescore, view BASIC"] == names[0]
    # The Polars scripts use every core, as rescore does (not the core benchmark's one thread).
    cores = len(os.sched_getaffinity(0))
    assert [row.get("polars_threads") for row in report["results"][:2]] == [cores, cores]
    assert all(row["accounts_per_s"] > 0 and row["peak_rss_mib"] > 0 for row in report["results"])
    assert {s["stage"].split(",")[0] for s in report["stages"]} >= {"parquet decode (pyarrow)"}
    # The bound with the job's fixed cost: a 1,000-account job's wall time, then the stages.
    assert report["start_seconds"] > 0
    for bound in report["bounds"]:
        stages_only = 3000 * bound["cpu_ns_per_account"] / 1e9 / bound["cores"]
        assert bound["least_seconds_with_start"] == pytest.approx(
            report["start_seconds"] + stages_only, abs=2e-3
        )
