"""Daily snapshots of every account's current health into the daily health table, the upkeep
after each (retention, compaction, vacuum), and the scheduler thread inside the service.

A snapshot taken on day D (in the snapshot's time zone) is the row of day D: the current health
at that instant (`as_of`). The scheduler takes it at `snapshot_time` every day. On start it fills
the days missed since the last stored one (up to the last one due, within retention) from the
current health too: a filled day holds the health as of the fill (its `as_of` says when), not a
rescore as of that day. An empty table gets only the last due day.

Only one process snapshots a data directory: the scheduler holds an exclusive lock on
`<data dir>/history.lock` (flock) for as long as it runs; with `--workers N` the first worker to
take it snapshots and the others stand by, retrying, in case it goes away.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol
from zoneinfo import ZoneInfo

import pyarrow as pa
import structlog

from healthscore.errors import FailedPreconditionError, InvalidInputError, Violation
from healthscore.history.table import HistoryTable, table_uri

log = structlog.get_logger("healthscore.history")

BATCH_ROWS = 1 << 16
LOCK_FILE = "history.lock"
HISTORY_FOLDER = "history"


class CurrentHealthSource(Protocol):
    """Every account's current health, in the `HEALTH_DAILY` schema, with `day` set to `day`."""

    def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]: ...


@dataclass(frozen=True)
class HistoryConfig:
    """Where the history lives and how snapshots are taken."""

    # A folder or `s3://bucket/prefix`; None: `<data dir>/history`.
    uri: str | None = None
    storage_options: dict[str, str] = field(default_factory=dict)
    snapshot_time: dt.time = dt.time(0, 15)
    zone: str = "UTC"
    retention_days: int = 400
    # Files no longer referenced are deleted once no version of the last this many hours reads them.
    vacuum_hours: int = 168
    scheduler: bool = True

    def root(self, data_dir: Path) -> str:
        return self.uri if self.uri else str(data_dir / HISTORY_FOLDER)

    def check(self) -> None:
        problems = []
        try:
            ZoneInfo(self.zone)
        except (KeyError, ValueError):
            problems.append(Violation("snapshot_zone", f"unknown time zone {self.zone!r}"))
        if self.retention_days < 1:
            problems.append(Violation("history_retention_days", "must be at least 1"))
        if self.vacuum_hours < 0:
            problems.append(Violation("history_vacuum_hours", "must not be negative"))
        if problems:
            raise InvalidInputError("history: " + "; ".join(map(str, problems)), problems)


@dataclass(frozen=True)
class SnapshotResult:
    day: dt.date
    rows: int
    seconds: float
    compacted: list[str]
    removed_files: int


class History:
    """The service's history: the daily health table, its snapshots and their upkeep."""

    def __init__(
        self, config: HistoryConfig, data_dir: Path, source: CurrentHealthSource | None = None
    ) -> None:
        config.check()
        self.config = config
        self.source = source
        self.zone = ZoneInfo(config.zone)
        self.table = HistoryTable(table_uri(config.root(data_dir)), config.storage_options)
        # Reentrant: `snapshot` holds it from its write to the end of its upkeep.
        self._snapshot_lock = threading.RLock()

    def now(self) -> dt.datetime:
        return dt.datetime.now(self.zone)

    def today(self) -> dt.date:
        return self.now().date()

    def oldest_day(self, today: dt.date | None = None) -> dt.date:
        return (today or self.today()) - dt.timedelta(days=self.config.retention_days)

    def snapshot(
        self, day: dt.date | None = None, *, upkeep_in_background: bool = False
    ) -> SnapshotResult:
        """Writes `day` (default: today) from the current health, replacing it if stored, then
        applies retention, compaction and vacuum: before returning, or with
        `upkeep_in_background` in a thread of its own (a call that must answer soon: compacting
        a month of a million accounts takes minutes)."""
        with self._snapshot_lock:
            today = self.today()
            result = self.write(day, today)
            if result.rows == 0:  # nothing written: nothing to keep up
                return result
            if upkeep_in_background:
                threading.Thread(
                    target=self._background_upkeep,
                    args=(today,),
                    name="history-upkeep",
                    daemon=True,
                ).start()
                return result
            compacted, removed = self.upkeep(today)
        return SnapshotResult(result.day, result.rows, result.seconds, compacted, removed)

    def write(self, day: dt.date | None = None, today: dt.date | None = None) -> SnapshotResult:
        """Writes `day` (default: `today`, by default the current day) from the current health,
        replacing it if stored, with no upkeep after it (see `snapshot`, `upkeep`)."""
        if self.source is None:
            raise FailedPreconditionError(
                "no account store: snapshots need the accounts' current health"
            )
        today = today or self.today()
        day = day or today
        if day > today:
            raise InvalidInputError(
                f"{day} is in the future", [Violation("snapshot_id", f"{day} is after {today}")]
            )
        if day < self.oldest_day(today):
            raise InvalidInputError(
                f"{day} is before the retention window",
                [Violation("snapshot_id", f"{day} is before {self.oldest_day(today)}")],
            )
        from healthscore.jobs.rescore import pipelined  # as `ingest` does: not at server start

        source = self.source

        def read() -> Iterator[pa.RecordBatch]:  # the source is called in the reader thread
            yield from source.iter_current_health(day, BATCH_ROWS)

        with self._snapshot_lock:
            start = time.perf_counter()
            # The batches come from one thread of their own however many threads the writer
            # pulls from (a source may hold a per-thread handle, such as an SQLite connection).
            # Closed however the write ends: the reader thread has stopped when it returns.
            with contextlib.closing(pipelined(read())) as batches:
                first = next((b for b in batches if b.num_rows), None)
                if first is None:  # no accounts yet: no day is recorded (a later start fills it)
                    log.info("snapshot_skipped", day=day.isoformat(), reason="no accounts")
                    return SnapshotResult(day, 0, time.perf_counter() - start, [], 0)
                rows = self.table.write_day(day, itertools.chain([first], batches))
            written = time.perf_counter() - start
        log.info("snapshot_written", day=day.isoformat(), rows=rows, seconds=round(written, 3))
        return SnapshotResult(day, rows, written, [], 0)

    def _background_upkeep(self, today: dt.date) -> None:
        try:
            self.upkeep(today)
        except Exception:
            log.exception("history_upkeep_failed")

    def upkeep(self, today: dt.date) -> tuple[list[str], int]:
        """Retention, then compaction, then vacuum; returns (months compacted, files removed)."""
        with self._snapshot_lock:  # no snapshot meanwhile: they would conflict at commit
            self.table.delete_before(self.oldest_day(today))
            compacted = self.table.compact(today)
            removed = self.table.vacuum(self.config.vacuum_hours)
        if compacted or removed:
            log.info("history_upkeep", compacted=compacted, removed_files=removed)
        return compacted, removed

    def last_due(self, now: dt.datetime | None = None) -> dt.date:
        """The last day whose snapshot time has passed."""
        now = (now or self.now()).astimezone(self.zone)
        today = now.date()
        return today if now.time() >= self.config.snapshot_time else today - dt.timedelta(days=1)

    def missed_days(self, now: dt.datetime | None = None) -> list[dt.date]:
        """The days due but not stored since the last stored one (an empty table: the last due
        day only), within retention."""
        due = self.last_due(now)
        last = self.table.last_day()
        if last is None:
            return [due]
        first = max(last + dt.timedelta(days=1), self.oldest_day(due) + dt.timedelta(days=1))
        return [first + dt.timedelta(days=n) for n in range((due - first).days + 1)]

    def next_run(self, now: dt.datetime | None = None) -> dt.datetime:
        now = (now or self.now()).astimezone(self.zone)
        at = dt.datetime.combine(now.date(), self.config.snapshot_time, self.zone)
        return at if at > now else at + dt.timedelta(days=1)


class Scheduler:
    """The daemon thread that fills missed days on start and snapshots every day at the
    configured time, in the one process that holds the data directory's history lock."""

    def __init__(self, history: History, lock_path: Path, retry_seconds: float = 60.0) -> None:
        self.history = history
        self.lock_path = lock_path
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-scheduler", daemon=True)
        self.holds_lock = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        with _exclusive(self.lock_path, self._stop, self.retry_seconds) as locked:
            if not locked:
                return
            self.holds_lock.set()
            log.info("snapshot_scheduler_started", pid=os.getpid())
            self._fill_missed()
            while not self._stop.is_set():
                wait = (self.history.next_run() - self.history.now()).total_seconds()
                if self._stop.wait(max(0.0, wait)):
                    return
                self._take(self.history.last_due())

    def _fill_missed(self) -> None:
        """Writes the missed days, then keeps the table up once (not after every day: a month
        of missed days would compact the month again every `COMPACT_AFTER_DAILY_FILES`)."""
        try:
            missed = self.history.missed_days()
        except Exception:
            log.exception("snapshot_failed", stage="missed days")
            return
        today = self.history.today()
        written = False
        for day in missed:
            if self._stop.is_set():
                return
            try:
                written = self.history.write(day, today).rows > 0 or written
            except Exception:
                log.exception("snapshot_failed", day=day.isoformat())
        if not written:
            return
        try:
            self.history.upkeep(today)
        except Exception:
            log.exception("history_upkeep_failed")

    def _take(self, day: dt.date) -> None:
        try:
            self.history.snapshot(day)
        except Exception:
            log.exception("snapshot_failed", day=day.isoformat())


@contextlib.contextmanager
def _exclusive(path: Path, stop: threading.Event, retry_seconds: float) -> Iterator[bool]:
    """Holds an exclusive flock on `path` (yields True), retrying until `stop` (yields False).
    Standing by is logged once, not at every retry (every minute, in every other worker)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = path.open("a")
    try:
        for attempt in itertools.count():
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == 0:
                    log.info("snapshot_scheduler_standby", lock=str(path))
                if stop.wait(retry_seconds):
                    yield False
                    return
        yield True
    finally:
        handle.close()
