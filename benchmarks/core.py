"""Core throughput benchmark: the Rust kernel against Polars and the Python reference.

    python -m benchmarks.core [--accounts 1000000] [--repeats 3] [--output PATH]

Prints a table and writes `benchmarks/results/core.json`. Every row scores the same workload
(benchmarks/workload.py) and its results are checked equal to the first row's before timing counts.
"""

from __future__ import annotations

import os

# Polars reads its thread count once, at import: the baseline is single-threaded by definition.
os.environ.setdefault("POLARS_MAX_THREADS", "1")

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from benchmarks.machine import machine
from benchmarks.polars_baseline import score_frame
from benchmarks.workload import (
    Workload,
    build_batch,
    build_request_columns,
    build_request_rows,
    build_ruleset,
)
from healthscore import engine
from healthscore_client.v1 import health_pb2, scoring_pb2

AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
RANK_NAMES = {
    health_pb2.HEALTH_RANK_GOOD: "GOOD",
    health_pb2.HEALTH_RANK_AVERAGE: "AVERAGE",
    health_pb2.HEALTH_RANK_POOR: "POOR",
    health_pb2.HEALTH_RANK_UNKNOWN: "UNKNOWN",
}


@dataclass
class Row:
    name: str
    accounts: int
    threads: int
    seconds: float

    def as_dict(self, values_per_account: int) -> dict[str, object]:
        per_s = self.accounts / self.seconds
        ns_per_value = self.seconds * 1e9 / (self.accounts * values_per_account)
        return {
            "name": self.name,
            "accounts": self.accounts,
            "threads": self.threads,
            "seconds": round(self.seconds, 6),
            "accounts_per_s": round(per_s),
            "ns_per_value": round(ns_per_value, 3),
            "ns_per_value_per_thread": round(ns_per_value * self.threads, 3),
        }


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def scores_and_ranks(table: pa.Table | pa.RecordBatch) -> tuple[list[object], list[object]]:
    return table.column("score").to_pylist(), table.column("rank").to_pylist()


def response_scores(
    response: scoring_pb2.ScoreAccountsResponse,
) -> tuple[list[object], list[object]]:
    scores = [r.score if r.HasField("score") else None for r in response.results]
    return scores, [RANK_NAMES[r.rank] for r in response.results]


def check(
    name: str, expected: tuple[list[object], list[object]], got: tuple[list[object], list[object]]
) -> None:
    size = len(got[0])
    if (expected[0][:size], expected[1][:size]) != (got[0], got[1]):
        mismatch = next(
            i for i in range(size) if (expected[0][i], expected[1][i]) != (got[0][i], got[1][i])
        )
        raise SystemExit(f"{name}: results differ from the Arrow path at account {mismatch}")


def run(
    accounts: int, repeats: int, reference_accounts: int, rows_accounts: int
) -> dict[str, object]:
    workload = Workload()
    values = len(workload.metric_names)
    ruleset = build_ruleset(workload)
    compiled = engine.compile_ruleset(ruleset)
    batch = build_batch(workload, accounts)
    cores = os.cpu_count() or 1
    rows: list[Row] = []

    seconds, out = best_of(repeats, lambda: compiled.score_arrow(batch, as_of=AS_OF, threads=1))
    expected = scores_and_ranks(out)  # type: ignore[arg-type]
    rows.append(Row("rust arrow, 1 thread", accounts, 1, seconds))

    seconds, out = best_of(repeats, lambda: compiled.score_arrow(batch, as_of=AS_OF, threads=cores))
    check("rust arrow, all threads", expected, scores_and_ranks(out))  # type: ignore[arg-type]
    rows.append(Row(f"rust arrow, {cores} threads", accounts, cores, seconds))

    # What the machine gives right now: every metric value read once from memory (a numpy sum
    # over each Float64 buffer, zero-copy). The floor under any scorer, measured in this run.
    buffers = [
        np.frombuffer(batch.column(name).buffers()[1], dtype=np.float64)[: batch.num_rows]
        for name in workload.metric_names
    ]
    seconds, _ = best_of(repeats, lambda: [float(np.add.reduce(b)) for b in buffers])
    rows.append(Row("memory read: every value once (numpy sum), 1 thread", accounts, 1, seconds))

    frame = pl.from_arrow(batch)
    seconds, out = best_of(repeats, lambda: score_frame(workload, frame))  # type: ignore[arg-type]
    check("polars", expected, scores_and_ranks(out.to_arrow()))  # type: ignore[attr-defined]
    rows.append(Row("polars expressions, 1 thread", accounts, 1, seconds))

    def bytes_path(name: str, request: bytes, count: int) -> None:
        """The protobuf-bytes path (decode, score, encode) on 1 thread and on every core."""
        for threads in (1, cores):
            os.environ["HEALTHSCORE_THREADS"] = str(threads)
            seconds, out = best_of(repeats, lambda: compiled.score_bytes(request))
            parsed = scoring_pb2.ScoreAccountsResponse.FromString(out)  # type: ignore[arg-type]
            check(name, expected, response_scores(parsed))
            label = "1 thread" if threads == 1 else f"{threads} threads"
            rows.append(Row(f"{name}, {label}", count, threads, seconds))
        os.environ.pop("HEALTHSCORE_THREADS", None)

    columns_request = build_request_columns(batch).SerializeToString()
    bytes_path("rust protobuf columnar bytes", columns_request, accounts)
    rows_request = build_request_rows(batch.slice(0, rows_accounts)).SerializeToString()
    bytes_path("rust protobuf row bytes", rows_request, rows_accounts)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.reference import score as reference_score

    small = build_request_rows(batch.slice(0, reference_accounts))
    small.as_of.FromDatetime(AS_OF)
    seconds, out = best_of(1, lambda: reference_score(ruleset, small))
    check("python reference", expected, response_scores(out))  # type: ignore[arg-type]
    rows.append(Row("python reference (spec), 1 thread", reference_accounts, 1, seconds))

    return {
        "machine": machine(),
        "build_profile": engine.BUILD_PROFILE,
        "workload": f"{accounts} accounts x {values} NUMBER metrics in {workload.dimensions} "
        f"dimensions, ~{workload.missing_share:.0%} missing, ignore-missing on, two profiles",
        "results": [row.as_dict(values) for row in rows],
    }


def print_table(report: dict[str, object]) -> None:
    results = report["results"]
    assert isinstance(results, list)
    baseline = next(r for r in results if r["name"].startswith("polars"))
    print(f"machine: {report['machine']} ({report['build_profile']} build)")
    print(f"workload: {report['workload']}")
    header = (
        f"{'name':<40} {'accounts':>9} {'accounts/s':>12} {'ns/value':>9} "
        f"{'ns/value/thr':>12} {'vs polars':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        speedup = baseline["ns_per_value"] / r["ns_per_value"]
        print(
            f"{r['name']:<40} {r['accounts']:>9} {r['accounts_per_s']:>12,} "
            f"{r['ns_per_value']:>9.2f} {r['ns_per_value_per_thread']:>12.2f} {speedup:>8.2f}x"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument(
        "--rows-accounts", type=int, default=100_000, help="accounts for the row-form protobuf rows"
    )
    parser.add_argument("--reference-accounts", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "core.json"
    )
    args = parser.parse_args(argv)
    if engine.BUILD_PROFILE != "release":
        print("warning: the extension is a debug build; run `make build` first", file=sys.stderr)
    report = run(
        args.accounts, args.repeats, args.reference_accounts, min(args.rows_accounts, args.accounts)
    )
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
