"""Trends: accounts' score, rank and dimension scores per day, week or month over a range of days,
read from the daily health table.

A point covers one period (a day; an ISO week, Monday to Sunday; a calendar month), clipped to
the range: `score` is the mean of the period's stored daily scores (None if none is known), `rank`,
`profile` and `version` are those of its last stored day, each dimension's score is the mean of its
daily scores and its rank that of the last day. Days without a snapshot are simply absent (`days`
counts the stored ones).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthscore.errors import InvalidInputError, NotFoundError, Violation
from healthscore.history.table import HistoryTable

MAX_ACCOUNTS = 1000
OWNER_ATTRIBUTE = "owner"


class Granularity(enum.Enum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class DimensionPoint:
    name: str
    score: float | None
    rank: str


@dataclass(frozen=True)
class TrendPoint:
    start: dt.date
    end: dt.date
    days: int
    score: float | None
    rank: str
    profile: str | None
    model: str
    version: int
    dimensions: list[DimensionPoint]


@dataclass(frozen=True)
class Range:
    """A checked range of days (inclusive) and the granularity of its points."""

    start: dt.date
    end: dt.date
    granularity: Granularity = Granularity.DAY


@dataclass(frozen=True)
class AccountFilter:
    """Accounts whose stored row on the range's last stored day matches every given condition:
    its parent, and attribute values (each attribute: any of the values; `owner` is the TEXT
    attribute `owner`)."""

    parent_id: str | None = None
    attributes: Mapping[str, Sequence[str | float | bool]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.parent_id is None and not self.attributes


def check_range(
    start: dt.date | None,
    end: dt.date | None,
    granularity: Granularity,
    *,
    today: dt.date,
    retention_days: int,
) -> Range:
    """The range, or InvalidInputError naming `start_date`/`end_date`: missing, inverted, in
    the future, or starting before the retention window."""
    problems: list[Violation] = []
    oldest = today - dt.timedelta(days=retention_days)
    if start is None:
        problems.append(Violation("start_date", "required (YYYY-MM-DD)"))
    elif start < oldest:
        problems.append(
            Violation(
                "start_date",
                f"{start} is before the retention window ({retention_days} days: the oldest "
                f"day kept is {oldest})",
            )
        )
    if end is None:
        problems.append(Violation("end_date", "required (YYYY-MM-DD)"))
    elif end > today:
        problems.append(Violation("end_date", f"{end} is in the future (today: {today})"))
    if start is not None and end is not None and end < start:
        problems.append(Violation("end_date", f"{end} is before start_date {start}"))
    if problems:
        raise InvalidInputError("invalid range: " + "; ".join(map(str, problems)), problems)
    assert start is not None and end is not None
    return Range(start, end, granularity)


def _period_start(days: pa.Array, granularity: Granularity) -> pa.Array:
    if granularity is Granularity.DAY:
        return days
    numbers = pc.cast(days, pa.int32())
    if granularity is Granularity.WEEK:  # 1970-01-01 was a Thursday: Monday is (n + 3) % 7 == 0
        monday = pc.subtract(numbers, pc.remainder(pc.add(numbers, 3), 7))
        return pc.cast(pc.cast(monday, pa.int32()), pa.date32())
    first = pc.strptime(pc.strftime(days, "%Y-%m-01"), "%Y-%m-%d", "s")
    return pc.cast(first, pa.date32())


def _period_end(start: dt.date, granularity: Granularity) -> dt.date:
    if granularity is Granularity.DAY:
        return start
    if granularity is Granularity.WEEK:
        return start + dt.timedelta(days=6)
    next_month = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return next_month - dt.timedelta(days=1)


_COLUMNS = ["account_id", "day", "score", "rank", "profile", "model", "version", "dimensions"]


def trends(
    table: HistoryTable, accounts: Sequence[str], span: Range
) -> dict[str, list[TrendPoint]]:
    """Each account's points over `span` (accounts without rows in it get an empty list), in
    the order of `accounts`."""
    rows = table.scan(columns=_COLUMNS, accounts=accounts, start=span.start, end=span.end)
    result: dict[str, list[TrendPoint]] = {account: [] for account in accounts}
    if rows.num_rows == 0:
        return result
    if span.granularity is Granularity.DAY:
        return _daily_points(rows, result)
    rows = rows.append_column("period", _period_start(rows["day"], span.granularity))
    rows = rows.sort_by([("account_id", "ascending"), ("day", "ascending")])
    keys = ["account_id", "period"]
    points = (
        rows.group_by(keys, use_threads=False)
        .aggregate(
            [
                ("score", "mean"),
                ("day", "count"),
                ("rank", "last"),
                ("profile", "last"),
                ("model", "last"),
                ("version", "last"),
            ]
        )
        .sort_by([("account_id", "ascending"), ("period", "ascending")])
    )
    dims = _dimension_points(rows, keys)
    for point in points.to_pylist():
        start = point["period"]
        key = (point["account_id"], start)
        result[point["account_id"]].append(
            TrendPoint(
                start=max(start, span.start),
                end=min(_period_end(start, span.granularity), span.end),
                days=point["day_count"],
                score=point["score_mean"],
                rank=point["rank_last"],
                profile=point["profile_last"],
                model=point["model_last"],
                version=point["version_last"],
                dimensions=dims.get(key, []),
            )
        )
    return result


def _daily_points(
    rows: pa.Table, result: dict[str, list[TrendPoint]]
) -> dict[str, list[TrendPoint]]:
    """One point per row (a day is its own period): no aggregation, the rows as they are."""
    rows = rows.sort_by([("account_id", "ascending"), ("day", "ascending")])
    for row in rows.to_pylist():
        day = row["day"]
        score = row["score"]
        result[row["account_id"]].append(
            TrendPoint(
                start=day,
                end=day,
                days=1,
                score=None if score is None else float(score),
                rank=row["rank"],
                profile=row["profile"],
                model=row["model"],
                version=row["version"],
                dimensions=[
                    DimensionPoint(
                        d["name"], None if d["score"] is None else float(d["score"]), d["rank"]
                    )
                    for d in row["dimensions"]
                ],
            )
        )
    return result


def _dimension_points(
    rows: pa.Table, keys: list[str]
) -> dict[tuple[str, dt.date], list[DimensionPoint]]:
    lists = rows["dimensions"].combine_chunks()
    parents = pc.list_parent_indices(lists)
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return {}
    flat_table = pa.table(
        {
            "account_id": pc.take(rows["account_id"], parents),
            "period": pc.take(rows["period"], parents),
            "name": flat.field("name"),
            "score": flat.field("score"),
            "rank": flat.field("rank"),
            "order": pa.array(np.arange(len(flat), dtype=np.int64)),
        }
    )
    grouped = (
        flat_table.group_by([*keys, "name"], use_threads=False)
        .aggregate([("score", "mean"), ("rank", "last"), ("order", "min")])
        .sort_by([("account_id", "ascending"), ("period", "ascending"), ("order_min", "ascending")])
    )
    out: dict[tuple[str, dt.date], list[DimensionPoint]] = {}
    for row in grouped.to_pylist():
        out.setdefault((row["account_id"], row["period"]), []).append(
            DimensionPoint(row["name"], row["score_mean"], row["rank_last"])
        )
    return out


def known_accounts(table: HistoryTable, accounts: Sequence[str]) -> set[str]:
    """Which of `accounts` have any stored row (reads their row groups' ids only)."""
    found = table.scan(columns=["account_id"], accounts=accounts)
    return set(pc.unique(found["account_id"]).to_pylist())


def require_known(table: HistoryTable, accounts: Sequence[str], field_name: str) -> None:
    """NotFoundError (one account) or InvalidInputError naming `field_name[i]` for the accounts
    with no stored health at all."""
    known = known_accounts(table, accounts)
    missing = [(i, a) for i, a in enumerate(accounts) if a not in known]
    if not missing:
        return
    if len(accounts) == 1:
        raise NotFoundError(f"account {accounts[0]!r} has no stored health")
    problems = [
        Violation(f"{field_name}[{i}]", f"account {a!r} has no stored health") for i, a in missing
    ]
    raise InvalidInputError(
        f"{len(problems)} account(s) have no stored health: "
        + ", ".join(repr(a) for _, a in missing[:5]),
        problems,
    )


def matching_accounts(table: HistoryTable, where: AccountFilter, span: Range) -> list[str]:
    """The accounts, sorted by id, whose row on the last stored day of `span` matches `where`."""
    day = _last_stored_day(table, span)
    if day is None:
        return []
    rows = table.scan(columns=["account_id", *filter_columns(where)], start=day, end=day)
    return sorted(pc.unique(pc.filter(rows["account_id"], filter_mask(rows, where))).to_pylist())


def filter_columns(where: AccountFilter) -> list[str]:
    """The columns `filter_mask` reads for `where` (`attributes`, the costly nested one, only
    for attribute conditions)."""
    return (["parent_id"] if where.parent_id is not None else []) + (
        ["attributes"] if where.attributes else []
    )


def filter_mask(rows: pa.Table, where: AccountFilter) -> pa.Array:
    """Which of `rows` (columns `parent_id`, and `attributes` when `where` has attribute
    conditions) match `where`, as a boolean array."""
    mask = all_rows(rows.num_rows)
    if where.parent_id is not None:
        mask = pc.and_(mask, pc.fill_null(pc.equal(rows["parent_id"], where.parent_id), False))
    if where.attributes:
        lists = rows["attributes"].combine_chunks()
        flat = pc.list_flatten(lists)
        for name, values in where.attributes.items():
            hit = pc.and_(pc.equal(flat.field("name"), name), _value_matches(flat, values))
            mask = pc.and_(mask, rows_having(lists, hit))
    return mask


def all_rows(count: int) -> pa.Array:
    """A mask that keeps every one of `count` rows (built in Arrow: no Python object a row)."""
    return pa.repeat(pa.scalar(True), count)


def rows_having(lists: pa.ListArray, hit: pa.Array) -> pa.Array:
    """Which rows of `lists` have an element where `hit` (one entry per flattened element,
    null as false) is true, as a boolean array."""
    matched = pc.filter(pc.list_parent_indices(lists), pc.fill_null(hit, False))
    positions = pa.array(np.arange(len(lists), dtype=np.int64))
    return pc.is_in(positions, pc.cast(matched, pa.int64()))


def _value_matches(flat: pa.StructArray, values: Sequence[str | float | bool]) -> pa.Array:
    texts = [v for v in values if isinstance(v, str)]
    bools = [v for v in values if isinstance(v, bool)]
    numbers = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    hit = pa.repeat(pa.scalar(False), len(flat))
    if texts:
        hit = pc.or_(hit, pc.fill_null(pc.is_in(flat.field("text"), pa.array(texts)), False))
    if numbers:
        hit = pc.or_(hit, pc.fill_null(pc.is_in(flat.field("number"), pa.array(numbers)), False))
    if bools:
        hit = pc.or_(hit, pc.fill_null(pc.is_in(flat.field("bool"), pa.array(bools)), False))
    return hit


def _last_stored_day(table: HistoryTable, span: Range) -> dt.date | None:
    """The last day of `span` that has a snapshot."""
    return max(table.day_counts(span.start, span.end), default=None)
