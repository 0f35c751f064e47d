"""Delta Lake (`deltalake`) against Apache Iceberg (`pyiceberg`, SQL catalog on SQLite) on the
history workload: write a day of N accounts (replacing that day), the storage per account-day, a
one-account trend over every stored day, and one day's summary (accounts per rank, mean score).

Both tables are partitioned by month (Delta: a `month` column; Iceberg: the hidden month(day)
transform) and written from the same Arrow batches. Delta is read as the service reads it (a
pyarrow dataset with file statistics, kept open); it is also measured after `optimize.z_order`
on account_id, which pyiceberg cannot do (it has no data-file rewrite).

    python -m benchmarks.history_formats --accounts 100000 --days 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from benchmarks.history_data import SyntheticHealth, account_id

FIRST_DAY = dt.date(2026, 1, 1)
BATCH_ROWS = 1 << 16


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _with_month(batch: pa.RecordBatch) -> pa.RecordBatch:
    month = pc.strftime(batch.column("day"), "%Y-%m")
    return batch.append_column("month", month)


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def bench_delta(
    source: SyntheticHealth, days: int, root: Path, probes: list[str]
) -> dict[str, object]:
    from deltalake import DeltaTable, WriterProperties, write_deltalake

    path = root / "delta"
    props = WriterProperties(compression="ZSTD", max_row_group_size=16384)
    write_ms = []
    for offset in range(days):
        day = FIRST_DAY + dt.timedelta(days=offset)
        schema = _with_month(source.batch(day, 0, 1)).schema
        reader = pa.RecordBatchReader.from_batches(
            schema, (_with_month(b) for b in source.iter_current_health(day, BATCH_ROWS))
        )
        start = time.perf_counter()
        write_deltalake(
            str(path),
            reader,
            mode="overwrite",
            partition_by=["month"],
            predicate=f"day = '{day.isoformat()}'",
            writer_properties=props,
        )
        write_ms.append((time.perf_counter() - start) * 1000)
    table = DeltaTable(str(path))
    result: dict[str, object] = {
        "write_day_ms": round(statistics.median(write_ms), 1),
        "bytes_per_account_day": round(_size(path) / (source.accounts * days), 1),
    }

    def trend_reader() -> Callable[[], object]:
        dataset = table.to_pyarrow_dataset()
        columns = ["day", "score", "rank", "dimensions"]
        it = iter(probes * 10)
        return lambda: dataset.to_table(columns=columns, filter=ds.field("account_id") == next(it))

    last = FIRST_DAY + dt.timedelta(days=days - 1)

    def summary() -> object:
        dataset = table.to_pyarrow_dataset()
        rows = dataset.to_table(columns=["rank", "score"], filter=ds.field("day") == last)
        return rows.group_by("rank").aggregate([("score", "mean"), ("score", "count")])

    read = trend_reader()
    result["trend"] = _percentiles(_timed(read, len(probes)))
    result["day_summary"] = _percentiles(_timed(summary, 5))
    start = time.perf_counter()
    table.optimize.z_order(["account_id"], writer_properties=props)
    result["z_order_ms"] = round((time.perf_counter() - start) * 1000, 1)
    table = DeltaTable(str(path))
    read = trend_reader()
    result["trend_after_z_order"] = _percentiles(_timed(read, len(probes)))
    result["day_summary_after_z_order"] = _percentiles(_timed(summary, 5))
    return result


def bench_iceberg(
    source: SyntheticHealth, days: int, root: Path, probes: list[str]
) -> dict[str, object]:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.expressions import EqualTo
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import MonthTransform

    warehouse = root / "iceberg"
    warehouse.mkdir()
    catalog = SqlCatalog(
        "history", uri=f"sqlite:///{warehouse}/catalog.db", warehouse=f"file://{warehouse}"
    )
    catalog.create_namespace("healthscore")
    schema = source.batch(FIRST_DAY, 0, 1).schema
    table = catalog.create_table("healthscore.health_daily", schema=schema)
    day_id = table.schema().find_field("day").field_id
    with table.update_spec() as spec:
        spec.add_field("day", MonthTransform(), "month")
    table = catalog.load_table("healthscore.health_daily")
    write_ms = []
    for offset in range(days):
        day = FIRST_DAY + dt.timedelta(days=offset)
        data = pa.Table.from_batches(list(source.iter_current_health(day, BATCH_ROWS)))
        start = time.perf_counter()
        table.overwrite(data, overwrite_filter=EqualTo("day", day.isoformat()))
        write_ms.append((time.perf_counter() - start) * 1000)
    del day_id, PartitionField, PartitionSpec
    result: dict[str, object] = {
        "write_day_ms": round(statistics.median(write_ms), 1),
        "bytes_per_account_day": round(_size(warehouse) / (source.accounts * days), 1),
    }
    table = catalog.load_table("healthscore.health_daily")
    it = iter(probes * 10)

    def trend() -> object:
        return table.scan(
            row_filter=EqualTo("account_id", next(it)),
            selected_fields=("day", "score", "rank", "dimensions"),
        ).to_arrow()

    last = FIRST_DAY + dt.timedelta(days=days - 1)

    def summary() -> object:
        rows = table.scan(
            row_filter=EqualTo("day", last.isoformat()), selected_fields=("rank", "score")
        ).to_arrow()
        return rows.group_by("rank").aggregate([("score", "mean"), ("score", "count")])

    result["trend"] = _percentiles(_timed(trend, len(probes)))
    result["day_summary"] = _percentiles(_timed(summary, 5))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--probes", type=int, default=50, help="one-account trends timed")
    parser.add_argument("--output", type=Path, help="also write the results as JSON")
    args = parser.parse_args(argv)
    source = SyntheticHealth(args.accounts)
    step = max(1, args.accounts // args.probes)
    probes = [account_id(i) for i in range(0, args.accounts, step)][: args.probes]
    root = Path(tempfile.mkdtemp(prefix="history-formats-"))
    try:
        report = {
            "accounts": args.accounts,
            "days": args.days,
            "delta": bench_delta(source, args.days, root, probes),
            "iceberg": bench_iceberg(source, args.days, root, probes),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output is not None:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
