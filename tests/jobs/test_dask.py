"""The Dask engine on a LocalCluster of worker processes gives the local engine's results."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthscore.errors import InvalidInputError
from healthscore.jobs import dask_engine, rescore, sinks
from tests.jobs.support import accounts, config, read_rows, write

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as connected,
    ):
        yield connected


def _inputs(root: Path) -> None:
    """Row groups, files and formats, with duplicate ids across all of them and bad rows."""
    table = pa.Table.from_pylist(accounts(40))
    pq.write_table(table, root / "a.parquet", row_group_size=7)
    bad = accounts(1, start=500)[0] | {"id": "bad", "engagement_score": "many"}
    write(root / "b.csv", [*accounts(10, start=35), bad, accounts(1, start=3)[0]])
    lines = [json.dumps(r) for r in accounts(5, start=48)] + ["{oops", json.dumps({"id": "a"})]
    (root / "c.jsonl").write_text("\n".join(lines) + "\n")
    pq.write_table(
        pa.Table.from_pylist(accounts(12, start=45)), root / "d.parquet", row_group_size=5
    )


def test_results_and_errors_are_identical_to_the_local_engine(tmp_path: Path, client: Any) -> None:
    (tmp_path / "in").mkdir()
    _inputs(tmp_path / "in")
    local = rescore.run_local(config(tmp_path / "in", tmp_path / "local", batch_rows=4), quiet=True)
    remote = dask_engine.run(
        config(tmp_path / "in", tmp_path / "dask", batch_rows=4), client, quiet=True
    )
    assert read_rows(tmp_path / "dask") == read_rows(tmp_path / "local")
    local_errors = (tmp_path / "local" / sinks.ERRORS_IN_DIRECTORY).read_text()
    assert (tmp_path / "dask" / sinks.ERRORS_IN_DIRECTORY).read_text() == local_errors
    assert "duplicate id: first at" in local_errors and "not JSON" in local_errors
    assert local_errors.count("duplicate id") == 5 + 3 + 2 + 1
    for field in ("read", "scored", "ranks", "rejected"):
        assert getattr(remote, field) == getattr(local, field)
    parts = sorted(p.name for p in (tmp_path / "dask").glob("part-*"))
    assert len(parts) == 6 + 1 + 1 + 3  # one per row group or text file
    assert (tmp_path / "dask" / sinks.SUCCESS).exists()


def test_each_worker_compiles_the_ruleset_once(tmp_path: Path, client: Any) -> None:
    (tmp_path / "in").mkdir()
    _inputs(tmp_path / "in")
    dask_engine.run(config(tmp_path / "in", tmp_path / "out"), client, quiet=True)
    compiled = client.run(lambda: len(dask_engine._COMPILED))
    assert len(compiled) == 2 and set(compiled.values()) <= {1}


def test_date_partitions_on_the_cluster(tmp_path: Path, client: Any) -> None:
    for day in ("2026-10-01", "2026-10-02"):
        write(tmp_path / "in" / f"date={day}" / "a.parquet", accounts(15))
    days = {"as_of": None, "date_from": dt.date(2026, 10, 1), "date_to": dt.date(2026, 10, 2)}
    rescore.run_local(config(tmp_path / "in", tmp_path / "local", **days), quiet=True)
    dask_engine.run(config(tmp_path / "in", tmp_path / "dask", **days), client, quiet=True)
    for day in ("2026-10-01", "2026-10-02"):
        assert read_rows(tmp_path / "dask" / f"date={day}") == read_rows(
            tmp_path / "local" / f"date={day}"
        )


def test_a_failing_task_leaves_no_output(tmp_path: Path, client: Any) -> None:
    (tmp_path / "in").mkdir()
    _inputs(tmp_path / "in")
    # A readable footer over corrupt pages: planning succeeds, the task on a worker fails.
    corrupt = tmp_path / "in" / "e.parquet"
    pq.write_table(pa.Table.from_pylist(accounts(50)), corrupt)
    data = bytearray(corrupt.read_bytes())
    data[40:400] = b"Z" * 360
    corrupt.write_bytes(bytes(data))
    with pytest.raises(OSError, match="Corrupt"):
        dask_engine.run(config(tmp_path / "in", tmp_path / "out"), client, quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_the_dask_engine_needs_a_directory_output(tmp_path: Path, client: Any) -> None:
    write(tmp_path / "a.csv", accounts(2))
    with pytest.raises(InvalidInputError, match="directory"):
        dask_engine.run(config(tmp_path / "a.csv", tmp_path / "out.parquet"), client, quiet=True)
