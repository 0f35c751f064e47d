"""The brief run of the atheris harness (tests/fuzz/request_path.py) that `make test` does: 2,000
inputs grown from the seeds by libFuzzer, in a child process (a crash of the core or a finding
ends it with a non-zero exit and the input saved)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("request_path.py")

pytestmark = pytest.mark.timeout(300)


def test_the_request_path_survives_2000_fuzzed_inputs(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    subprocess.run([sys.executable, str(HARNESS), "--write-seeds", str(seeds)], check=True)
    assert len(list(seeds.iterdir())) >= 7
    done = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "-runs=2000",
            "-seed=1",
            f"-artifact_prefix={tmp_path}/",
            str(seeds),
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    log = "\n".join(line for line in done.stderr.splitlines() if "Instrumenting" not in line)
    assert done.returncode == 0, log[-4000:]
    assert "Done 2000 runs" in done.stderr
