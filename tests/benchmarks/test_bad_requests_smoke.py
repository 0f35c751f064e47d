"""The bad-requests benchmark runs end to end at a tiny size (no memory asserts: RSS over a few
hundred calls is noise; the counting test is tests/e2e/test_bad_requests.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import bad_requests


@pytest.mark.timeout(120)
def test_bad_requests_benchmark_runs(tmp_path: Path) -> None:
    output = tmp_path / "bad_requests.json"
    argv = ["--calls", "200", "--warmup", "20", "--output", str(output)]
    assert bad_requests.main(argv) == 0
    report = json.loads(output.read_text())
    good, bad = report["phases"]
    assert good["codes"] == {"OK": 100, "ABORTED": 100}
    assert bad["codes"] == {"INVALID_ARGUMENT": 200}
    assert bad["logged"] == {"INVALID_ARGUMENT": 200}
