"""`healthscore rescore` end to end, Parquet to Parquet, against a Polars script, in one run.

    python -m benchmarks.rescore [--accounts 10000000] [--output PATH]

Generates the core benchmark's workload (benchmarks/workload.py: 20 NUMBER metrics in 5
dimensions, ~5 % missing, two profiles) as a Parquet file, then runs, each in a child process:
`healthscore rescore` (view BASIC: what the Polars script computes; and view DIMENSIONS, the
default), and a Polars script doing the same read → score (benchmarks/polars_baseline.py) → write.
The ids ascend (`acct-0`, `acct-1`, ...), which spares `rescore` hashing them for duplicates; a
second file with the ids in random order measures the general case.
Peak RSS and CPU time are each child's own (`RUSAGE_CHILDREN` read by a wrapper process around
it); CPU time shows the cost when other processes share the cores and inflate wall time. The scores
and ranks of every output are checked equal. To show what bounds the rate, the single stages are
timed in this process on a slice: Parquet decoding, scoring, Parquet encoding (the job's writer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from google.protobuf import json_format

from benchmarks.core import machine
from benchmarks.workload import Workload, build_ruleset
from healthscore import engine
from healthscore.jobs import sinks
from healthscore_client.v1 import scoring_pb2

AS_OF = "2026-11-01T00:00:00+00:00"
_CHUNK = 1_000_000
_T = TypeVar("_T")
_ROOT = Path(__file__).resolve().parent.parent
# Runs argv[1:] as a child and prints that child's peak RSS (KiB), wall seconds and CPU seconds
# (user + system: unlike wall time, not inflated when other processes share the cores).
_WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "code = subprocess.call(sys.argv[1:]); s = time.perf_counter() - t; "
    "u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(u.ru_maxrss, s, u.ru_utime + u.ru_stime); sys.exit(code)"
)


def generate(workload: Workload, accounts: int, path: Path, shuffled: bool = False) -> None:
    """The workload's accounts, written chunk by chunk (never all in memory). Ids ascend
    (`acct-0`, `acct-1`, ...: ascending by length then bytes) unless `shuffled`."""
    rng = np.random.default_rng(workload.seed)
    order = np.random.default_rng(workload.seed + 1).permutation(accounts) if shuffled else None
    schema = pa.schema(
        [("id", pa.string()), ("segment", pa.string())]
        + [(name, pa.float64()) for name in workload.metric_names]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, accounts, _CHUNK):
            n = min(_CHUNK, accounts - start)
            keys = np.arange(start, start + n) if order is None else order[start : start + n]
            numbers = pa.array(keys).cast(pa.string())
            columns: list[pa.Array] = [
                pc.binary_join_element_wise("acct-", numbers, ""),
                pa.array(np.where(rng.random(n) < 0.5, "enterprise", "smb")),
            ]
            for _ in workload.metric_names:
                values = np.round(rng.random(n) * 100.0, 1)
                columns.append(pa.array(values, mask=rng.random(n) < workload.missing_share))
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))


def polars_child(source: str, target: str) -> None:
    """The baseline as a data engineer would write it: read, score with expressions, write."""
    import polars as pl

    from benchmarks.polars_baseline import score_frame

    score_frame(Workload(), pl.read_parquet(source)).write_parquet(target)


@dataclass
class Run:
    name: str
    accounts: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "accounts": self.accounts,
            "seconds": round(self.seconds, 3),
            "accounts_per_s": round(self.accounts / self.seconds),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "accounts_per_cpu_s": round(self.accounts / self.cpu_seconds),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
        }


def measured(name: str, accounts: int, argv: Sequence[str]) -> Run:
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        cwd=_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    rss_kib, seconds, cpu = done.stdout.split()[-3:]
    return Run(name, accounts, float(seconds), float(cpu), int(rss_kib) / 1024)


def scores_and_ranks(path: Path) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    table = pq.read_table(path, columns=["score", "rank"])
    return table.column("score").cast(pa.int64()), table.column("rank").cast(pa.string())


def check_equal(name: str, expected: Path, got: Path) -> None:
    want, have = scores_and_ranks(expected), scores_and_ranks(got)
    for label, a, b in zip(("score", "rank"), want, have, strict=True):
        if not a.equals(b):
            raise SystemExit(f"{name}: {label} differs from the Polars script's")


def best_of_3(timings: dict[str, float], label: str, work: Callable[[], _T]) -> _T:
    best, result = float("inf"), None
    for _ in range(3):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    timings[label] = best
    return result  # type: ignore[return-value]


def encode(batch: pa.RecordBatch, path: Path) -> None:
    """Parquet encoding with the job's own writer settings."""
    writer = sinks.open_writer(path, "parquet", batch.schema)
    writer.write(batch)
    writer.close()


def stages(workload: Workload, source: Path) -> list[dict[str, object]]:
    """Each stage alone on every core, on one row group: what bounds the end-to-end rate."""
    compiled = engine.compile_ruleset(build_ruleset(workload))
    cores = os.cpu_count() or 1
    file = pq.ParquetFile(source)
    rows = file.metadata.row_group(0).num_rows
    as_of = dt.datetime.fromisoformat(AS_OF)
    timings: dict[str, float] = {}
    batch = best_of_3(
        timings, "parquet decode (pyarrow)", lambda: file.read_row_group(0).combine_chunks()
    ).to_batches()[0]
    out = {
        view: best_of_3(
            timings,
            f"score, view {name}",
            lambda view=view: compiled.score_arrow(batch, as_of=as_of, view=view, threads=cores),
        )
        for name, view in (
            ("BASIC", scoring_pb2.SCORE_VIEW_BASIC),
            ("DIMENSIONS", scoring_pb2.SCORE_VIEW_DIMENSIONS),
        )
    }
    with tempfile.TemporaryDirectory() as scratch:
        for name, view in (
            ("BASIC", scoring_pb2.SCORE_VIEW_BASIC),
            ("DIMENSIONS", scoring_pb2.SCORE_VIEW_DIMENSIONS),
        ):
            best_of_3(
                timings,
                f"parquet encode, {name} results",
                lambda batch=out[view]: encode(batch, Path(scratch) / "out.parquet"),
            )
    return [
        {"stage": label, "accounts": rows, "accounts_per_s": round(rows / seconds)}
        for label, seconds in timings.items()
    ]


def run(accounts: int, scratch: Path) -> dict[str, object]:
    workload = Workload()
    source = scratch / "accounts.parquet"
    ruleset_file = scratch / "ruleset.json"
    ruleset_file.write_text(json_format.MessageToJson(build_ruleset(workload)))
    shuffled = scratch / "accounts-shuffled.parquet"
    start = time.perf_counter()
    generate(workload, accounts, source)
    generate(workload, accounts, shuffled, shuffled=True)
    print(f"generated 2 x {accounts:,} accounts in {time.perf_counter() - start:.1f} s", flush=True)

    def rescore(source: Path, output: Path, *extra: str) -> list[str]:
        return [
            *(sys.executable, "-m", "healthscore.cli", "rescore", "--input", str(source)),
            *("--output", str(output), "--ruleset-file", str(ruleset_file), "--as-of", AS_OF),
            *("--quiet", "--overwrite", *extra),
        ]

    outputs = {
        "polars": scratch / "polars.parquet",
        "basic": scratch / "rescore-basic.parquet",
        "dimensions": scratch / "rescore-dimensions.parquet",
    }
    polars = [sys.executable, "-m", "benchmarks.rescore", "--polars-child", str(source)]
    runs = [
        measured("polars script (read, score, write)", accounts, [*polars, str(outputs["polars"])]),
        measured(
            "rescore, view BASIC",
            accounts,
            rescore(source, outputs["basic"], "--view", "basic"),
        ),
        measured("rescore, view DIMENSIONS", accounts, rescore(source, outputs["dimensions"])),
        measured(
            "rescore, view BASIC, no pipeline threads",
            accounts,
            rescore(source, outputs["basic"], "--view", "basic", "--serial"),
        ),
        measured(
            "rescore, view BASIC, ids in random order",
            accounts,
            rescore(shuffled, scratch / "shuffled.parquet", "--view", "basic"),
        ),
    ]
    for name in ("basic", "dimensions"):
        check_equal(f"rescore {name}", outputs["polars"], outputs[name])
    return {
        "machine": machine(),
        "build_profile": engine.BUILD_PROFILE,
        "workload": f"{accounts} accounts x {len(workload.metric_names)} NUMBER metrics in "
        f"{workload.dimensions} dimensions, ~{workload.missing_share:.0%} missing; Parquet "
        "(pyarrow defaults: snappy, 1 Mi-row row groups) to Parquet",
        "results": [r.as_dict() for r in runs],
        "stages": stages(workload, source),
    }


def print_table(report: dict[str, object]) -> None:
    results = report["results"]
    stage_rows = report["stages"]
    assert isinstance(results, list) and isinstance(stage_rows, list)
    baseline = results[0]
    print(f"machine: {report['machine']} ({report['build_profile']} build)")
    print(f"workload: {report['workload']}")
    header = (
        f"{'name':<42} {'accounts':>10} {'seconds':>8} {'accounts/s':>11} {'vs polars':>9} "
        f"{'CPU s':>7} {'acc/CPU s':>10} {'peak RSS':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        ratio = r["accounts_per_s"] / baseline["accounts_per_s"]
        print(
            f"{r['name']:<42} {r['accounts']:>10,} {r['seconds']:>8.2f} "
            f"{r['accounts_per_s']:>11,} {ratio:>8.2f}x {r['cpu_seconds']:>7.2f} "
            f"{r['accounts_per_cpu_s']:>10,} {r['peak_rss_mib']:>5.0f} MiB"
        )
    print("single stages, every core, one row group (what bounds the end-to-end rate):")
    for s in stage_rows:
        print(f"  {s['stage']:<40} {s['accounts_per_s']:>11,} accounts/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000_000)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "rescore.json"
    )
    parser.add_argument("--scratch", type=Path, help="working directory (default: a temporary one)")
    parser.add_argument("--polars-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.polars_child:
        polars_child(*args.polars_child)
        return 0
    if engine.BUILD_PROFILE != "release":
        print("warning: the extension is a debug build; run `make build` first", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        report = run(args.accounts, Path(scratch))
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
