"""Trends against the same numbers computed by Polars straight from the table, and the checks on
ranges, accounts and filters."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from healthscore.errors import InvalidInputError, NotFoundError
from healthscore.history import trends
from healthscore.history.snapshot import History, HistoryConfig
from healthscore.history.trends import AccountFilter, Granularity
from tests.history.support import CountingSource

TODAY = dt.date(2026, 12, 3)
FIRST = dt.date(2026, 10, 20)
ACCOUNTS = ["acct-00000003", "acct-00000150", "acct-00000299"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    folder = tmp_path_factory.mktemp("trends")
    history = History(HistoryConfig(), folder, CountingSource(300))
    day = FIRST
    while day <= TODAY:
        if day.day % 9 != 0:  # some days missing
            history.table.write_day(day, history.source.iter_current_health(day, 128))  # type: ignore[union-attr]
        day += dt.timedelta(days=1)
    history.table.compact(TODAY)
    return history


def _expected(history: History, span: trends.Range, every: str) -> pl.DataFrame:
    frame = pl.read_delta(history.table.uri).filter(
        pl.col("account_id").is_in(ACCOUNTS), pl.col("day").is_between(span.start, span.end)
    )
    period = pl.col("day") if every == "1d" else pl.col("day").dt.truncate(every)
    return (
        frame.sort("day")
        .group_by("account_id", period.alias("period"), maintain_order=True)
        .agg(
            pl.col("score").mean().alias("score"),
            pl.len().alias("days"),
            pl.col("rank").last().alias("rank"),
            pl.col("dimensions").list.get(1).struct.field("score").mean().alias("engagement"),
        )
        .sort("account_id", "period")
    )


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 9)


@pytest.mark.parametrize(
    ("granularity", "every"),
    [(Granularity.DAY, "1d"), (Granularity.WEEK, "1w"), (Granularity.MONTH, "1mo")],
)
def test_points_are_the_period_means_and_last_ranks(
    history: History, granularity: Granularity, every: str
) -> None:
    span = trends.check_range(
        dt.date(2026, 10, 25), dt.date(2026, 11, 30), granularity, today=TODAY, retention_days=400
    )
    got = trends.trends(history.table, ACCOUNTS, span)
    expected = _expected(history, span, every)
    rows = [
        (
            account,
            p.start,
            p.days,
            _r(p.score),
            p.rank,
            p.dimensions[1].name,
            _r(p.dimensions[1].score),
        )
        for account in ACCOUNTS
        for p in got[account]
    ]
    want = [
        (
            r["account_id"],
            max(r["period"], span.start),
            r["days"],
            _r(r["score"]),
            r["rank"],
            "engagement",
            _r(r["engagement"]),
        )
        for r in expected.iter_rows(named=True)
    ]
    assert rows == want and len(rows) > len(ACCOUNTS)
    assert all(p.end <= span.end and p.start <= p.end for a in ACCOUNTS for p in got[a])
    if granularity is Granularity.WEEK:
        assert all(p.start.weekday() == 0 for p in got[ACCOUNTS[0]][1:])
        assert got[ACCOUNTS[0]][0].start == span.start  # the first week is clipped


def test_an_account_without_rows_in_the_range_gets_no_points(history: History) -> None:
    span = trends.check_range(
        dt.date(2026, 10, 1),
        dt.date(2026, 10, 10),
        Granularity.DAY,
        today=TODAY,
        retention_days=400,
    )
    assert trends.trends(history.table, ["acct-00000003"], span) == {"acct-00000003": []}


@pytest.mark.parametrize(
    ("start", "end", "field", "words"),
    [
        (dt.date(2026, 11, 5), dt.date(2026, 11, 1), "end_date", "before start_date"),
        (dt.date(2025, 10, 1), dt.date(2026, 11, 1), "start_date", "retention window"),
        (dt.date(2026, 11, 1), dt.date(2026, 12, 4), "end_date", "future"),
        (None, dt.date(2026, 12, 1), "start_date", "required"),
    ],
)
def test_bad_ranges_name_the_field(
    start: dt.date | None, end: dt.date, field: str, words: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        trends.check_range(start, end, Granularity.DAY, today=TODAY, retention_days=400)
    assert [v.path for v in caught.value.violations] == [field]
    assert words in caught.value.violations[0].message


def test_unknown_accounts_are_not_found_or_named_by_index(history: History) -> None:
    with pytest.raises(NotFoundError):
        trends.require_known(history.table, ["nobody"], "accounts")
    with pytest.raises(InvalidInputError) as caught:
        trends.require_known(
            history.table, ["acct-00000003", "nobody", "acct-00000150"], "accounts"
        )
    assert [v.path for v in caught.value.violations] == ["accounts[1]"]
    trends.require_known(history.table, ACCOUNTS, "accounts")


def test_filters_select_by_parent_and_attributes_on_the_last_stored_day(history: History) -> None:
    span = trends.check_range(
        dt.date(2026, 11, 1),
        dt.date(2026, 11, 27),
        Granularity.DAY,
        today=TODAY,
        retention_days=400,
    )
    frame = pl.read_delta(history.table.uri).filter(pl.col("day") == dt.date(2026, 11, 26))
    owners = frame.select(
        "account_id",
        "parent_id",
        pl.col("attributes")
        .list.eval(
            pl.element().filter(pl.element().struct.field("name") == "owner").struct.field("text")
        )
        .list.first()
        .alias("owner"),
        pl.col("attributes")
        .list.eval(
            pl.element().filter(pl.element().struct.field("name") == "m00").struct.field("number")
        )
        .list.first()
        .alias("m00"),
    )
    by_parent = trends.matching_accounts(
        history.table, AccountFilter(parent_id="acct-00000120"), span
    )
    assert by_parent == sorted(owners.filter(pl.col("parent_id") == "acct-00000120")["account_id"])
    assert len(by_parent) == 9
    where = AccountFilter(parent_id="acct-00000120", attributes={"owner": ["alice", "carol"]})
    got = trends.matching_accounts(history.table, where, span)
    want = owners.filter(
        pl.col("parent_id") == "acct-00000120", pl.col("owner").is_in(["alice", "carol"])
    )
    assert got == sorted(want["account_id"]) and 0 < len(got) < 9
    value = owners["m00"][5]
    by_number = trends.matching_accounts(
        history.table, AccountFilter(attributes={"m00": [value]}), span
    )
    assert owners["account_id"][5] in by_number
    assert trends.matching_accounts(history.table, AccountFilter(parent_id="nobody"), span) == []
