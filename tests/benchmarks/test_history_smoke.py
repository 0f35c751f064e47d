"""The history benchmarks run end to end at tiny sizes (no timing asserts: they must not rot).
Their own checks run too: every stored day comes back in the trend, through our reader and
through DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import history, history_formats


@pytest.mark.timeout(300)
def test_history_benchmark_runs_both_parts(tmp_path: Path) -> None:
    output = tmp_path / "history.json"
    argv = ["--accounts", "300", "--days", "33", "--probes", "5", "--snapshot-accounts", "3000"]
    assert history.main([*argv, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["snapshot"]["accounts"] == 3000
    assert report["snapshot"]["rescore_accounts_per_s"] > 0
    assert report["trend"]["rows"] == 300 * 33
    assert set(report["trend"]["duckdb_delta_scan"]) == {"p50_ms", "p99_ms", "max_ms"}


@pytest.mark.timeout(300)
def test_table_format_comparison_runs(tmp_path: Path) -> None:
    output = tmp_path / "formats.json"
    assert (
        history_formats.main(
            ["--accounts", "500", "--days", "2", "--probes", "3", "--output", str(output)]
        )
        == 0
    )
    report = json.loads(output.read_text())
    assert {"delta", "iceberg"} <= set(report)
    assert report["iceberg"]["bytes_per_account_day"] > 0
