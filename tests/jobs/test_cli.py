"""`healthscore rescore` on the command line: exit codes, progress bar, summary."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from healthscore import cli
from healthscore.jobs import rescore
from tests.jobs.support import accounts, config, read_rows, write

pytestmark = pytest.mark.timeout(60)


def _argv(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "rescore",
        "--input",
        str(tmp_path / "a.csv"),
        "--output",
        str(tmp_path / "out.parquet"),
        "--ruleset-file",
        str(Path(cli.__file__).parent / "defaults" / "ruleset.yaml"),
        "--as-of",
        "2026-11-01T00:00:00Z",
        *extra,
    ]


def test_the_summary_counts_ranks_rejections_and_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.csv", [*accounts(20), {"id": "x", "engagement_score": "nan?"}])
    summary_json = tmp_path / "summary.json"
    assert cli.main(_argv(tmp_path, "--summary-json", str(summary_json))) == cli.EXIT_OK
    err = capsys.readouterr().err
    for word in ("GOOD", "AVERAGE", "POOR", "UNKNOWN", "rejected: invalid value", "accounts/s"):
        assert word in err
    summary = json.loads(summary_json.read_text())
    assert summary["read"] == 21 and summary["scored"] == 20 and summary["rejected"] == 1
    assert sum(summary["ranks"].values()) == 20
    assert summary["accounts_per_second"] > 0


def test_quiet_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "a.csv", accounts(3))
    assert cli.main(_argv(tmp_path, "--quiet")) == cli.EXIT_OK
    assert capsys.readouterr() == ("", "")


def test_bad_input_exits_2_and_errors_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.csv", accounts(3))
    assert cli.main(_argv(tmp_path, "--from", "2026-10-01")) == cli.EXIT_BAD_INPUT
    assert cli.main([*_argv(tmp_path), "--data-dir", str(tmp_path)]) == cli.EXIT_BAD_INPUT
    missing = _argv(tmp_path)
    missing[missing.index("--ruleset-file") + 1] = str(tmp_path / "nope.yaml")
    assert cli.main(missing) == cli.EXIT_ERROR
    no_store = [a for a in _argv(tmp_path) if a not in ("--ruleset-file",)]
    no_store.remove(str(Path(cli.__file__).parent / "defaults" / "ruleset.yaml"))
    assert cli.main([*no_store, "--data-dir", str(tmp_path / "empty")]) == cli.EXIT_ERROR
    assert "error:" in capsys.readouterr().err


def test_the_progress_bar_shows_rate_and_eta_on_a_terminal(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", accounts(50))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=150)
    rescore.run_local(config(tmp_path / "a.csv", tmp_path / "out.parquet"), console=console)
    text = screen.getvalue()
    assert "rescore" in text and "50 accounts" in text and "/s" in text and "ETA" in text
    assert "100%" in text


def test_no_progress_bar_when_not_a_terminal_or_quiet() -> None:
    assert rescore.progress_for(Console(file=io.StringIO()), quiet=False) is None
    assert rescore.progress_for(Console(file=io.StringIO(), force_terminal=True), True) is None


_OWN_PROCESS = """
import json, sys
from healthscore import cli
sys.argv = ["healthscore", *sys.argv[1:]]
code = cli.main()
print(json.dumps({"code": code, "pandas": "pandas" in sys.modules}))
"""


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_job_in_its_own_process_runs_without_importing_pandas(
    tmp_path: Path, suffix: str
) -> None:
    """pyarrow would import pandas (0.3-0.4 s) on its first conversion; the job hides it, and
    every input and output format still works."""
    write(tmp_path / f"a.{suffix}", [*accounts(20), {"id": "x", "engagement_score": "nan?"}])
    argv = _argv(tmp_path, "--quiet", "--summary-json", str(tmp_path / "summary.json"))
    argv[argv.index("--input") + 1] = str(tmp_path / f"a.{suffix}")
    argv[argv.index("--output") + 1] = str(tmp_path / f"out.{suffix}")
    done = _python(_OWN_PROCESS, argv)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"code": cli.EXIT_OK, "pandas": False}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scored"] == 20 and summary["rejected"] == 1
    assert len(read_rows(tmp_path / f"out.{suffix}")) == 20


_AS_A_LIBRARY = """
import json, sys
import pyarrow as pa
from healthscore import cli
code = cli.main(sys.argv[1:])
import pandas as pd
dictionary = pa.types.is_dictionary(pa.array(pd.Series(["a", None], dtype="category")).type)
print(json.dumps({"code": code, "dictionary": dictionary}))
"""


def test_called_with_arguments_the_job_leaves_pandas_alone(tmp_path: Path) -> None:
    """Called with arguments (a library's or a test's process, which goes on after the job),
    the job does not hide pandas: pyarrow must go on recognising pandas objects after it."""
    write(tmp_path / "a.csv", accounts(3))
    done = _python(_AS_A_LIBRARY, _argv(tmp_path, "--quiet"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"code": cli.EXIT_OK, "dictionary": True}


def _python(code: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
