"""The core benchmark runs end to end on a small workload (no timing asserts: it must not rot)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import core


def test_core_benchmark_runs_and_checks_every_path(tmp_path: Path) -> None:
    output = tmp_path / "core.json"
    argv = ["--accounts", "3000", "--rows-accounts", "500", "--reference-accounts", "50"]
    assert core.main([*argv, "--repeats", "1", "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    names = [row["name"] for row in report["results"]]
    assert any("arrow" in n and "1 thread" in n for n in names)
    assert any("polars" in n for n in names)
    assert any("protobuf row bytes" in n for n in names)
    assert any("python reference" in n for n in names)
    assert all(row["accounts_per_s"] > 0 for row in report["results"])
