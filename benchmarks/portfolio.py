"""The portfolio benchmark (issue 13: "a portfolio summary over 1M accounts in <= 1 s; compare with
the same query written directly in DuckDB"), both in the same run over the same stored day.

`--accounts` generated accounts (`benchmarks.history_data`: five dimensions, a segment and an
owner) are stored as one day of the history table (`HistoryTable.write_day`), then, warm (a first
untimed pass reads the files' footers, which a server process keeps), `--repeats` times each:

1. the whole portfolio's summary through `Portfolio.summarize` (what SummarizePortfolio runs for
   `day`: table scan, per-rank and per-dimension exact sums, Arrow group-bys);
2. the same for the accounts of one owner (the filter reads the `attributes` column too);
3. a drill-down page: the 50 accounts poor in one dimension with the largest contract values,
   and the 50 POOR accounts with the largest (a rank's section: no `dimensions` read);
4. DuckDB's `delta_scan` with the same aggregates written in SQL (rank totals; dimensions
   unnested), for 1 and 2; its results are checked equal to ours.

    python -m benchmarks.portfolio --accounts 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from benchmarks.history_data import SyntheticHealth, duckdb_with_delta
from benchmarks.machine import machine
from healthscore.history.portfolio import Portfolio, Section, Summary
from healthscore.history.table import HistoryTable
from healthscore.history.trends import AccountFilter

RESULTS = Path(__file__).parent / "results" / "portfolio.json"
BATCH_ROWS = 1 << 16
DAY = dt.date(2026, 11, 30)
OWNER = "bob"

_RANKS_SQL = """
SELECT rank, count(*) AS accounts, CAST(sum(coalesce(contract_value, 0)) AS HUGEINT) AS value,
       CAST(sum(score) AS BIGINT) AS score_sum, count(score) AS scored
FROM delta_scan($uri) WHERE day = $day {where} GROUP BY rank
"""
_DIMENSIONS_SQL = """
SELECT d.name, d.rank, count(*) AS accounts,
       CAST(sum(coalesce(contract_value, 0)) AS HUGEINT) AS value,
       CAST(sum(d.score) AS BIGINT) AS score_sum, count(d.score) AS scored
FROM (SELECT contract_value, unnest(dimensions) AS d
      FROM delta_scan($uri) WHERE day = $day {where}) GROUP BY ALL
"""
_OWNER_SQL = "AND len(list_filter(attributes, a -> a.name = 'owner' AND a.text = $owner)) > 0"


def _median_ms(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    result = run()  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1), result


def _ours(summary: Summary) -> dict[str, Any]:
    return {
        "ranks": {r.rank: (r.accounts, r.contract_value) for r in summary.ranks if r.accounts},
        "score_sum": summary.score_sum,
        "dimensions": {
            (d.name, r.rank): (r.accounts, r.contract_value)
            for d in summary.dimensions
            for r in d.ranks
            if r.accounts
        },
    }


def _duckdb(uri: str, owner: bool) -> Callable[[], dict[str, Any]] | str:
    try:
        con = duckdb_with_delta()
    except ImportError as exc:
        return f"not measured: {exc}"
    params: dict[str, object] = {"uri": uri, "day": DAY}
    if owner:
        params["owner"] = OWNER
    where = _OWNER_SQL if owner else ""

    def run() -> dict[str, Any]:
        ranks = con.execute(_RANKS_SQL.format(where=where), params).fetchall()
        dims = con.execute(_DIMENSIONS_SQL.format(where=where), params).fetchall()
        return {
            "ranks": {r[0]: (r[1], int(r[2])) for r in ranks},
            "score_sum": sum(int(r[3] or 0) for r in ranks),
            "dimensions": {(d[0], d[1]): (d[2], int(d[3])) for d in dims},
        }

    return run


def measure(accounts: int, repeats: int, root: Path) -> dict[str, object]:
    table = HistoryTable(root / "health_daily")
    start = time.perf_counter()
    table.write_day(DAY, SyntheticHealth(accounts).iter_current_health(DAY, BATCH_ROWS))
    write_seconds = time.perf_counter() - start
    book = Portfolio(None, table)
    everyone, by_owner = AccountFilter(), AccountFilter(attributes={"owner": [OWNER]})
    report: dict[str, object] = {
        "accounts": accounts,
        "write_day_seconds": round(write_seconds, 1),
        "repeats": repeats,
    }
    for label, where in (("all", everyone), ("owner", by_owner)):
        ms, summary = _median_ms(lambda w=where: book.summarize(w, day=DAY, today=DAY), repeats)
        assert isinstance(summary, Summary)
        entry: dict[str, object] = {"accounts": summary.accounts, "ours_ms": ms}
        duck = _duckdb(table.uri, owner=where is by_owner)
        if isinstance(duck, str):
            entry["duckdb_ms"] = duck
        else:
            duck_ms, duck_result = _median_ms(duck, repeats)
            assert duck_result == _ours(summary), "DuckDB and the portfolio disagree"
            entry["duckdb_ms"] = duck_ms
            entry["ratio_to_duckdb"] = round(ms / duck_ms, 2)
        report[f"summary_{label}"] = entry
    for label, section in (
        ("drill_down_page_ms", Section(dimension="usage", dimension_rank="POOR")),
        ("drill_down_rank_page_ms", Section(rank="POOR")),
    ):
        ms, _ = _median_ms(
            lambda s=section: book.accounts(
                everyone,
                s,
                day=DAY,
                today=DAY,
                order=[("contract_value", True)],
                offset=0,
                limit=50,
            ),
            repeats,
        )
        report[label] = ms
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1_000_000, help="accounts in the day")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each query")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="portfolio-bench-"))
    try:
        print(f"portfolio of {args.accounts:,} accounts (one stored day)", flush=True)
        report = measure(args.accounts, args.repeats, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    report["machine"] = machine()
    report["pyarrow"] = pa.__version__
    print(json.dumps(report, indent=2), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
