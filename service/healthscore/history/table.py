"""The daily health table: a Delta Lake table (`deltalake`) in a folder or on S3-compatible storage.

Layout, chosen for the two reads that matter (one account over a year; one day over all
accounts) and for readers with no healthscore code (DuckDB `delta_scan`, Polars `scan_delta`,
Spark `format("delta")`):

- the columns of `schema.HEALTH_DAILY` plus `month` (`YYYY-MM`, the partition column);
- one commit per snapshot: a day is written with `overwrite` restricted to `day = D`, so a
  re-run replaces that day atomically (never a duplicate, never half a day);
- compaction (`optimize.z_order` on `account_id`, per month) rewrites a month's daily files into
  files that each hold a range of accounts, sorted, in row groups of 4,096 rows: a one-account
  read then opens about one file per month and one row group in it (file statistics, then row
  group statistics, skip the rest);
- retention deletes whole days (partition months drop as metadata only) and `vacuum` removes the
  files no version still reads after `vacuum_hours`.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from healthscore.history.schema import HEALTH_DAILY

TABLE_NAME = "health_daily"
PARTITION = "month"
TABLE_SCHEMA = HEALTH_DAILY.append(pa.field(PARTITION, pa.string(), nullable=False))
ROW_GROUP_ROWS = 4096
# Rows handed to the writer at a time: a multiple of ROW_GROUP_ROWS (see `_chunks`).
CHUNK_ROWS = 16 * ROW_GROUP_ROWS
# A month's partition is compacted once it holds this many single-day files (or when it is over).
COMPACT_AFTER_DAILY_FILES = 7
# A remote table re-reads its log (other writers: `healthscore snapshot`, workers) at most this
# often; a local one as soon as it changes.
REFRESH_SECONDS = 1.0


def _month(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def table_uri(root: str) -> str:
    """The daily health table's location under a history root (a folder or `s3://bucket/prefix`)."""
    return f"{root.rstrip('/')}/{TABLE_NAME}"


@dataclass(frozen=True)
class DayFiles:
    """What the log says about one month partition's files."""

    month: str
    files: int
    daily_files: int  # files holding a single day (written by a snapshot, not yet compacted)
    first_day: dt.date
    last_day: dt.date


@dataclass
class _Snapshot:
    """One table version's file list with per-file statistics, the open fragments and the
    counted days of the files that hold several."""

    version: int
    files: pa.Table  # path, month, min/max account_id, min/max day, rows
    checked: float
    marker: int | None  # see HistoryTable._log_marker
    fragments: dict[str, _Fragment] = field(default_factory=dict)
    day_counts: dict[str, dict[dt.date, int]] = field(default_factory=dict)  # files of many days


@dataclass(frozen=True)
class _Fragment:
    """An open data file with its row groups' account_id ranges (read once: files never change)."""

    fragment: ds.ParquetFileFragment
    low: list[str | None]
    high: list[str | None]

    def groups_for(self, ids: list[str]) -> list[int]:
        """The row groups whose account_id range may hold one of `ids` (sorted)."""
        chosen = []
        for index, (low, high) in enumerate(zip(self.low, self.high, strict=True)):
            if low is None or high is None:
                chosen.append(index)
                continue
            first = bisect.bisect_left(ids, low)  # the first id >= low
            if first < len(ids) and ids[first] <= high:
                chosen.append(index)
        return chosen


class HistoryTable:
    """The daily health table at `uri` (a local folder, or `s3://...` with `storage_options`,
    e.g. `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`; unset keys come from the environment).

    Thread-safe: writes are serialized in-process, and readers see whole versions only."""

    def __init__(self, uri: str | Path, storage_options: dict[str, str] | None = None) -> None:
        self.uri = str(uri)
        self.storage_options = dict(storage_options or {})
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._fs: pafs.FileSystem | None = None
        self._local: Path | None = None
        if not _is_remote(self.uri):
            self._local = Path(self.uri.removeprefix("file://")).resolve()
            self._fs = pafs.SubTreeFileSystem(str(self._local), pafs.LocalFileSystem())

    # --- writes -------------------------------------------------------------------------------

    def write_day(self, day: dt.date, batches: Iterable[pa.RecordBatch]) -> int:
        """Replaces `day` with `batches` (the `HEALTH_DAILY` schema, every row of that day) in
        one commit; returns the rows written. Until the commit, readers see the previous
        version; a crash before it leaves the table as it was (plus unreferenced files, which
        `vacuum` removes)."""
        from deltalake import write_deltalake

        rows = 0
        month = pa.scalar(_month(day))
        failure: list[BaseException] = []

        def with_month() -> Iterator[pa.RecordBatch]:
            nonlocal rows
            try:
                for batch in _chunks(_validated(day, batches), CHUNK_ROWS):
                    rows += batch.num_rows
                    yield batch.append_column(
                        TABLE_SCHEMA.field(PARTITION), pa.repeat(month, batch.num_rows)
                    )
            except BaseException as exc:  # the writer would wrap it in a DeltaError
                failure.append(exc)
                raise

        reader = pa.RecordBatchReader.from_batches(TABLE_SCHEMA, with_month())
        with self._write_lock:
            try:
                write_deltalake(
                    self.uri,
                    reader,
                    mode="overwrite",
                    partition_by=[PARTITION],
                    predicate=f"day = '{day.isoformat()}'",
                    storage_options=self.storage_options or None,
                    writer_properties=_writer_properties(),
                    commit_properties=_commit("snapshot", day=day.isoformat()),
                )
            except Exception as exc:
                if failure:  # the source's or the check's own error, not the writer's wrapper
                    raise failure[0] from exc
                raise
        self._snapshot = None
        return rows

    def delete_before(self, cutoff: dt.date) -> int:
        """Deletes every day before `cutoff` (one commit, none if there is nothing to delete);
        returns the number of files the log no longer references."""
        if not any(f.first_day < cutoff for f in self.months()):
            return 0
        with self._write_lock:
            metrics = self._delta().delete(
                f"day < '{cutoff.isoformat()}'",
                commit_properties=_commit("retention", before=cutoff.isoformat()),
            )
        self._snapshot = None
        return int(metrics.get("num_removed_files", 0))

    def compact(self, today: dt.date) -> list[str]:
        """Clusters by account every month partition that holds `COMPACT_AFTER_DAILY_FILES`
        single-day files, or any single-day file once the month is over (`today` is in a later
        month); returns the months compacted."""
        done = []
        for month in self.months():
            over = month.month < _month(today)
            due = month.daily_files >= COMPACT_AFTER_DAILY_FILES or (
                over and month.daily_files > 0 and month.files > 1
            )
            if not due:
                continue
            with self._write_lock:
                self._delta().optimize.z_order(
                    ["account_id"],
                    partition_filters=[(PARTITION, "=", month.month)],
                    writer_properties=_writer_properties(),
                    commit_properties=_commit("compact", month=month.month),
                )
            done.append(month.month)
        if done:
            self._snapshot = None
        return done

    def vacuum(self, hours: int) -> int:
        """Removes the files no version of the last `hours` reads; returns how many."""
        with self._write_lock:
            removed = self._delta().vacuum(
                retention_hours=hours, dry_run=False, enforce_retention_duration=False
            )
        return len(removed)

    # --- reads --------------------------------------------------------------------------------

    def exists(self) -> bool:
        from deltalake import DeltaTable

        return bool(DeltaTable.is_deltatable(self.uri, self.storage_options or None))

    def months(self) -> list[DayFiles]:
        """Every month partition with its files' day range, from the log (no data read)."""
        files = self._current().files
        if files.num_rows == 0:
            return []
        grouped = (
            files.append_column(
                "daily", pc.cast(pc.equal(files["min_day"], files["max_day"]), pa.int32())
            )
            .group_by("month")
            .aggregate(
                [("path", "count"), ("daily", "sum"), ("min_day", "min"), ("max_day", "max")]
            )
            .sort_by("month")
        )
        return [
            DayFiles(
                r["month"], r["path_count"], r["daily_sum"], r["min_day_min"], r["max_day_max"]
            )
            for r in grouped.to_pylist()
        ]

    def last_day(self) -> dt.date | None:
        months = self.months()
        return months[-1].last_day if months else None

    def days(self) -> list[dt.date]:
        """Every stored day (reads the `day` column of every file: for listings, not hot paths)."""
        return sorted(self.day_counts())

    def day_counts(
        self, start: dt.date | None = None, end: dt.date | None = None
    ) -> dict[dt.date, int]:
        """The rows of every stored day between `start` and `end` (inclusive; None: unbounded):
        from the log for a file of one day (a snapshot's), by reading the `day` column of a file
        of several (compacted), once per file."""
        snapshot = self._current()
        files = snapshot.files
        totals: dict[dt.date, int] = {}
        for path, first, last, rows in zip(
            files["path"].to_pylist(),
            files["min_day"].to_pylist(),
            files["max_day"].to_pylist(),
            files["rows"].to_pylist(),
            strict=True,
        ):
            if (start is not None and last is not None and last < start) or (
                end is not None and first is not None and first > end
            ):
                continue
            if first is not None and first == last and rows is not None:
                counts = {first: rows}
            else:
                counts = snapshot.day_counts.get(path) or self._count_days(snapshot, path)
            for day, count in counts.items():
                if (start is None or day >= start) and (end is None or day <= end):
                    totals[day] = totals.get(day, 0) + count
        return totals

    def _count_days(self, snapshot: _Snapshot, path: str) -> dict[dt.date, int]:
        days = self._fragment(snapshot, path).fragment.to_table(columns=["day"])["day"]
        counts = pc.value_counts(days.combine_chunks())
        snapshot.day_counts[path] = dict(
            zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
        )
        return snapshot.day_counts[path]

    def scan(
        self,
        *,
        columns: Sequence[str],
        accounts: Sequence[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pa.Table:
        """The rows of `accounts` (None: every account) between `start` and `end` (inclusive;
        None: unbounded), only `columns`. Opens only the files whose statistics may hold such
        rows, and reads only their matching row groups."""
        snapshot = self._current()
        files = snapshot.files
        mask = pa.array([True] * files.num_rows, pa.bool_())
        if start is not None:
            mask = pc.and_(mask, pc.greater_equal(files["max_day"], pa.scalar(start, pa.date32())))
        if end is not None:
            mask = pc.and_(mask, pc.less_equal(files["min_day"], pa.scalar(end, pa.date32())))
        expression: ds.Expression | None = None
        if accounts is not None:
            ids = pa.array(sorted(set(accounts)), pa.string())
            if len(ids) == 0:
                return TABLE_SCHEMA.empty_table().select(list(columns))
            low, high = ids[0], ids[len(ids) - 1]
            mask = pc.and_(mask, pc.less_equal(files["min_account"], high))
            mask = pc.and_(mask, pc.greater_equal(files["max_account"], low))
            expression = (
                ds.field("account_id").isin(ids)
                if len(ids) > 1
                else (ds.field("account_id") == ids[0])
            )
        if start is not None:
            expression = _and(expression, ds.field("day") >= pa.scalar(start, pa.date32()))
        if end is not None:
            expression = _and(expression, ds.field("day") <= pa.scalar(end, pa.date32()))
        chosen = files.filter(mask)
        fragments = [self._fragment(snapshot, path) for path in chosen["path"].to_pylist()]
        if accounts is not None:
            wanted = ids.to_pylist()
            subsets = []
            for opened in fragments:
                groups = opened.groups_for(wanted)
                if len(groups) == len(opened.low):
                    subsets.append(opened.fragment)
                elif groups:
                    subsets.append(opened.fragment.subset(row_group_ids=groups))
            parts = subsets
        else:
            parts = [opened.fragment for opened in fragments]
        if not parts:
            return TABLE_SCHEMA.empty_table().select(list(columns))
        dataset = ds.FileSystemDataset(
            parts, HEALTH_DAILY, ds.ParquetFileFormat(), self._filesystem()
        )
        return dataset.to_table(columns=list(columns), filter=expression)

    # --- internals ----------------------------------------------------------------------------

    def _delta(self) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(self.uri, storage_options=self.storage_options or None)

    def _filesystem(self) -> pafs.FileSystem:
        if self._fs is None:
            from deltalake.fs import DeltaStorageHandler

            self._fs = pafs.PyFileSystem(
                DeltaStorageHandler(self.uri, self.storage_options or None)
            )
        return self._fs

    def _fragment(self, snapshot: _Snapshot, path: str) -> _Fragment:
        opened = snapshot.fragments.get(path)
        if opened is None:
            fragment = ds.ParquetFileFormat().make_fragment(path, self._filesystem())
            fragment.ensure_complete_metadata()  # row group statistics, read once per file
            column = fragment.metadata.schema.names.index("account_id")
            low: list[str | None] = []
            high: list[str | None] = []
            for index in range(fragment.metadata.num_row_groups):
                stats = fragment.metadata.row_group(index).column(column).statistics
                known = stats is not None and stats.has_min_max
                low.append(stats.min if known else None)
                high.append(stats.max if known else None)
            opened = _Fragment(fragment, low, high)
            snapshot.fragments[path] = opened
        return opened

    def _log_marker(self) -> int | None:
        """For a local table, the log folder's modification time: it changes with every commit
        (a new file in it), so an unchanged one proves the cached version is the newest."""
        if self._local is None:
            return None
        try:
            return (self._local / "_delta_log").stat().st_mtime_ns
        except FileNotFoundError:
            return -1

    def _current(self) -> _Snapshot:
        """The newest table version's file list: re-read when a local table's log changed, and
        for a remote one at most every `REFRESH_SECONDS`."""
        snapshot = self._snapshot
        now = time.monotonic()
        marker = self._log_marker()
        if snapshot is not None and self._fresh(snapshot, marker, now):
            return snapshot
        with self._read_lock:
            snapshot = self._snapshot
            if snapshot is not None and self._fresh(snapshot, marker, now):
                return snapshot
            if not self.exists():
                fresh = _Snapshot(-1, _EMPTY_FILES, now, marker)
            else:
                delta = self._delta()
                version = delta.version()
                if snapshot is not None and snapshot.version == version:
                    snapshot.checked, snapshot.marker = now, marker
                    return snapshot
                fresh = _Snapshot(version, _files(delta), now, marker)
                if snapshot is not None:  # files are immutable: keep what is still referenced
                    live = set(fresh.files["path"].to_pylist())
                    fresh.fragments = {p: f for p, f in snapshot.fragments.items() if p in live}
                    fresh.day_counts = {p: c for p, c in snapshot.day_counts.items() if p in live}
            self._snapshot = fresh
            return fresh

    def _fresh(self, snapshot: _Snapshot, marker: int | None, now: float) -> bool:
        if marker is not None:
            return snapshot.marker == marker
        return now - snapshot.checked < REFRESH_SECONDS


def _validated(day: dt.date, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        if not batch.schema.equals(HEALTH_DAILY):
            raise ValueError(
                f"a snapshot batch must have the HEALTH_DAILY schema, got {batch.schema}"
            )
        days = pc.unique(batch.column("day"))
        if len(days) > 1 or (len(days) == 1 and days[0].as_py() != day):
            raise ValueError(f"a snapshot of {day} holds rows of other days: {days}")
        yield batch


def _chunks(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """The rows of `batches` in chunks of exactly `size` rows (the last one shorter), each sorted
    by account_id. The writer may reorder the batches it is given, but cuts row groups in
    order within each: with `size` a multiple of `ROW_GROUP_ROWS`, every row group holds a
    narrow, sorted range of accounts (when the source yields them in id order, as the account
    store does), whatever the size of the source's batches. A batch of exactly `size` sorted
    rows, the usual case, passes as it is."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if not pending and batch.num_rows == size:
            yield _sorted(batch)
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= size:
            whole = pa.Table.from_batches(pending).combine_chunks()
            yield from _sorted_table(whole.slice(0, size))
            rest = whole.slice(size)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield from _sorted_table(pa.Table.from_batches(pending))


def _sorted(batch: pa.RecordBatch) -> pa.RecordBatch:
    ids = batch.column("account_id")
    if len(ids) < 2 or pc.all(pc.less_equal(ids[:-1], ids[1:])).as_py():
        return batch
    return batch.sort_by("account_id")


def _sorted_table(table: pa.Table) -> Iterator[pa.RecordBatch]:
    for batch in table.combine_chunks().to_batches():
        yield _sorted(batch)


_EMPTY_FILES = pa.table(
    {
        "path": pa.array([], pa.string()),
        "month": pa.array([], pa.string()),
        "min_account": pa.array([], pa.string()),
        "max_account": pa.array([], pa.string()),
        "min_day": pa.array([], pa.date32()),
        "max_day": pa.array([], pa.date32()),
        "rows": pa.array([], pa.int64()),
    }
)


def _files(delta: Any) -> pa.Table:
    """The log's add actions as (path, month, min/max account, min/max day, rows)."""
    actions = pa.table(delta.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return _EMPTY_FILES
    return pa.table(
        {
            "path": actions["path"],
            "month": actions[f"partition.{PARTITION}"],
            "min_account": actions["min.account_id"],
            "max_account": actions["max.account_id"],
            "min_day": pc.cast(actions["min.day"], pa.date32()),
            "max_day": pc.cast(actions["max.day"], pa.date32()),
            "rows": pc.cast(actions["num_records"], pa.int64()),
        }
    )


def _and(left: ds.Expression | None, right: ds.Expression) -> ds.Expression:
    return right if left is None else left & right


def _writer_properties() -> Any:
    from deltalake import WriterProperties

    # ZSTD level 1: a third less CPU than the default level for about the same size here.
    return WriterProperties(
        compression="ZSTD", compression_level=1, max_row_group_size=ROW_GROUP_ROWS
    )


def _commit(operation: str, **info: str) -> Any:
    from deltalake import CommitProperties

    return CommitProperties(custom_metadata={"healthscore.operation": operation, **info})
