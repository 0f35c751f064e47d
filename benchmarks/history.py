"""The history benchmark (issue 13's numbers for stored history), each against a baseline in the
same run:

1. **Snapshot rate**: one day of `--snapshot-accounts` accounts written to the daily health table
   (`HistoryTable.write_day`: sort per batch, Parquet, one Delta commit), from batches already in
   memory (the account store's read is measured by the intake benchmark), against the rescore
   job's rate (`healthscore rescore --view dimensions` over the same number of accounts, read,
   scored and written as Parquet). Storage per account-day is the table's bytes after the run.
2. **One account's trend**: `--accounts` x `--days` stored the way the service stores them (a
   day per commit, each month clustered by account when it is over), then the trend of one
   account over every stored day, p50/p99 over `--probes` random accounts, through
   `history.trends` (what GetHealthTrend runs) and as the same query written directly in DuckDB
   (`delta_scan` with the delta extension). Timed warm: a first pass over other random
   accounts reads the files' footers, which a server process keeps.

    python -m benchmarks.history --accounts 100000 --days 365 --snapshot-accounts 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
from google.protobuf import json_format

from benchmarks.history_data import SyntheticHealth, account_id, duckdb_with_delta
from benchmarks.rescore import AS_OF, generate, measured
from benchmarks.workload import Workload, build_ruleset
from healthscore.history import trends
from healthscore.history.table import HistoryTable

RESULTS = Path(__file__).parent / "results" / "history.json"
BATCH_ROWS = 1 << 16
# DuckDB re-reads the table's log and statistics on every delta_scan: fewer probes.
DUCKDB_PROBES = 50


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def snapshot_rate(accounts: int, scratch: Path) -> dict[str, object]:
    day = dt.date(2026, 11, 30)
    batches = list(SyntheticHealth(accounts).iter_current_health(day, BATCH_ROWS))
    table = HistoryTable(scratch / "snapshot" / "health_daily")
    start = time.perf_counter()
    cpu = time.process_time()
    rows = table.write_day(day, batches)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu
    del batches
    workload = Workload()
    source = scratch / "accounts.parquet"
    generate(workload, accounts, source)
    ruleset = scratch / "ruleset.json"
    ruleset.write_text(json_format.MessageToJson(build_ruleset(workload)))
    rescore = measured(
        "rescore --view dimensions",
        accounts,
        [
            *(sys.executable, "-m", "healthscore.cli", "rescore", "--input", str(source)),
            *("--output", str(scratch / "rescored.parquet"), "--ruleset-file", str(ruleset)),
            *("--as-of", AS_OF, "--view", "dimensions", "--quiet", "--overwrite"),
        ],
    )
    return {
        "accounts": rows,
        "snapshot_seconds": round(seconds, 3),
        "snapshot_accounts_per_s": round(rows / seconds),
        "snapshot_cpu_seconds": round(cpu_seconds, 3),
        "rescore_seconds": round(rescore.seconds, 3),
        "rescore_accounts_per_s": round(accounts / rescore.seconds),
        "rescore_cpu_seconds": round(rescore.cpu_seconds, 3),
        "ratio_to_rescore": round((rows / seconds) / (accounts / rescore.seconds), 2),
        # On a shared machine CPU time is steadier than wall time: accounts per CPU-second.
        "cpu_ratio_to_rescore": round((rows / cpu_seconds) / (accounts / rescore.cpu_seconds), 2),
        "bytes_per_account_day": round(_size(scratch / "snapshot") / rows, 1),
    }


def build_history(accounts: int, days: int, root: Path) -> tuple[HistoryTable, dt.date, dt.date]:
    source = SyntheticHealth(accounts)
    table = HistoryTable(root / "health_daily")
    last = dt.date(2026, 11, 30)
    first = last - dt.timedelta(days=days - 1)
    start = time.perf_counter()
    day = first
    while day <= last:
        table.write_day(day, source.iter_current_health(day, BATCH_ROWS))
        following = day + dt.timedelta(days=1)
        if following.month != day.month or following > last:
            table.compact(following if following.month != day.month else last)
        day = following
        if day.day == 1:
            print(f"  stored up to {day}, {time.perf_counter() - start:.0f} s", flush=True)
    table.vacuum(0)
    return table, first, last


def trend_latency(accounts: int, days: int, probes: int, root: Path) -> dict[str, object]:
    start = time.perf_counter()
    table, first, last = build_history(accounts, days, root)
    build_seconds = time.perf_counter() - start
    span = trends.Range(first, last, trends.Granularity.DAY)
    rng = random.Random(20261203)
    ids = [account_id(rng.randrange(accounts)) for _ in range(probes)]
    got = trends.trends(table, [ids[0]], span)[ids[0]]
    assert len(got) == days, (len(got), days)
    # Warm: the files' footers are read once per process (a server keeps them); untimed.
    for _ in range(probes):
        trends.trends(table, [account_id(rng.randrange(accounts))], span)
    ours: list[float] = []
    for account in ids:
        t0 = time.perf_counter()
        trends.trends(table, [account], span)
        ours.append((time.perf_counter() - t0) * 1000)
    scan: list[float] = []
    for account in ids:
        t0 = time.perf_counter()
        table.scan(
            columns=["day", "score", "rank", "dimensions"],
            accounts=[account],
            start=first,
            end=last,
        )
        scan.append((time.perf_counter() - t0) * 1000)
    duck = _duckdb_latency(table.uri, ids[:DUCKDB_PROBES], first, last, days)
    return {
        "accounts": accounts,
        "days": days,
        "rows": accounts * days,
        "build_seconds": round(build_seconds, 1),
        "bytes_per_account_day": round(_size(root) / (accounts * days), 1),
        "files": sum(m.files for m in table.months()),
        "trend": _percentiles(ours),
        "table_scan_only": _percentiles(scan),
        "duckdb_delta_scan": duck,
    }


def _duckdb_latency(
    uri: str, ids: list[str], first: dt.date, last: dt.date, days: int
) -> dict[str, float] | str:
    try:
        con = duckdb_with_delta()
    except ImportError as exc:
        return f"not measured: {exc}"
    query = (
        "SELECT day, score, rank, dimensions FROM delta_scan(?) "
        "WHERE account_id = ? AND day BETWEEN ? AND ? ORDER BY day"
    )
    rows = con.execute(query, [uri, ids[0], first, last]).fetchall()
    assert len(rows) == days, (len(rows), days)
    times = []
    for account in ids:
        t0 = time.perf_counter()
        con.execute(query, [uri, account, first, last]).fetchall()
        times.append((time.perf_counter() - t0) * 1000)
    return _percentiles(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts in the history")
    parser.add_argument("--days", type=int, default=365, help="days in the history")
    parser.add_argument("--probes", type=int, default=200, help="one-account trends timed")
    parser.add_argument(
        "--snapshot-accounts", type=int, default=1_000_000, help="accounts in the timed snapshot"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--only", choices=["snapshot", "trend"], help="run one part")
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="history-bench-"))
    try:
        snapshot: dict[str, object] | None = None
        trend: dict[str, object] | None = None
        if args.only != "trend":
            print(f"snapshot of {args.snapshot_accounts:,} accounts vs rescore", flush=True)
            snapshot = snapshot_rate(args.snapshot_accounts, scratch)
            print(json.dumps(snapshot, indent=2), flush=True)
        if args.only != "snapshot":
            print(f"history of {args.accounts:,} accounts x {args.days} days", flush=True)
            trend = trend_latency(args.accounts, args.days, args.probes, scratch / "history")
            print(json.dumps(trend, indent=2), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    previous = json.loads(args.output.read_text()) if args.output.exists() else {}
    report = {
        "snapshot": snapshot or previous.get("snapshot"),
        "trend": trend or previous.get("trend"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "pyarrow": pa.__version__,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
