"""`healthscore rescore`: every account of a set of files scored with one ruleset, streamed.

The local engine is a three-stage pipeline over bounded queues: a reader thread (Parquet, CSV or
JSON Lines decoding, which releases the GIL), the main thread (conversion, duplicate ids, scoring
in the core on `threads` cores), and a writer thread (encoding and writing). At most `_QUEUE_DEPTH`
batches wait between two stages, so memory is bounded by the batch size, not the input size.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import queue
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthscore import engine
from healthscore.errors import (
    AllocationError,
    MalformedInputError,
    field_error,
)
from healthscore.jobs import convert, sinks, sources
from healthscore.jobs.dedupe import DuplicateFinder
from healthscore.jobs.rulesets import JobRuleset
from healthscore.jobs.sources import Chunk, InputFile, RowError
from healthscore_client.v1 import scoring_pb2

if TYPE_CHECKING:  # rich loads only to draw: a quiet job never imports it (40 ms)
    from rich.console import Console
    from rich.progress import Progress

_QUEUE_DEPTH = 2
RANKS = ("GOOD", "AVERAGE", "POOR", "UNKNOWN")
DIMENSIONS = scoring_pb2.SCORE_VIEW_DIMENSIONS

_T = TypeVar("_T")


@dataclass
class JobConfig:
    """What `healthscore rescore` was asked to do (see the CLI for each option)."""

    input: str
    output: Path
    ruleset: JobRuleset
    output_format: str | None = None
    input_format: str | None = None
    as_of: dt.datetime | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    errors: Path | None = None
    threads: int = 0
    batch_rows: int = sources.DEFAULT_BATCH_ROWS
    view: scoring_pb2.ScoreView.ValueType = DIMENSIONS
    overwrite: bool = False
    pipeline: bool = True

    @property
    def cores(self) -> int:
        return self.threads or os.cpu_count() or 1


@dataclass(frozen=True)
class Partition:
    """One scoring pass: its files, its as_of, and its output directory name (`date=D`)."""

    name: str | None
    as_of: dt.datetime
    files: list[InputFile]


@dataclass
class Plan:
    partitions: list[Partition]
    output: Path
    output_format: str
    partitioned: bool
    total_work: int


@dataclass
class Summary:
    read: int = 0
    scored: int = 0
    ranks: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    output: Path | None = None
    errors_file: Path | None = None
    ruleset: str = ""

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected.values())

    @property
    def accounts_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def add(self, other: Summary) -> None:
        self.read += other.read
        self.scored += other.scored
        self.ranks.update(other.ranks)
        self.rejected.update(other.rejected)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ruleset": self.ruleset,
            "read": self.read,
            "scored": self.scored,
            "rejected": self.rejected_rows,
            "rejected_by_kind": dict(sorted(self.rejected.items())),
            "ranks": {rank: self.ranks.get(rank, 0) for rank in RANKS},
            "seconds": round(self.seconds, 3),
            "accounts_per_second": round(self.accounts_per_second),
            "output": str(self.output),
            "errors_file": str(self.errors_file),
        }


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def plan(config: JobConfig) -> Plan:
    """Finds the input files, checks them, and decides the output's shape."""
    suffix_format = sinks.OUTPUT_FORMATS.get(config.output.suffix.lower())
    if config.date_from is not None or config.date_to is not None:
        if config.date_from is None or config.date_to is None:
            raise field_error("--from/--to", "give both --from and --to")
        if config.as_of is not None:
            raise field_error("--as-of", "each day is scored as of its date: drop --as-of")
        days = sources.date_partitions(
            Path(config.input), config.date_from, config.date_to, config.input_format
        )
        partitions = [Partition(f"date={d.isoformat()}", _midnight(d), f) for d, f in days]
        partitioned = True
    else:
        as_of = config.as_of or dt.datetime.now(dt.UTC)
        files = sources.discover(config.input, config.input_format)
        partitions = [Partition(None, as_of, files)]
        partitioned = suffix_format is None
    fmt = config.output_format or suffix_format or "parquet"
    if config.output_format and suffix_format and config.output_format != suffix_format:
        raise field_error("--format", f"{config.output} is not a {config.output_format} file name")
    every_file = [f for p in partitions for f in p.files]
    sources.check_columns(every_file)
    return Plan(partitions, config.output, fmt, partitioned, sources.count_work(every_file))


@dataclass
class ChunkResult:
    """A chunk scored: the result rows, the rejected rows (in row order), and counts."""

    results: pa.RecordBatch
    errors: list[RowError]
    summary: Summary
    work: int


# Core output columns that `_results` places itself (the error column is dropped: bad rows are
# in the errors file).
_LEADING_COLUMNS = frozenset({"account_id", "profile", "error"})
DuplicateCheck = Callable[[pa.Array, str, np.ndarray], dict[int, str]]


@dataclass
class Scoring:
    """How every chunk of a partition is scored (shared by the local and the Dask engines)."""

    compiled: engine.CompiledRuleset
    schema: convert.Schema
    ruleset_name: str
    model: str
    as_of: dt.datetime
    view: scoring_pb2.ScoreView.ValueType
    threads: int
    _constant_columns: tuple[pa.Array, pa.Array, pa.Array] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def _empty_core_output(self) -> pa.RecordBatch:
        """The core's output for no accounts: its columns, for this view."""
        empty = pa.RecordBatch.from_arrays([pa.nulls(0, pa.string())], names=["id"])
        return self.compiled.score_arrow(empty, as_of=self.as_of, view=self.view, threads=1)

    def result_schema(self) -> pa.Schema:
        return self._results(self._empty_core_output()).schema

    def _constants(self, n: int) -> tuple[pa.Array, pa.Array, pa.Array]:
        """The model, version and as_of columns of `n` rows: the same for every batch of that
        size (nearly all of them), so built once (one tuple swapped whole: threads may share)."""
        cached = self._constant_columns
        if cached is None or len(cached[0]) != n:
            as_of = pa.array(np.full(n, self.as_of.timestamp() * 1e6, np.int64)).view(
                pa.timestamp("us", "UTC")
            )
            cached = (
                sinks.constant_dictionary(self.model, n),
                sinks.constant_dictionary(self.ruleset_name, n),
                as_of,
            )
            self._constant_columns = cached
        return cached

    def _results(self, core: pa.RecordBatch) -> pa.RecordBatch:
        model, version, as_of = self._constants(core.num_rows)
        rest = [name for name in core.schema.names if name not in _LEADING_COLUMNS]
        names = ["account_id", "profile", "model", "version", "as_of", *rest]
        arrays = [core.column("account_id"), core.column("profile"), model, version, as_of]
        arrays += [core.column(name) for name in rest]
        return pa.RecordBatch.from_arrays(arrays, names=names)

    def _refused(self, batch: pa.RecordBatch, message: str) -> pa.RecordBatch:
        """The core's output shape with every row bad (the batch as a whole was refused)."""
        schema = self._empty_core_output().schema
        columns = [
            batch.column("id")
            if f.name == "account_id"
            else pa.array([message] * batch.num_rows, pa.string())
            if f.name == "error"
            else pa.nulls(batch.num_rows, f.type)
            for f in schema
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    def score(self, chunk: Chunk, duplicates: DuplicateCheck) -> ChunkResult:
        summary = Summary(read=chunk.batch.num_rows + len(chunk.unreadable))
        converted = convert.convert(chunk.batch, self.schema)
        ids = converted.batch.column("id")
        reasons = dict(chunk.bad)
        for row, reason in converted.errors.items():
            convert.add_reason(reasons, row, reason)
        duplicate = duplicates(ids, chunk.file, chunk.rows)
        reasons.update(duplicate)  # a duplicate says just that
        # Rows with bad values are scored too (their bad values are null), so that the core's
        # reasons (undeclared levels, infinities, ...) join the converter's: a row's errors name
        # every bad column. Rows without an id, and duplicates, are not scored.
        no_id = pc.fill_null(pc.equal(ids, ""), True)  # null or ""
        scored = np.logical_not(no_id.to_numpy(zero_copy_only=False))
        scored[list(duplicate)] = False
        batch = converted.batch if scored.all() else converted.batch.filter(pa.array(scored))
        positions = np.flatnonzero(scored)  # each scored row's index in the chunk
        try:
            core = self.compiled.score_arrow(
                batch, as_of=self.as_of, view=self.view, threads=self.threads
            )
        except MalformedInputError as exc:  # a column the core refuses: its rows are bad
            core = self._refused(batch, str(exc))
        error = core.column("error")
        core_bad = np.zeros(core.num_rows, bool)
        if error.null_count < core.num_rows:
            core_bad = pc.is_valid(error).to_numpy(zero_copy_only=False)
            index = np.flatnonzero(core_bad)
            messages = error.take(pa.array(index)).to_pylist()
            for i, message in zip(positions[index].tolist(), messages, strict=True):
                convert.add_reason(reasons, i, message)
        errors = list(chunk.unreadable)
        if errors:
            summary.rejected["unreadable record"] += len(errors)
        if reasons:
            rejected = sorted(reasons)
            texts = ids.take(pa.array(rejected)).to_pylist()
            errors += [
                RowError(chunk.file, int(chunk.rows[i]), t or "", reasons[i])
                for i, t in zip(rejected, texts, strict=True)
            ]
            for reason in reasons.values():
                summary.rejected[_kind(reason)] += 1
            rejected_rows = np.zeros(chunk.batch.num_rows, bool)
            rejected_rows[rejected] = True
            core_bad |= rejected_rows[positions]
        if core_bad.any():
            core = core.filter(pa.array(np.logical_not(core_bad)))
        errors.sort(key=lambda e: e.row)
        results = self._results(core)
        summary.scored = results.num_rows
        if results.num_rows:
            rank = results.column("rank")  # dictionary-encoded, no nulls once bad rows are out
            counts = np.bincount(rank.indices.to_numpy(), minlength=len(rank.dictionary))
            for name, count in zip(rank.dictionary.to_pylist(), counts.tolist(), strict=True):
                if count:
                    summary.ranks[name] += count
        return ChunkResult(results, errors, summary, chunk.work)


def _kind(reason: str) -> str:
    if reason.startswith("duplicate id"):
        return "duplicate id"
    if reason.startswith("id:"):
        return "missing id"
    return "invalid value"


def scoring_for(
    config: JobConfig, compiled: engine.CompiledRuleset, partition: Partition, threads: int
) -> Scoring:
    return Scoring(
        compiled,
        convert.Schema.of(config.ruleset.ruleset),
        config.ruleset.name,
        config.ruleset.model_id,
        partition.as_of,
        config.view,
        threads,
    )


# The pipeline.
_DONE = object()


def _produce(items: Iterable[_T], out: queue.Queue[Any], stop: threading.Event) -> None:
    def put(item: Any) -> bool:
        """Hands `item` over; False once the consumer has stopped (nobody would take it, and
        a blocking put would keep the consumer's join waiting forever)."""
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in items:
            if not put(item):
                return
        put(_DONE)
    except BaseException as exc:  # handed to the consumer, which re-raises it
        put(exc)


def pipelined(items: Iterable[_T], enabled: bool = True) -> Generator[_T, None, None]:
    """`items` produced on a thread of its own, at most `_QUEUE_DEPTH` ahead of the consumer."""
    if not enabled:
        yield from items
        return
    handoff: queue.Queue[Any] = queue.Queue(_QUEUE_DEPTH)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(items, handoff, stop), daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class _Writer:
    """Writes result batches on a thread of its own (or inline when not pipelined)."""

    def __init__(self, writer: sinks.BatchWriter, enabled: bool) -> None:
        self._writer = writer
        self._queue: queue.Queue[Any] = queue.Queue(_QUEUE_DEPTH)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True) if enabled else None
        if self._thread:
            self._thread.start()

    def _run(self) -> None:
        while (batch := self._queue.get()) is not _DONE:
            if self._failure is None:
                try:
                    self._writer.write(batch)
                except BaseException as exc:
                    self._failure = exc

    def write(self, batch: pa.RecordBatch) -> None:
        if self._failure is not None:
            raise self._failure
        if self._thread is None:
            self._writer.write(batch)
        else:
            self._queue.put(batch)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_DONE)
            self._thread.join()
        self._writer.close()
        if self._failure is not None:
            raise self._failure


def progress_for(console: Console | None, quiet: bool, job: str = "rescore") -> Progress | None:
    """A progress bar named `job` on stderr; none when quiet or when stderr is not a terminal."""
    if quiet:
        return None
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        """Accounts per second, from the accounts counted in the task's `accounts` field."""

        def render(self, task: Task) -> Text:
            elapsed = task.elapsed or 0.0
            accounts = task.fields.get("accounts", 0)
            rate = accounts / elapsed if elapsed > 0 else 0.0
            return Text(f"{accounts:,} accounts  {rate:,.0f}/s", style="progress.data.speed")

    console = console or Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(
        TextColumn(f"[bold]{job}"),
        BarColumn(),
        TaskProgressColumn(),
        Rate(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def run_local(
    config: JobConfig,
    console: Console | None = None,
    quiet: bool = False,
    on_chunk: Callable[[ChunkResult], None] | None = None,
) -> Summary:
    """Runs the job in this process; `on_chunk` sees every scored chunk (tests use it). SIGTERM
    unwinds it like Ctrl-C: its temporary outputs are removed, and the process exits 143."""
    with _sigterm_unwinds():
        return _run_local(config, console, quiet, on_chunk)


class Terminated(SystemExit):
    """SIGTERM during a job: raised in the main thread, so every `finally` and the output's
    abort run, then the process exits 128 + SIGTERM as it would have."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM raises `Terminated` while the job runs (Python delivers signals to the main
    thread only: elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_local(
    config: JobConfig,
    console: Console | None,
    quiet: bool,
    on_chunk: Callable[[ChunkResult], None] | None,
) -> Summary:
    job_plan = plan(config)
    compiled = engine.compile_ruleset(config.ruleset.ruleset)
    started = time.perf_counter()
    output = sinks.Output(
        job_plan.output,
        job_plan.output_format,
        job_plan.partitioned,
        config.errors,
        config.overwrite,
    )
    summary = Summary(ruleset=config.ruleset.name)
    progress = progress_for(console, quiet)
    try:
        errors = sinks.ErrorsFile(output.errors_staging)
        try:
            with progress or _nothing():
                task = (
                    progress.add_task("rescore", total=job_plan.total_work, accounts=0)
                    if progress
                    else None
                )
                for partition in job_plan.partitions:
                    scoring = scoring_for(config, compiled, partition, config.cores)
                    finder = _duplicate_finder(output.staging.parent, partition.files)
                    writer = _Writer(
                        sinks.open_writer(
                            output.part_path(partition.name, 0),
                            job_plan.output_format,
                            scoring.result_schema(),
                        ),
                        config.pipeline,
                    )
                    try:
                        chunks = (
                            chunk
                            for source in partition.files
                            for chunk in sources.read(source, scoring.schema, config.batch_rows)
                        )
                        for chunk in pipelined(chunks, config.pipeline):
                            result = scoring.score(chunk, finder.check)
                            writer.write(result.results)
                            errors.write(result.errors)
                            summary.add(result.summary)
                            if on_chunk is not None:
                                on_chunk(result)
                            if progress is not None and task is not None:
                                progress.update(task, advance=result.work, accounts=summary.read)
                    finally:
                        finder.close()
                        writer.close()
        finally:
            errors.close()
        output.commit()
    except BaseException:
        output.abort()
        raise
    summary.seconds = time.perf_counter() - started
    summary.output, summary.errors_file = output.target, output.errors_target
    return summary


def _duplicate_finder(spill_dir: Path, files: list[InputFile]) -> DuplicateFinder:
    """A duplicate check sized for the rows the Parquet footers declare; a size whose table
    cannot be had (a damaged or forged footer claiming billions of rows) fails the job with
    the files named, before any work."""
    declared = {f.name: sources.count_work([f]) for f in files if f.format == "parquet"}
    expected = sum(declared.values())
    try:
        return DuplicateFinder(spill_dir, expected)
    except AllocationError as exc:
        largest = sorted(declared, key=declared.__getitem__, reverse=True)[:3]
        named = ", ".join(f"{name} ({declared[name]:,})" for name in largest)
        raise AllocationError(
            f"the Parquet footers declare {expected:,} rows ({named}): too many to check for "
            f"duplicate ids in this process's memory (is a footer damaged?): {exc}"
        ) from exc


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def print_summary(summary: Summary, console: Console) -> None:
    """Counts per rank, the rejected rows by kind, and the rate."""
    from rich.table import Table

    table = Table(caption=summary.ruleset, show_header=True)
    table.add_column("")
    table.add_column("accounts", justify="right")
    for rank in RANKS:
        table.add_row(rank, f"{summary.ranks.get(rank, 0):,}")
    table.add_row("scored", f"{summary.scored:,}", style="bold")
    for kind, count in sorted(summary.rejected.items()):
        table.add_row(f"rejected: {kind}", f"{count:,}", style="red")
    table.add_row("rejected", f"{summary.rejected_rows:,}", style="bold red")
    table.add_row("read", f"{summary.read:,}")
    console.print(table)
    console.print(
        f"{summary.read:,} accounts in {summary.seconds:.2f} s "
        f"({summary.accounts_per_second:,.0f} accounts/s); results: {summary.output}; "
        f"rejected rows: {summary.errors_file}"
    )
