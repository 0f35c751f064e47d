"""An interrupted job leaves nothing that looks complete (temporary names, renamed at the end)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from healthscore.errors import InvalidInputError
from healthscore.jobs import sinks
from tests.jobs.support import accounts, run, write

pytestmark = pytest.mark.timeout(60)


def _fail_on_write(monkeypatch: pytest.MonkeyPatch, after: int) -> None:
    real = sinks._Parquet.write
    calls = {"n": 0}

    def failing(self: sinks._Parquet, batch: pa.RecordBatch) -> None:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError("disk full (injected)")
        real(self, batch)

    monkeypatch.setattr(sinks._Parquet, "write", failing)


@pytest.mark.parametrize("pipeline", [True, False])
def test_a_write_failure_mid_way_leaves_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool
) -> None:
    write(tmp_path / "in" / "a.csv", accounts(100))
    _fail_on_write(monkeypatch, after=2)
    with pytest.raises(OSError, match="injected"):
        run(tmp_path / "in", tmp_path / "out.parquet", batch_rows=10, pipeline=pipeline)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no output, no leftovers


def test_a_partitioned_output_appears_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in ("2026-10-01", "2026-10-02"):
        write(tmp_path / "in" / f"date={day}" / "a.csv", accounts(30))
    _fail_on_write(monkeypatch, after=4)
    with pytest.raises(OSError, match="injected"):
        run(
            tmp_path / "in",
            tmp_path / "out",
            as_of=None,
            date_from=dt.date(2026, 10, 1),
            date_to=dt.date(2026, 10, 2),
            batch_rows=10,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_while_running_only_hidden_temporary_names_exist(tmp_path: Path) -> None:
    from healthscore.jobs import rescore
    from tests.jobs.support import config

    write(tmp_path / "a.csv", accounts(30))
    seen: list[list[str]] = []
    rescore.run_local(
        config(tmp_path / "a.csv", tmp_path / "out.parquet", batch_rows=10),
        quiet=True,
        on_chunk=lambda _: seen.append(sorted(p.name for p in tmp_path.iterdir())),
    )
    assert seen and all(
        all(name == "a.csv" or name.startswith(".") for name in names) for names in seen
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.csv",
        "out.parquet",
        "out.parquet.errors.csv",
    ]


def test_an_existing_output_needs_overwrite(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", accounts(3))
    run(tmp_path / "a.csv", tmp_path / "out")
    with pytest.raises(InvalidInputError, match="exists"):
        run(tmp_path / "a.csv", tmp_path / "out")
    run(tmp_path / "a.csv", tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / sinks.SUCCESS).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "out"]
