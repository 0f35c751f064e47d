"""--as-of recalculates a past date; --from/--to scores each daily partition as of its day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from healthscore.errors import InvalidInputError
from healthscore.jobs import sinks
from tests.jobs.support import accounts, expected_scores, read_rows, run, write

pytestmark = pytest.mark.timeout(60)


def test_as_of_changes_time_criteria_and_is_recorded(tmp_path: Path) -> None:
    records = accounts(40)  # last_touch 0..39 days before 2026-11-01
    write(tmp_path / "in.parquet", records)
    later = dt.datetime(2026, 12, 15, tzinfo=dt.UTC)
    run(tmp_path / "in.parquet", tmp_path / "now.parquet")
    run(tmp_path / "in.parquet", tmp_path / "later.parquet", as_of=later)
    now_rows, later_rows = (
        read_rows(tmp_path / "now.parquet"),
        read_rows(tmp_path / "later.parquet"),
    )
    assert {r["as_of"] for r in later_rows} == {later}
    assert {r["account_id"]: (r["score"], r["rank"], r["usage.score"]) for r in later_rows} == (
        expected_scores(records, later)
    )
    assert [r["engagement.score"] for r in now_rows] != [r["engagement.score"] for r in later_rows]


def test_a_date_range_scores_each_day_with_its_own_as_of(tmp_path: Path) -> None:
    days = [dt.date(2026, 10, d) for d in (1, 2, 3)]
    for k, day in enumerate(days):
        write(tmp_path / "in" / f"date={day}" / "accounts.csv", accounts(20))
        write(tmp_path / "in" / f"date={day}" / "more.jsonl", accounts(5, start=100 + k))
    summary = run(
        tmp_path / "in", tmp_path / "out", as_of=None, date_from=days[0], date_to=days[-1]
    )
    out = tmp_path / "out"
    assert (out / sinks.SUCCESS).exists()
    assert sorted(p.name for p in out.iterdir()) == [
        "_SUCCESS",
        "_errors.csv",
        "date=2026-10-01",
        "date=2026-10-02",
        "date=2026-10-03",
    ]
    for day in days:
        rows = read_rows(out / f"date={day}")
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        assert len(rows) == 25 and {r["as_of"] for r in rows} == {midnight}
    # The same account on three days is not a duplicate: each day's ids start afresh.
    assert summary.scored == 75 and summary.rejected_rows == 0


def test_a_missing_day_is_refused_before_any_work(tmp_path: Path) -> None:
    write(tmp_path / "in" / "date=2026-10-01" / "a.csv", accounts(2))
    with pytest.raises(InvalidInputError, match="date=2026-10-02"):
        run(
            tmp_path / "in",
            tmp_path / "out",
            as_of=None,
            date_from=dt.date(2026, 10, 1),
            date_to=dt.date(2026, 10, 2),
        )
    assert not (tmp_path / "out").exists()
