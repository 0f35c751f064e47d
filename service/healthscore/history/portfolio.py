"""The portfolio summary (the seeds' "My Portfolio" widget) and its drill-down, over the accounts'
current health or a stored day, computed column-wise with Arrow (no Python object per account).

Exact arithmetic: scores are summed as integers and the mean is rounded half-up to two decimals
from that sum (`average`); contract values (int64 minor units; none counts as 0) are summed as two
32-bit halves, each sum exact in int64 for up to 2**31 accounts, and recombined in Python, so a
total beyond int64 is refused rather than wrapped.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthscore.errors import NotFoundError, field_error
from healthscore.history.schema import HEALTH_DAILY, RANKS
from healthscore.history.snapshot import BATCH_ROWS, CurrentHealthSource
from healthscore.history.table import HistoryTable
from healthscore.history.trends import (
    AccountFilter,
    all_rows,
    filter_columns,
    filter_mask,
    rows_having,
)

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_LOW_MASK = (1 << 32) - 1
# Rank order for sorting accounts: worst first; UNKNOWN has no place (null: last).
_RANK_SEVERITY = pa.array(["POOR", "AVERAGE", "GOOD"], pa.string())


def average(score_sum: int, count: int) -> Decimal | None:
    """`score_sum / count` rounded half-up to two decimals, exactly (scores are not negative)."""
    if count == 0:
        return None
    hundredths = (2 * 100 * score_sum + count) // (2 * count)
    return Decimal(hundredths).scaleb(-2)


@dataclass(frozen=True)
class RankTotal:
    rank: str
    accounts: int
    contract_value: int


@dataclass(frozen=True)
class DimensionTotal:
    name: str
    accounts: int
    scored: int
    score_sum: int
    ranks: list[RankTotal]
    first_seen: int

    @property
    def average(self) -> Decimal | None:
        return average(self.score_sum, self.scored)

    @property
    def value_at_risk(self) -> int:
        return next(r.contract_value for r in self.ranks if r.rank == "POOR")


@dataclass(frozen=True)
class Summary:
    day: dt.date | None
    accounts: int
    scored: int
    score_sum: int
    contract_value: int
    ranks: list[RankTotal]
    dimensions: list[DimensionTotal]

    @property
    def average(self) -> Decimal | None:
        return average(self.score_sum, self.scored)


@dataclass(frozen=True)
class Section:
    """A drill-down: the accounts of a rank, and/or those having a dimension (of a rank in it)."""

    rank: str | None = None
    dimension: str | None = None
    dimension_rank: str | None = None


DIMENSION_ORDERS = ("name", "average_score", "value_at_risk", "account_count")
ACCOUNT_ORDERS = ("name", "score", "contract_value", "rank")


def parse_order_by(
    text: str, allowed: Sequence[str], field: str = "order_by"
) -> list[tuple[str, bool]]:
    """AIP-132 `order_by`: comma-separated fields, each optionally followed by `desc` (or `asc`);
    (field, descending) pairs. InvalidInputError naming `field` for anything else."""
    keys: list[tuple[str, bool]] = []
    if not text.strip():
        return keys
    for part in text.split(","):
        words = part.split()
        descending = len(words) == 2 and words[1].lower() == "desc"
        if (
            not words
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
        ):
            raise field_error(field, f"{part.strip()!r} is not `field` or `field desc`")
        if words[0] not in allowed:
            raise field_error(field, f"unknown field {words[0]!r} (fields: {', '.join(allowed)})")
        if any(words[0] == name for name, _ in keys):
            raise field_error(field, f"{words[0]!r} is given twice")
        keys.append((words[0], descending))
    return keys


class Portfolio:
    """Summaries and drill-downs over the current health (`source`) or a stored day (`table`)."""

    def __init__(self, source: CurrentHealthSource | None, table: HistoryTable) -> None:
        self._source = source
        self._table = table

    def rows(self, day: dt.date | None, columns: Sequence[str], today: dt.date) -> pa.Table:
        """`columns` of every account: of stored `day` (NotFoundError if not stored), or current."""
        if day is not None:
            rows = self._table.scan(columns=list(columns), start=day, end=day)
            if rows.num_rows == 0:
                raise NotFoundError(
                    f"snapshots/{day.isoformat()} is not stored (see ListSnapshots)"
                )
            return rows
        if self._source is None:
            return HEALTH_DAILY.empty_table().select(list(columns))
        batches = [
            batch.select(list(columns))
            for batch in self._source.iter_current_health(today, BATCH_ROWS)
        ]
        schema = pa.schema([HEALTH_DAILY.field(c) for c in columns])
        return pa.Table.from_batches(batches, schema=schema)

    def summarize(
        self,
        where: AccountFilter,
        *,
        day: dt.date | None,
        today: dt.date,
        order: Sequence[tuple[str, bool]] = (),
    ) -> Summary:
        rows = self.rows(
            day, _columns(where, ["score", "rank", "contract_value", "dimensions"]), today
        )
        rows = _selected(rows, where)
        return summarize_rows(rows, day, order)

    def accounts(
        self,
        where: AccountFilter,
        section: Section,
        *,
        day: dt.date | None,
        today: dt.date,
        order: Sequence[tuple[str, bool]],
        offset: int,
        limit: int,
    ) -> tuple[list[dict[str, object]], int]:
        """The page of accounts (`offset`, at most `limit`) in `order` (ties by id), as dicts of
        the `HEALTH_DAILY` columns, and how many there are in all."""
        wanted = [
            "account_id",
            "parent_id",
            "contract_value",
            "score",
            "rank",
            "profile",
            "dimensions",
        ]
        if day is None:  # current health: its reader builds every column anyway
            rows = _selected(self.rows(day, _columns(where, wanted), today), where)
            rows = rows.filter(section_mask(rows, section))
            indices = sort_indices(rows, order)
            page = rows.take(indices[offset : offset + limit]).select(wanted)
            return page.to_pylist(), rows.num_rows
        # A stored day: choose and sort the accounts on the columns that decide (`dimensions`,
        # the costly nested one, only for a dimension's section), then read the page's rows.
        deciding = ["account_id", "score", "rank", "contract_value"]
        if section.dimension is not None:
            deciding.append("dimensions")
        rows = _selected(self.rows(day, _columns(where, deciding), today), where)
        rows = rows.filter(section_mask(rows, section))
        indices = sort_indices(rows, order)
        ids = rows["account_id"].take(indices[offset : offset + limit]).to_pylist()
        details = self._table.scan(columns=wanted, accounts=ids, start=day, end=day)
        by_id = {row["account_id"]: row for row in details.to_pylist()}
        return [by_id[i] for i in ids], rows.num_rows


def _columns(where: AccountFilter, columns: list[str]) -> list[str]:
    return columns + [c for c in filter_columns(where) if c not in columns]


def _selected(rows: pa.Table, where: AccountFilter) -> pa.Table:
    return rows if where.empty else rows.filter(filter_mask(rows, where))


def section_mask(rows: pa.Table, section: Section) -> pa.Array:
    mask = all_rows(rows.num_rows)
    if section.rank is not None:
        mask = pc.and_(mask, pc.equal(rows["rank"], section.rank))
    if section.dimension is not None:
        lists = rows["dimensions"].combine_chunks()
        flat = pc.list_flatten(lists)
        hit = pc.equal(flat.field("name"), section.dimension)
        if section.dimension_rank is not None:
            hit = pc.and_(hit, pc.equal(flat.field("rank"), section.dimension_rank))
        mask = pc.and_(mask, rows_having(lists, hit))
    return pc.fill_null(mask, False)


def sort_indices(rows: pa.Table, order: Sequence[tuple[str, bool]]) -> pa.Array:
    """Row indices in `order` (fields of ACCOUNT_ORDERS), missing values last, ties by id."""
    keys: dict[str, pa.ChunkedArray | pa.Array] = {}
    sort_keys: list[tuple[str, str]] = []
    for name, descending in order:
        if name == "name":
            column: pa.ChunkedArray | pa.Array = rows["account_id"]
        elif name == "rank":
            column = pc.index_in(rows["rank"], value_set=_RANK_SEVERITY)
        else:
            column = rows[name]
        keys[name] = column
        sort_keys.append((name, "descending" if descending else "ascending"))
    if "name" not in keys:
        keys["name"] = rows["account_id"]
        sort_keys.append(("name", "ascending"))
    return pc.sort_indices(pa.table(keys), sort_keys=sort_keys)  # nulls last: the default


def _halves(values: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, pa.Array]:
    """int64 values (null as 0) as (high, low) 32-bit halves: value = high * 2**32 + low."""
    filled = pc.fill_null(values, 0)
    return pc.shift_right(filled, 32), pc.bit_wise_and(filled, _LOW_MASK)


def _total(high: int | None, low: int | None, what: str) -> int:
    total = ((high or 0) << 32) + (low or 0)
    if not _INT64_MIN <= total <= _INT64_MAX:
        raise field_error("filter", f"the contract values of {what} sum beyond int64")
    return total


# Per group: the score sum and count (scored accounts), the contract value halves' sums, the
# accounts (`rank_count`).
_SUMS = [("score", "sum"), ("score", "count"), ("high", "sum"), ("low", "sum"), ("rank", "count")]


def _rank_totals(by_rank: dict[str, dict[str, Any]], what: Callable[[str], str]) -> list[RankTotal]:
    """A RankTotal per rank of RANKS (none of them: zeros) from `_SUMS` rows keyed by rank;
    `what(rank)` names the accounts in the error for a sum beyond int64."""
    totals = []
    for rank in RANKS:
        sums = by_rank.get(rank, {})
        contract_value = _total(sums.get("high_sum"), sums.get("low_sum"), what(rank))
        totals.append(RankTotal(rank, sums.get("rank_count", 0), contract_value))
    return totals


def summarize_rows(
    rows: pa.Table, day: dt.date | None, order: Sequence[tuple[str, bool]] = ()
) -> Summary:
    """The summary of `rows` (columns `score`, `rank`, `contract_value`, `dimensions`)."""
    high, low = _halves(rows["contract_value"])
    per_rank = (
        pa.table(
            {
                "rank": rows["rank"],
                "score": pc.cast(rows["score"], pa.int64()),
                "high": high,
                "low": low,
            }
        )
        .group_by("rank", use_threads=False)
        .aggregate(_SUMS)
        .to_pylist()
    )
    return Summary(
        day=day,
        accounts=rows.num_rows,
        scored=sum(r["score_count"] for r in per_rank),
        score_sum=sum(r["score_sum"] or 0 for r in per_rank),
        contract_value=_total(
            sum(r["high_sum"] or 0 for r in per_rank),
            sum(r["low_sum"] or 0 for r in per_rank),
            "the accounts",
        ),
        ranks=_rank_totals({r["rank"]: r for r in per_rank}, lambda rank: f"the {rank} accounts"),
        dimensions=_sorted_dimensions(_dimensions(rows, high, low), order),
    )


def _dimensions(rows: pa.Table, high: pa.Array, low: pa.Array) -> list[DimensionTotal]:
    lists = rows["dimensions"].combine_chunks()
    flat = pc.list_flatten(lists)
    if len(flat) == 0:
        return []
    parents = pc.list_parent_indices(lists)
    grouped = (
        pa.table(
            {
                "name": flat.field("name"),
                "rank": flat.field("rank"),
                "score": pc.cast(flat.field("score"), pa.int64()),
                "high": pc.take(high, parents),
                "low": pc.take(low, parents),
                "order": pa.array(np.arange(len(flat), dtype=np.int64)),
            }
        )
        .group_by(["name", "rank"], use_threads=False)
        .aggregate([*_SUMS, ("order", "min")])
        .to_pylist()
    )
    by_name: dict[str, list[dict[str, Any]]] = {}
    for entry in grouped:
        by_name.setdefault(entry["name"], []).append(entry)
    return [
        DimensionTotal(
            name=name,
            accounts=sum(e["rank_count"] for e in entries),
            scored=sum(e["score_count"] for e in entries),
            score_sum=sum(e["score_sum"] or 0 for e in entries),
            ranks=_rank_totals(
                {e["rank"]: e for e in entries},
                functools.partial(_in_dimension, name),
            ),
            first_seen=min(e["order_min"] for e in entries),
        )
        for name, entries in by_name.items()
    ]


def _in_dimension(name: str, rank: str) -> str:
    return f"the accounts {rank} in {name!r}"


def _sorted_dimensions(
    dims: list[DimensionTotal], order: Sequence[tuple[str, bool]]
) -> list[DimensionTotal]:
    """Dimensions in `order` (fields of DIMENSION_ORDERS); no average last either way; ties (and
    no order) by first appearance."""

    def value(d: DimensionTotal, name: str) -> str | int | Decimal | None:
        if name == "name":
            return d.name
        if name == "average_score":
            return d.average
        if name == "value_at_risk":
            return d.value_at_risk
        return d.accounts

    def compare(a: DimensionTotal, b: DimensionTotal) -> int:
        for name, descending in order:
            left, right = value(a, name), value(b, name)
            if left == right:
                continue
            if left is None or right is None:
                return 1 if left is None else -1
            less = left < right  # type: ignore[operator]
            return (-1 if less else 1) * (-1 if descending else 1)
        return a.first_seen - b.first_seen

    return sorted(dims, key=functools.cmp_to_key(compare))
