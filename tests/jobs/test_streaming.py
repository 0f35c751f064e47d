"""Bounded memory: batches flow through one at a time, the reader never runs far ahead."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from healthscore.jobs import convert, rescore, sinks, sources
from tests.jobs.support import accounts, config, default_ruleset, write

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("pipeline", [True, False])
def test_reading_scoring_and_writing_interleave(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pipeline: bool
) -> None:
    write(tmp_path / "a.parquet", accounts(300))
    events: list[str] = []
    real_read = sources.read

    def counted_read(*args: object, **kwargs: object) -> Iterator[sources.Chunk]:
        for chunk in real_read(*args, **kwargs):  # type: ignore[arg-type]
            events.append("read")
            yield chunk

    real_write = sinks._Parquet.write

    def counted_write(self: sinks._Parquet, batch: pa.RecordBatch) -> None:
        events.append("write")
        real_write(self, batch)

    monkeypatch.setattr(sources, "read", counted_read)
    monkeypatch.setattr(sinks._Parquet, "write", counted_write)
    in_flight: list[int] = []

    def on_chunk(result: rescore.ChunkResult) -> None:
        events.append("scored")
        in_flight.append(events.count("read") - events.count("scored"))

    job = config(tmp_path / "a.parquet", tmp_path / "out.parquet", batch_rows=10, pipeline=pipeline)
    summary = rescore.run_local(job, quiet=True, on_chunk=on_chunk)
    assert summary.scored == 300 and events.count("scored") == 30
    # The reader is at most the queue's depth (+1 being handed over) ahead of the scorer.
    assert max(in_flight) <= rescore._QUEUE_DEPTH + 1
    # Results are written while the input is still being read.
    assert events.index("write") < len(events) - 1 - events[::-1].index("read")


def test_parquet_row_groups_are_read_in_batches_not_whole(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(accounts(1000))
    pq.write_table(table, tmp_path / "one-group.parquet", row_group_size=1000)
    schema = convert.Schema.of(default_ruleset().ruleset)
    source = sources.InputFile(tmp_path / "one-group.parquet", "parquet")
    sizes = [c.batch.num_rows for c in sources.read(source, schema, batch_rows=128)]
    assert max(sizes) == 128 and sum(sizes) == 1000
