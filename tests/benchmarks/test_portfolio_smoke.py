"""The portfolio benchmark runs end to end at a tiny size (no timing asserts: it must not rot);
its own check runs too: DuckDB's SQL over the stored day agrees with the portfolio summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import portfolio


@pytest.mark.timeout(300)
def test_portfolio_benchmark_runs_and_agrees_with_duckdb(tmp_path: Path) -> None:
    output = tmp_path / "portfolio.json"
    assert portfolio.main(["--accounts", "3000", "--repeats", "1", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    assert report["summary_all"]["accounts"] == 3000
    assert 0 < report["summary_owner"]["accounts"] < 3000
    assert isinstance(report["summary_all"]["duckdb_ms"], float)
