"""`healthscore rescore` on Parquet files whose footers lie about their row counts: a clean error
naming the file, and nothing left behind (no output, no temporary file)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from healthscore import cli
from tests.jobs.support import accounts, write

pytestmark = pytest.mark.timeout(120)

ROWS = 1234  # its zigzag varint (a4 13) appears in the footer only as a row or value count


def _zigzag_varint(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while True:
        low, z = z & 0x7F, z >> 7
        out.append(low | 0x80 if z else low)
        if not z:
            return bytes(out)


def damaged(path: Path, claim: int) -> Path:
    """A Parquet file of `ROWS` accounts in one row group whose footer claims `claim` rows: the
    file's, the row group's and every column chunk's count (Thrift compact i64 fields
    following the field before them: header byte 0x16)."""
    write(path, accounts(ROWS))
    pq.write_table(pq.read_table(path), path, row_group_size=ROWS)
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[-8:-4])
    footer = data[-8 - length : -8]
    honest = b"\x16" + _zigzag_varint(ROWS)
    assert footer.count(honest) >= 2  # the file's count and the row group's at least
    forged = footer.replace(honest, b"\x16" + _zigzag_varint(claim))
    path.write_bytes(data[: -8 - length] + forged + struct.pack("<I", len(forged)) + b"PAR1")
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_rows == claim and metadata.row_group(0).num_rows == claim
    return path


def _argv(source: Path, output: Path) -> list[str]:
    return [
        "rescore",
        "--input",
        str(source),
        "--output",
        str(output),
        "--ruleset-file",
        str(Path(cli.__file__).parent / "defaults" / "ruleset.yaml"),
        "--as-of",
        "2026-11-01T00:00:00Z",
        "--quiet",
    ]


def test_a_footer_claiming_2_33_rows_fails_cleanly_and_leaves_nothing(tmp_path: Path) -> None:
    """It used to abort the process (exit 134) sizing the duplicate check, leaving a `.tmp`."""
    source = damaged(tmp_path / "in" / "lying.parquet", 2**33)
    output = tmp_path / "out" / "scores.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "healthscore.cli", *_argv(source, output)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == cli.EXIT_ERROR, done.stderr[-2000:]
    assert "8,589,934,592 rows" in done.stderr and str(source) in done.stderr
    assert "Traceback" not in done.stderr and "panicked" not in done.stderr
    assert not output.parent.exists() or list(output.parent.iterdir()) == []


def test_a_footer_claiming_more_rows_than_the_data_holds_is_a_damaged_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pyarrow stops quietly where the data ends: the job used to score 1,234 rows of a file that
    claims 5,000 and report success, with row numbers the footer made up."""
    source = damaged(tmp_path / "in" / "short.parquet", 5000)
    output = tmp_path / "out" / "scores.parquet"
    assert cli.main(_argv(source, output)) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "declares 5,000 rows" in err and "holds 1,234" in err and "damaged" in err
    assert list(output.parent.iterdir()) == []


_TERMINATED_MID_JOB = """
import os, signal, sys
from pathlib import Path
from healthscore.jobs import rescore
from tests.jobs.support import config

def stop(result):
    os.kill(os.getpid(), signal.SIGTERM)  # a scheduler's stop, at the first scored chunk

rescore.run_local(config(Path(sys.argv[1]), Path(sys.argv[2])), quiet=True, on_chunk=stop)
print("finished")
"""


def test_a_job_stopped_by_sigterm_leaves_nothing_behind(tmp_path: Path) -> None:
    """SIGTERM (a scheduler or `kill`) used to end the process where it stood, leaving the staged
    output and errors file (`.tmp-<pid>`); it now unwinds the job like Ctrl-C does."""
    source = write(tmp_path / "in" / "a.csv", accounts(50))
    output = tmp_path / "out" / "scores.parquet"
    done = subprocess.run(
        [sys.executable, "-c", _TERMINATED_MID_JOB, str(source), str(output)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 128 + 15, (done.returncode, done.stderr[-2000:])
    assert "finished" not in done.stdout
    assert list(output.parent.iterdir()) == []
