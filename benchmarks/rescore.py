"""`healthscore rescore` end to end, Parquet to Parquet, against a Polars script, in one run.

    python -m benchmarks.rescore [--accounts 10000000] [--output PATH]

Generates the core benchmark's workload (benchmarks/workload.py: 20 NUMBER metrics in 5
dimensions, ~5 % missing, two profiles) as a Parquet file, then runs, each in a child process:
`healthscore rescore` (view BASIC, and view DIMENSIONS, the default), each against a Polars script
doing the same read → score (benchmarks/polars_baseline.py) → write: scores and ranks for BASIC,
and each dimension's score and rank too for DIMENSIONS.
The ids ascend (`acct-0`, `acct-1`, ...), which spares `rescore` hashing them for duplicates; a
second file with the ids in random order measures the general case.
Peak RSS and CPU time are each child's own (`RUSAGE_CHILDREN` read by a wrapper process around
it); CPU time shows the cost when other processes share the cores and inflate wall time. The scores
and ranks of every output are checked equal. To show what bounds the rate, the single stages are
timed in this process on a slice: Parquet decoding, scoring, Parquet encoding (the job's writer);
and the job's fixed cost (process start, imports, ruleset, opening the output), as the wall time of
a rescore of 1,000 accounts, the least of 5.
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

from benchmarks.machine import machine
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


@dataclass
class Run:
    name: str
    accounts: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    baseline: str = ""  # the name of the run this one is compared with ("": none, it is one)
    polars_threads: int | None = None  # a Polars script's thread pool (every core, as rescore)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "baseline": self.baseline,
            **({"polars_threads": self.polars_threads} if self.polars_threads else {}),
            "accounts": self.accounts,
            "seconds": round(self.seconds, 3),
            "accounts_per_s": round(self.accounts / self.seconds),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "accounts_per_cpu_s": round(self.accounts / self.cpu_seconds),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
        }


def measured(name: str, accounts: int, argv: Sequence[str], baseline: str = "") -> Run:
    # Every child gets every core: `benchmarks.core`, if it ran in this process first
    # (`python -m benchmarks`), left POLARS_MAX_THREADS=1 behind for its single-thread baseline.
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{name} failed:\n{done.stderr}")
    lines = done.stdout.splitlines()
    rss_kib, seconds, cpu = lines[-1].split()
    threads = [int(line.split()[1]) for line in lines if line.startswith("polars_threads ")]
    peak_mib = int(rss_kib) / 1024
    polars_threads = threads[0] if threads else None
    return Run(name, accounts, float(seconds), float(cpu), peak_mib, baseline, polars_threads)


def check_equal(name: str, expected: Path, got: Path) -> None:
    """Every score and rank column of the Polars script's output equals rescore's."""
    want = pq.read_table(expected)
    columns = [c for c in want.column_names if c.endswith(("score", "rank"))]
    have = pq.read_table(got, columns=columns)
    for column in columns:
        kind = pa.int64() if column.endswith("score") else pa.string()
        if not want.column(column).cast(kind).equals(have.column(column).cast(kind)):
            raise SystemExit(f"{name}: {column} differs from the Polars script's")


def best_of_5(timings: dict[str, tuple[float, float]], label: str, work: Callable[[], _T]) -> _T:
    """Runs `work` 5 times; records the least wall and the least CPU seconds seen (CPU: every
    thread of this process, the CPU the stage needs however many cores it kept busy). The
    least, as other tenants' load only ever adds to either."""
    wall, cpu, result = float("inf"), float("inf"), None
    for _ in range(5):
        start, used = time.perf_counter(), time.process_time()
        result = work()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - used)
    timings[label] = (wall, cpu)
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
    timings: dict[str, tuple[float, float]] = {}
    batch = best_of_5(
        timings, "parquet decode (pyarrow)", lambda: file.read_row_group(0).combine_chunks()
    ).to_batches()[0]
    out = {
        view: best_of_5(
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
            best_of_5(
                timings,
                f"parquet encode, {name} results",
                lambda batch=out[view]: encode(batch, Path(scratch) / "out.parquet"),
            )
    return [
        {
            "stage": label,
            "accounts": rows,
            "accounts_per_s": round(rows / seconds),
            "cpu_ns_per_account": round(cpu * 1e9 / rows, 1),
        }
        for label, (seconds, cpu) in timings.items()
    ]


def bounds(
    stage_rows: list[dict[str, object]], runs: list[Run], start_seconds: float
) -> list[dict[str, object]]:
    """Per view, the most the job could do if its stages needed no more CPU than alone and every
    core were busy all the time: cores / (decode + score + encode CPU per account), and that
    rate as a ratio to the same-view Polars script's. Then the same with the job's fixed cost
    (`start_seconds`, before the first batch can be read) added to the stages' time for the
    run's accounts: the least wall time any job built on these stages could take."""
    cpu = {str(s["stage"]): float(str(s["cpu_ns_per_account"])) for s in stage_rows}
    cores = os.cpu_count() or 1  # as the job and the stages use
    by_name = {r.name: r for r in runs}
    rows = []
    for view in ("BASIC", "DIMENSIONS"):
        ns = (
            cpu["parquet decode (pyarrow)"]
            + cpu[f"score, view {view}"]
            + cpu[f"parquet encode, {view} results"]
        )
        best = cores * 1e9 / ns
        polars = by_name[by_name[f"rescore, view {view}"].baseline]
        least_seconds = start_seconds + polars.accounts * ns / 1e9 / cores
        rows.append(
            {
                "view": view,
                "cpu_ns_per_account": round(ns, 1),
                "cores": cores,
                "accounts_per_s": round(best),
                "vs_polars": round(best * polars.seconds / polars.accounts, 2),
                "start_seconds": round(start_seconds, 3),
                "least_seconds_with_start": round(least_seconds, 3),
                "vs_polars_with_start": round(polars.seconds / least_seconds, 2),
            }
        )
    return rows


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
        "polars dimensions": scratch / "polars-dimensions.parquet",
        "basic": scratch / "rescore-basic.parquet",
        "dimensions": scratch / "rescore-dimensions.parquet",
    }

    def polars(view: str) -> list[str]:
        target = outputs["polars" if view == "basic" else "polars dimensions"]
        return [sys.executable, "-m", "benchmarks.polars_baseline", str(source), str(target), view]

    polars_basic = "polars script (read, score, write)"
    polars_dimensions = "polars script, dimension scores and ranks too"
    runs = [
        measured(polars_basic, accounts, polars("basic")),
        measured(polars_dimensions, accounts, polars("dimensions")),
        measured(
            "rescore, view BASIC",
            accounts,
            rescore(source, outputs["basic"], "--view", "basic"),
            polars_basic,
        ),
        measured(
            "rescore, view DIMENSIONS",
            accounts,
            rescore(source, outputs["dimensions"]),
            polars_dimensions,
        ),
        measured(
            "rescore, view BASIC, no pipeline threads",
            accounts,
            rescore(source, outputs["basic"], "--view", "basic", "--serial"),
            polars_basic,
        ),
        measured(
            "rescore, view BASIC, ids in random order",
            accounts,
            rescore(shuffled, scratch / "shuffled.parquet", "--view", "basic"),
            polars_basic,
        ),
    ]
    tiny = scratch / "tiny.parquet"
    generate(workload, 1_000, tiny)
    start_seconds = min(
        measured("start", 1_000, rescore(tiny, scratch / "tiny-out.parquet")).seconds
        for _ in range(5)
    )
    check_equal("rescore basic", outputs["polars"], outputs["basic"])
    check_equal("rescore dimensions", outputs["polars dimensions"], outputs["dimensions"])
    stage_rows = stages(workload, source)
    return {
        "machine": machine(),
        "build_profile": engine.BUILD_PROFILE,
        "workload": f"{accounts} accounts x {len(workload.metric_names)} NUMBER metrics in "
        f"{workload.dimensions} dimensions, ~{workload.missing_share:.0%} missing; Parquet "
        "(pyarrow defaults: snappy, 1 Mi-row row groups) to Parquet",
        "results": [r.as_dict() for r in runs],
        "stages": stage_rows,
        "start_seconds": round(start_seconds, 3),
        "bounds": bounds(stage_rows, runs, start_seconds),
    }


def print_table(report: dict[str, object]) -> None:
    results = report["results"]
    stage_rows = report["stages"]
    assert isinstance(results, list) and isinstance(stage_rows, list)
    by_name = {r["name"]: r for r in results}
    print(f"machine: {report['machine']} ({report['build_profile']} build)")
    print(f"workload: {report['workload']}")
    header = (
        f"{'name':<46} {'accounts':>10} {'seconds':>8} {'accounts/s':>11} {'vs polars':>9} "
        f"{'CPU s':>7} {'acc/CPU s':>10} {'peak RSS':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        baseline = by_name.get(r["baseline"], r)
        ratio = r["accounts_per_s"] / baseline["accounts_per_s"]
        print(
            f"{r['name']:<46} {r['accounts']:>10,} {r['seconds']:>8.2f} "
            f"{r['accounts_per_s']:>11,} {ratio:>8.2f}x {r['cpu_seconds']:>7.2f} "
            f"{r['accounts_per_cpu_s']:>10,} {r['peak_rss_mib']:>5.0f} MiB"
        )
    print("single stages, every core, one row group (what bounds the end-to-end rate):")
    for s in stage_rows:
        print(
            f"  {s['stage']:<40} {s['accounts_per_s']:>11,} accounts/s "
            f"{s['cpu_ns_per_account']:>7.1f} CPU ns/account"
        )
    print(
        "the stages' CPU alone, every core busy all the time (the most any pipeline of them does):"
    )
    for b in report["bounds"]:  # type: ignore[attr-defined]
        print(
            f"  view {b['view']:<11} {b['cpu_ns_per_account']:>6.1f} CPU ns/account on "
            f"{b['cores']} cores: at most {b['accounts_per_s']:>11,} accounts/s "
            f"= {b['vs_polars']:.2f}x polars"
        )
    print(f"and the job's fixed cost first ({report['start_seconds']:.3f} s: a 1,000-account job):")
    for b in report["bounds"]:  # type: ignore[attr-defined]
        print(
            f"  view {b['view']:<11} no job on these stages takes less than "
            f"{b['least_seconds_with_start']:.2f} s = {b['vs_polars_with_start']:.2f}x polars"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=10_000_000)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "rescore.json"
    )
    parser.add_argument("--scratch", type=Path, help="working directory (default: a temporary one)")
    args = parser.parse_args(argv)
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
