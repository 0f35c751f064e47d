"""The daily health table: atomic, idempotent days; retention; compaction; other engines' reads."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from benchmarks.history_data import SyntheticHealth, duckdb_with_delta
from healthscore.history.schema import HEALTH_DAILY
from healthscore.history.table import TABLE_SCHEMA, HistoryTable

DAY = dt.date(2026, 11, 2)


def _write(table: HistoryTable, day: dt.date, accounts: int = 500, version: int = 1) -> int:
    return table.write_day(
        day, SyntheticHealth(accounts, version=version).iter_current_health(day, 128)
    )


def test_rewriting_a_day_replaces_it_and_never_duplicates(tmp_path: Path) -> None:
    table = HistoryTable(tmp_path / "t")
    assert _write(table, DAY) == 500
    _write(table, DAY + dt.timedelta(days=1))
    assert _write(table, DAY, version=2) == 500
    rows = pl.read_delta(str(tmp_path / "t"))
    per_day = dict(rows.group_by("day").len().iter_rows())
    assert per_day == {DAY: 500, DAY + dt.timedelta(days=1): 500}
    versions = rows.filter(pl.col("day") == DAY)["version"].unique().to_list()
    assert versions == [2]
    assert rows.filter(pl.col("day") == DAY)["account_id"].n_unique() == 500


def test_a_batch_of_another_day_or_schema_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    table = HistoryTable(tmp_path / "t")
    _write(table, DAY)
    other = SyntheticHealth(10).batch(DAY + dt.timedelta(days=1), 0, 10)
    with pytest.raises(ValueError, match="other days"):
        table.write_day(DAY, [other])
    with pytest.raises(ValueError, match="HEALTH_DAILY"):
        table.write_day(DAY, [other.drop_columns(["parent_id"])])
    assert pl.read_delta(str(tmp_path / "t")).height == 500


def test_duckdb_and_polars_read_the_table_with_no_healthscore_code(tmp_path: Path) -> None:
    table = HistoryTable(tmp_path / "t")
    for n in range(3):
        _write(table, DAY + dt.timedelta(days=n), accounts=300)
    _write(table, DAY, accounts=300, version=2)  # a replaced day: old files stay until vacuum
    path = str(tmp_path / "t")
    con = duckdb_with_delta()
    got = con.execute(
        "SELECT day, count(*), count(DISTINCT account_id), max(version) FROM delta_scan(?) "
        "GROUP BY day ORDER BY day",
        [path],
    ).fetchall()
    assert got == [
        (DAY, 300, 300, 2),
        (DAY + dt.timedelta(days=1), 300, 300, 1),
        (DAY + dt.timedelta(days=2), 300, 300, 1),
    ]
    one = con.execute(
        "SELECT d.name, d.score FROM (SELECT unnest(dimensions) AS d FROM delta_scan(?) "
        "WHERE account_id = 'acct-00000007' AND day = ?)",
        [path, DAY],
    ).fetchall()
    first = next(SyntheticHealth(300, version=2).iter_current_health(DAY, 128))
    expected = first.slice(7, 1).to_pylist()[0]["dimensions"]
    assert one == [(d["name"], d["score"]) for d in expected]
    frame = pl.scan_delta(path).filter(pl.col("account_id") == "acct-00000007").collect()
    assert sorted(frame["day"].to_list()) == [DAY + dt.timedelta(days=n) for n in range(3)]
    assert set(frame.columns) == set(TABLE_SCHEMA.names)


def test_compaction_clusters_a_month_by_account_and_keeps_every_row(tmp_path: Path) -> None:
    table = HistoryTable(tmp_path / "t")
    days = [DAY + dt.timedelta(days=n) for n in range(8)]
    for day in days:
        _write(table, day, accounts=400)
    before = table.scan(columns=["day", "account_id", "score"]).sort_by(
        [("day", "ascending"), ("account_id", "ascending")]
    )
    assert table.months()[0].daily_files == 8
    assert table.compact(dt.date(2026, 11, 30)) == ["2026-11"]
    month = table.months()[0]
    assert month.daily_files == 0 and (month.first_day, month.last_day) == (days[0], days[-1])
    after = table.scan(columns=["day", "account_id", "score"]).sort_by(
        [("day", "ascending"), ("account_id", "ascending")]
    )
    assert after.equals(before)
    one = table.scan(columns=["day", "score"], accounts=["acct-00000123"]).sort_by("day")
    assert one["day"].to_pylist() == days
    assert table.compact(dt.date(2026, 11, 30)) == []  # nothing new: no rewrite


def test_retention_deletes_days_before_the_cutoff_and_vacuum_removes_their_files(
    tmp_path: Path,
) -> None:
    table = HistoryTable(tmp_path / "t")
    days = [dt.date(2026, 9, 30), dt.date(2026, 10, 1), dt.date(2026, 10, 2)]
    for day in days:
        _write(table, day, accounts=50)
    table.delete_before(dt.date(2026, 10, 2))
    assert table.days() == [dt.date(2026, 10, 2)]
    assert table.delete_before(dt.date(2026, 10, 2)) == 0  # nothing older: no commit
    parquet = lambda: sorted(p.name for p in (tmp_path / "t").rglob("*.parquet"))  # noqa: E731
    assert len(parquet()) == 3
    table.vacuum(0)
    assert len(parquet()) == 1
    assert pl.read_delta(str(tmp_path / "t")).height == 50


def test_a_one_account_read_opens_only_the_row_groups_that_may_hold_it(tmp_path: Path) -> None:
    table = HistoryTable(tmp_path / "t")
    _write(table, DAY, accounts=10_000)  # 3 row groups of 4,096 rows, sorted by account
    got = table.scan(columns=["account_id", "score"], accounts=["acct-00009999"])
    assert got["account_id"].to_pylist() == ["acct-00009999"]
    snapshot = table._current()
    (opened,) = snapshot.fragments.values()
    assert len(opened.low) >= 3
    for account in ("acct-00009999", "acct-00000000", "acct-00005000"):
        (group,) = opened.groups_for([account])
        assert opened.low[group] <= account <= opened.high[group]  # type: ignore[operator]
    assert opened.groups_for(["acct-00000000", "acct-00009999"]) == [0, len(opened.low) - 1]
    every = [f"acct-{n:08d}" for n in range(0, 10_000, 100)]  # 100 accounts: every group
    assert opened.groups_for(every) == list(range(len(opened.low)))
    got = table.scan(columns=["account_id"], accounts=every)
    assert sorted(got["account_id"].to_pylist()) == every


def test_the_table_schema_is_the_contract_plus_the_partition_column() -> None:
    assert TABLE_SCHEMA.remove(TABLE_SCHEMA.get_field_index("month")).equals(HEALTH_DAILY)
    assert pa.types.is_string(TABLE_SCHEMA.field("month").type)


def test_stored_days_are_counted_from_the_log_where_a_file_holds_one_day(
    tmp_path: Path,
) -> None:
    table = HistoryTable(tmp_path / "t")
    days = [DAY + dt.timedelta(days=n) for n in range(3)]
    for day in days:
        _write(table, day, accounts=300)
    assert table.day_counts() == dict.fromkeys(days, 300)
    assert table._current().fragments == {}  # single-day files: their rows are in the log
    table.compact(dt.date(2026, 12, 1))  # the month is over: one file of three days
    _write(table, days[1], accounts=200)  # a day rewritten out of the compacted file
    assert table.day_counts() == {days[0]: 300, days[1]: 200, days[2]: 300}
    assert table.day_counts() == {days[0]: 300, days[1]: 200, days[2]: 300}
    assert table.day_counts(days[1], days[1]) == {days[1]: 200}
    assert table.day_counts(start=days[2]) == {days[2]: 300}
    assert table.day_counts(end=days[0] - dt.timedelta(days=1)) == {}
