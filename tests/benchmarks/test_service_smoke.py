"""The service benchmark runs end to end at tiny sizes (no timing asserts: it must not rot). Its
own checks run too: the three servers score alike, the columnar form like the rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import service


@pytest.mark.timeout(300)
def test_service_benchmark_runs_every_case(tmp_path: Path) -> None:
    output = tmp_path / "service.json"
    # ghz's rows when a benchmark run installed it already (installing needs Go and a network).
    ghz = ["--no-ghz"] if not (service.GHZ_CACHE / "bin" / "ghz").exists() else []
    argv = ["--sizes", "1,20", "--columnar-accounts", "50", "--seconds", "0.3", "--warmup", "0.1"]
    assert service.main([*argv, "--repeats", "1", *ghz, "--output", str(output)]) == 0
    report = json.loads(output.read_text())
    cases = {(r["server"], r["client"], r["name"]) for r in report["results"]}
    python = "async python"
    assert ("1 worker", python, "empty RPC (health Check)") in cases
    assert ("1 worker", python, "ScoreAccounts rows x20") in cases
    assert ("1 worker", python, "ScoreAccounts columnar x50") in cases
    assert ("1 worker", python, "StreamScoreAccounts rows x20") in cases
    assert ("naive", python, "naive ScoreAccounts rows x20") in cases
    assert ("naive", python, "bare grpcio empty RPC") in cases
    assert [b["case"] for b in report["bounds"]] == [
        "health Check (interceptors + log line)",
        "ScoreAccounts rows x1",
    ]
    assert ("2 workers", python, "ScoreAccounts rows x20") in cases
    assert all(r["calls_per_s"] > 0 for r in report["results"])
    assert {t["target"] for t in report["targets"] if t["tool"] == python} == {
        "rows x20: accounts/s",
        "rows x20 vs naive",
        "rows x1 vs empty RPC",
        "columnar: accounts/s",
    }
    # Both workers of the 2-worker server took calls.
    assert len(report["scaling"][0]["calls_per_process"]) == 2
