"""`rescore --engine dask`: the local engine's job on a Dask distributed cluster.

Units of work are Parquet row groups and whole CSV / JSON Lines files, in the local engine's order.
Two rounds of tasks make the results identical to the local engine's:

1. *ids*: each unit's tasks read only what gives the ids (the same readers and conversion as the
   local engine) and return them with their row numbers. The client feeds them, in unit order, to
   the local engine's `DuplicateFinder`, so "first occurrence wins" means the same rows whatever
   the partitioning, and each unit gets the map of its duplicate rows (row → reason), usually empty.
2. *score*: each unit's task reads, converts and scores its rows through the Arrow path with the
   same `Scoring.score` as the local engine (duplicates from the map), and writes its results part
   and its rejected rows into the job's staging directory on the shared filesystem. The client
   appends the error parts into `_errors.csv` in unit order, writes `_SUCCESS` and renames the
   staging directory into place.

Each worker process compiles the ruleset once, from its serialized bytes, the first time one of
its tasks needs it (a per-process cache keyed by the bytes' digest). Scoring threads per task:
`--threads`, else the worker's cores divided among its task slots.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from rich.console import Console

from healthscore import engine
from healthscore.errors import InvalidInputError, Violation
from healthscore.jobs import convert, rescore, sinks, sources
from healthscore.jobs.dedupe import DuplicateFinder
from healthscore.jobs.rescore import JobConfig, Partition, Scoring, Summary
from healthscore.jobs.sources import Chunk, InputFile
from healthscore_client.v1 import ruleset_pb2

_COMPILED: dict[str, engine.CompiledRuleset] = {}
_COMPILED_LOCK = threading.Lock()


def compiled_ruleset(data: bytes) -> engine.CompiledRuleset:
    """This process's compiled copy of a serialized ruleset (compiled on first use only)."""
    key = hashlib.sha256(data).hexdigest()
    with _COMPILED_LOCK:
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = _COMPILED[key] = engine.compile_ruleset(data)
        return compiled


@dataclass(frozen=True)
class Unit:
    """One task's share: a file, or one row group of a Parquet file."""

    partition: int
    index: int  # within its partition: names its part file
    source: InputFile
    row_group: int | None


def _units(partitions: list[Partition]) -> list[Unit]:
    units: list[Unit] = []
    for p, partition in enumerate(partitions):
        k = 0
        for source in partition.files:
            if source.format == "parquet":
                for group in range(sources.row_group_count(source)):
                    units.append(Unit(p, k, source, group))
                    k += 1
            else:
                units.append(Unit(p, k, source, None))
                k += 1
    return units


def _chunks(unit: Unit, schema: convert.Schema, batch_rows: int) -> Iterator[Chunk]:
    if unit.row_group is None:
        return sources.read(unit.source, schema, batch_rows)
    return sources.read_row_group(unit.source, schema, unit.row_group, batch_rows)


@dataclass(frozen=True)
class TaskSpec:
    """What every task needs besides its unit (small: shipped with each task)."""

    ruleset: bytes
    ruleset_name: str
    model: str
    view: int
    threads: int
    batch_rows: int


def unit_ids(unit: Unit, spec: TaskSpec) -> list[tuple[str, npt.NDArray[np.int64], pa.Array]]:
    """Round 1: the ids of a unit's rows, chunk by chunk, with their row numbers."""
    schema = convert.Schema.ids_only()
    return [
        (chunk.file, chunk.rows, convert.batch_ids(chunk.batch))
        for chunk in _chunks(unit, schema, spec.batch_rows)
    ]


def _task_threads(spec: TaskSpec) -> int:
    if spec.threads:
        return spec.threads
    try:
        worker: Any = importlib.import_module("distributed").get_worker()
        slots = max(1, int(worker.state.nthreads))
    except (ImportError, ValueError):
        slots = 1
    return max(1, (os.cpu_count() or 1) // slots)


def score_unit(
    unit: Unit,
    spec: TaskSpec,
    as_of_micros: int,
    duplicates: dict[int, str],
    part: str,
    errors_part: str,
) -> Summary:
    """Round 2: scores a unit and writes its results part and its errors part."""
    import datetime as dt

    ruleset = ruleset_pb2.Ruleset.FromString(spec.ruleset)
    scoring = Scoring(
        compiled_ruleset(spec.ruleset),
        convert.Schema.of(ruleset),
        spec.ruleset_name,
        spec.model,
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=as_of_micros),
        spec.view,  # type: ignore[arg-type]
        _task_threads(spec),
    )
    known = np.array(sorted(duplicates), np.int64)

    def check(ids: pa.Array, file: str, rows: npt.NDArray[np.int64]) -> dict[int, str]:
        del ids, file
        if not len(known):
            return {}
        hit = np.flatnonzero(np.isin(rows, known))
        return {int(i): duplicates[int(rows[i])] for i in hit}

    summary = Summary()
    fmt = sinks.EXTENSIONS_FORMATS[Path(part).suffix]
    writer = sinks.open_writer(Path(part), fmt, scoring.result_schema())
    errors = sinks.ErrorsFile(Path(errors_part))
    try:
        for chunk in _chunks(unit, scoring.schema, spec.batch_rows):
            result = scoring.score(chunk, check)
            writer.write(result.results)
            errors.write(result.errors)
            summary.add(result.summary)
    finally:
        writer.close()
        errors.close()
    return summary


def run(
    config: JobConfig, scheduler: Any, console: Console | None = None, quiet: bool = False
) -> Summary:
    """Runs the job on the cluster at `scheduler` (an address, or a `distributed.Client`)."""
    # distributed has no type information: its API is used as Any here, and only here.
    distributed: Any = importlib.import_module("distributed")
    own_client = not isinstance(scheduler, distributed.Client)

    engine.compile_ruleset(config.ruleset.ruleset)  # an invalid draft fails here, not on workers
    job_plan = rescore.plan(config)
    if not job_plan.partitioned:
        raise InvalidInputError(
            "--engine dask writes a directory of parts: give --output a directory name",
            [Violation("--output", "a directory name, without a file suffix")],
        )
    started = time.perf_counter()
    output = sinks.Output(
        job_plan.output, job_plan.output_format, True, config.errors, config.overwrite
    )
    spec = TaskSpec(
        config.ruleset.ruleset.SerializeToString(),
        config.ruleset.name,
        config.ruleset.model_id,
        config.view,
        config.threads,
        config.batch_rows,
    )
    units = _units(job_plan.partitions)
    client = distributed.Client(scheduler) if own_client else scheduler
    summary = Summary(ruleset=config.ruleset.name)
    progress = rescore.progress_for(console, quiet)
    try:
        remote_spec = client.scatter(spec, broadcast=True)
        id_futures = client.map(unit_ids, units, spec=remote_spec, pure=False)
        duplicates: list[dict[int, str]] = []
        finder: DuplicateFinder | None = None
        try:
            for unit, future in zip(units, id_futures, strict=True):
                if unit.index == 0:  # a new partition (day): ids start afresh
                    if finder is not None:
                        finder.close()
                    finder = DuplicateFinder(output.staging.parent)
                assert finder is not None
                found: dict[int, str] = {}
                for file, rows, ids in future.result():
                    for i, reason in finder.check(ids, file, rows).items():
                        found[int(rows[i])] = reason
                duplicates.append(found)
                future.release()
        finally:
            if finder is not None:
                finder.close()
        ext = sinks.EXTENSIONS[job_plan.output_format]
        parts: list[str] = []
        error_parts: list[str] = []
        for unit in units:
            partition = job_plan.partitions[unit.partition]
            part = output.part_path(partition.name, unit.index)
            parts.append(str(part.with_suffix(ext)))
            error_parts.append(str(output.staging / f"_errors-{len(error_parts):05d}.csv"))
        futures = [
            client.submit(
                score_unit,
                unit,
                remote_spec,
                int(job_plan.partitions[unit.partition].as_of.timestamp() * 1_000_000),
                dups,
                part,
                errors_part,
                pure=False,
            )
            for unit, dups, part, errors_part in zip(
                units, duplicates, parts, error_parts, strict=True
            )
        ]
        with progress or rescore._nothing():
            task = (
                progress.add_task("rescore", total=len(futures), accounts=0) if progress else None
            )
            for future in distributed.as_completed(futures):
                summary.add(future.result())
                if progress is not None and task is not None:
                    progress.update(task, advance=1, accounts=summary.read)
        errors = sinks.ErrorsFile(output.errors_staging)
        try:
            for errors_part in error_parts:
                errors.append_file(Path(errors_part))
                Path(errors_part).unlink()
        finally:
            errors.close()
        output.commit()
    except BaseException:
        output.abort()
        raise
    finally:
        if own_client:
            client.close()
    summary.seconds = time.perf_counter() - started
    summary.output, summary.errors_file = output.target, output.errors_target
    return summary
