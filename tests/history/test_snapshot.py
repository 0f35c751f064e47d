"""Snapshots: days due and missed, the scheduler's lock, and a process killed mid-snapshot."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from healthscore.errors import FailedPreconditionError, InvalidInputError
from healthscore.history.snapshot import History, HistoryConfig, Scheduler
from tests.history.support import CountingSource

ROOT = Path(__file__).resolve().parents[2]


def _history(tmp_path: Path, accounts: int = 200, **config: object) -> History:
    return History(HistoryConfig(**config), tmp_path, CountingSource(accounts))  # type: ignore[arg-type]


def test_missed_days_since_the_last_stored_one_are_the_ones_due(tmp_path: Path) -> None:
    history = _history(tmp_path, snapshot_time=dt.time(6, 0), zone="Europe/Paris")
    zone = history.zone
    before_time = dt.datetime(2026, 12, 3, 5, 59, tzinfo=zone)
    after_time = dt.datetime(2026, 12, 3, 6, 0, tzinfo=zone)
    assert history.missed_days(before_time) == [dt.date(2026, 12, 2)]  # empty: last due only
    assert history.missed_days(after_time) == [dt.date(2026, 12, 3)]
    # 05:30 UTC is 06:30 in Paris: the 3rd is due there
    assert history.last_due(dt.datetime(2026, 12, 3, 5, 30, tzinfo=dt.UTC)) == dt.date(2026, 12, 3)
    history.table.write_day(
        dt.date(2026, 11, 29),
        history.source.iter_current_health(dt.date(2026, 11, 29), 100),  # type: ignore[union-attr]
    )
    assert history.missed_days(after_time) == [
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 3),
    ]
    assert history.next_run(before_time) == after_time
    assert history.next_run(after_time) == after_time + dt.timedelta(days=1)


def test_missed_days_stop_at_the_retention_window(tmp_path: Path) -> None:
    history = _history(tmp_path, retention_days=3)
    history.table.write_day(
        dt.date(2026, 10, 1),
        history.source.iter_current_health(dt.date(2026, 10, 1), 100),  # type: ignore[union-attr]
    )
    now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
    assert history.missed_days(now) == [
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 2),
        dt.date(2026, 12, 3),
    ]


def test_snapshot_refuses_future_and_expired_days_and_needs_a_source(tmp_path: Path) -> None:
    history = _history(tmp_path, retention_days=10)
    today = history.today()
    with pytest.raises(InvalidInputError) as future:
        history.snapshot(today + dt.timedelta(days=1))
    assert future.value.violations[0].path == "snapshot_id"
    with pytest.raises(InvalidInputError, match="retention"):
        history.snapshot(today - dt.timedelta(days=11))
    with pytest.raises(FailedPreconditionError):
        History(HistoryConfig(), tmp_path).snapshot()
    assert not history.table.exists()


def test_the_scheduler_fills_missed_days_on_start_in_one_process_only(tmp_path: Path) -> None:
    first = _history(tmp_path, snapshot_time=dt.time(0, 0))
    today = first.today()
    start = today - dt.timedelta(days=3)
    first.table.write_day(start, first.source.iter_current_health(start, 100))  # type: ignore[union-attr]
    second = _history(tmp_path, snapshot_time=dt.time(0, 0))
    lock = tmp_path / "history.lock"
    one, two = (
        Scheduler(first, lock, retry_seconds=0.05),
        Scheduler(second, lock, retry_seconds=0.05),
    )
    one.start()
    assert one.holds_lock.wait(10)
    two.start()
    deadline = time.monotonic() + 30
    while first.table.last_day() != today and time.monotonic() < deadline:
        time.sleep(0.05)
    one.stop(10)
    assert first.table.days() == [start + dt.timedelta(days=n) for n in range(4)]
    assert first.source.calls[1:] == [start + dt.timedelta(days=n) for n in range(1, 4)]  # type: ignore[union-attr]
    assert second.source.calls == []  # type: ignore[union-attr]
    assert two.holds_lock.wait(10)  # the lock is free again: the standby takes over
    two.stop(10)


@pytest.mark.parametrize("moment", ["early", "late"])
def test_a_snapshot_killed_mid_write_leaves_the_day_absent_or_whole_and_a_rerun_completes(
    tmp_path: Path, moment: str
) -> None:
    from tests.history.snapshot_child import ACCOUNTS

    history = _history(tmp_path, accounts=ACCOUNTS)
    today = history.today()
    yesterday = today - dt.timedelta(days=1)
    history.table.write_day(yesterday, history.source.iter_current_health(yesterday, 1 << 16))  # type: ignore[union-attr]
    marker = tmp_path / "writing"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "service")])}
    argv = [str(tmp_path), today.isoformat(), str(marker), moment]
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.history.snapshot_child", *argv], cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the snapshot process ended before it was killed"
            assert time.monotonic() < deadline, "the snapshot process never got that far"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(30)
    path = str(tmp_path / "history" / "health_daily")
    per_day = dict(pl.read_delta(path).group_by("day").len().iter_rows())
    if moment == "early":  # the writer had not committed: the day is absent
        assert per_day == {yesterday: ACCOUNTS}
    else:  # killed while the writer finished: absent, or there whole (never a part)
        assert per_day in ({yesterday: ACCOUNTS}, {yesterday: ACCOUNTS, today: ACCOUNTS})
    assert history.snapshot(today).rows == ACCOUNTS
    per_day = dict(pl.read_delta(path).group_by("day").len().iter_rows())
    assert per_day == {yesterday: ACCOUNTS, today: ACCOUNTS}


def test_serve_settings_make_the_history_configuration() -> None:
    from healthscore.server.config import ServerConfig, config_from

    config = config_from(
        {"snapshot_time": "06:30"},
        {"HEALTHSCORE_SNAPSHOT_ZONE": "Europe/Paris", "HEALTHSCORE_HISTORY_RETENTION_DAYS": "30"},
    ).history()
    assert (config.snapshot_time, config.zone, config.retention_days) == (
        dt.time(6, 30),
        "Europe/Paris",
        30,
    )
    assert config.scheduler and config.uri is None
    assert not ServerConfig(snapshot_time="off").history().scheduler
    for field, value in [
        ("snapshot_time", "6:30pm"),
        ("snapshot_zone", "Mars/Olympus"),
        ("history_retention_days", 0),
    ]:
        with pytest.raises(InvalidInputError) as caught:
            ServerConfig(**{field: value}).check()  # type: ignore[arg-type]
        assert [v.path for v in caught.value.violations] == [field]


def test_upkeep_in_the_background_compacts_after_the_snapshot_returns(tmp_path: Path) -> None:
    history = _history(tmp_path)
    last_month_end = history.today().replace(day=1) - dt.timedelta(days=1)
    days = [last_month_end - dt.timedelta(days=n) for n in range(8, 0, -1)]
    for day in days:
        history.table.write_day(day, history.source.iter_current_health(day, 100))  # type: ignore[union-attr]
    result = history.snapshot(last_month_end, upkeep_in_background=True)
    assert result.rows == 200 and result.compacted == []  # a closed month: compacted later
    for thread in threading.enumerate():  # none left if it is done already
        if thread.name == "history-upkeep":
            thread.join(60)
    (month,) = history.table.months()
    assert (month.files, month.daily_files) == (1, 0)
    assert history.table.days() == [*days, last_month_end]


def test_a_failed_snapshot_stops_reading_its_source(tmp_path: Path) -> None:
    class BadSecondBatch:
        def __init__(self) -> None:
            self.health = CountingSource(100).health
            self.readers: list[threading.Thread] = []

        def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]:
            self.readers.append(threading.current_thread())
            for n in range(1000):
                batch = self.health.batch(day, n * 10, n * 10 + 10)
                yield batch.drop_columns(["parent_id"]) if n == 1 else batch

    source = BadSecondBatch()
    history = History(HistoryConfig(), tmp_path, source)
    with pytest.raises(ValueError, match="HEALTH_DAILY"):
        history.snapshot()
    (reader,) = source.readers
    assert reader is not threading.current_thread()  # read in a thread of its own...
    assert not reader.is_alive()  # ...that has stopped when the snapshot returns
    assert not history.table.exists()


def test_the_start_up_catch_up_compacts_once_after_its_last_day(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)

    class Fixed(History):
        def now(self) -> dt.datetime:
            return now

    history = Fixed(HistoryConfig(), tmp_path, CountingSource(200))
    first = dt.date(2026, 11, 3)
    history.table.write_day(first, history.source.iter_current_health(first, 100))  # type: ignore[union-attr]
    scheduler = Scheduler(history, tmp_path / "history.lock")
    scheduler._fill_missed()  # what the scheduler's thread runs first, here in this thread
    assert history.table.days() == [first + dt.timedelta(days=n) for n in range(18)]
    commits = DeltaTable(history.table.uri).history()
    operations = [c.get("healthscore.operation") for c in reversed(commits)]
    # 17 missed days (more than twice COMPACT_AFTER_DAILY_FILES) and one compaction, last
    assert operations == [*["snapshot"] * 18, "compact"]
    assert [(m.files, m.daily_files) for m in history.table.months()] == [(1, 0)]


def test_a_standby_scheduler_says_so_once_not_at_every_retry(tmp_path: Path) -> None:
    import fcntl

    from structlog.testing import capture_logs

    from healthscore.history.snapshot import _exclusive

    class FifthWaitStops(threading.Event):  # four retries, then stop: no clock involved
        waits = 0

        def wait(self, timeout: float | None = None) -> bool:
            self.waits += 1
            return self.waits == 5

    lock = tmp_path / "history.lock"
    with lock.open("a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        stop = FifthWaitStops()
        with capture_logs() as logs, _exclusive(lock, stop, retry_seconds=0) as locked:
            assert not locked
    assert stop.waits == 5
    assert [e["event"] for e in logs] == ["snapshot_scheduler_standby"]
