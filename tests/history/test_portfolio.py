"""The portfolio summary and drill-down (history/portfolio.py) against the same numbers computed
with plain Python over the generated accounts' rows: counts, exact contract-value sums per rank
and per dimension rank (value at risk), averages rounded half-up, filters, order, pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from benchmarks.history_data import SyntheticHealth
from healthscore.errors import InvalidInputError, NotFoundError
from healthscore.history import portfolio
from healthscore.history.portfolio import Portfolio, Section
from healthscore.history.schema import HEALTH_DAILY, RANKS
from healthscore.history.table import HistoryTable
from healthscore.history.trends import AccountFilter

DAY = dt.date(2026, 11, 30)
BIG = 1 << 52  # contract values whose sum does not fit a float exactly, nor 2**32 per half


def _rows(accounts: int = 240) -> pa.Table:
    """Generated accounts, with some edges: contract values missing or huge, ranks UNKNOWN
    (no score) and dimensions UNKNOWN."""
    table = pa.Table.from_batches([SyntheticHealth(accounts).batch(DAY, 0, accounts)])
    rows = table.to_pylist()
    for i, row in enumerate(rows):
        if i % 7 == 0:
            row["contract_value"] = None
        elif i % 11 == 0:
            row["contract_value"] = BIG + i
        if i % 13 == 0:
            row["rank"], row["score"] = "UNKNOWN", None
        if i % 17 == 0:
            row["dimensions"][1] = {
                "name": row["dimensions"][1]["name"],
                "score": None,
                "rank": "UNKNOWN",
            }
        if i % 19 == 0:
            row["dimensions"] = row["dimensions"][:2]  # a profile with fewer dimensions
    return pa.Table.from_pylist(rows, schema=HEALTH_DAILY)


def _half_up(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def _expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The summary by hand."""
    scores = [r["score"] for r in rows if r["score"] is not None]
    ranks = {
        rank: (
            sum(1 for r in rows if r["rank"] == rank),
            sum(r["contract_value"] or 0 for r in rows if r["rank"] == rank),
        )
        for rank in RANKS
    }
    dims: dict[str, dict[str, Any]] = {}
    for r in rows:
        for d in r["dimensions"]:
            entry = dims.setdefault(d["name"], {"accounts": 0, "scores": [], "ranks": {}})
            entry["accounts"] += 1
            if d["score"] is not None:
                entry["scores"].append(d["score"])
            count, value = entry["ranks"].get(d["rank"], (0, 0))
            entry["ranks"][d["rank"]] = (count + 1, value + (r["contract_value"] or 0))
    return {
        "accounts": len(rows),
        "average": _half_up(Fraction(sum(scores), len(scores))) if scores else None,
        "contract_value": sum(r["contract_value"] or 0 for r in rows),
        "ranks": ranks,
        "dimensions": {
            name: {
                "accounts": e["accounts"],
                "average": _half_up(Fraction(sum(e["scores"]), len(e["scores"]))),
                "at_risk": e["ranks"].get("POOR", (0, 0))[1],
                "ranks": {k: e["ranks"].get(k, (0, 0)) for k in RANKS},
            }
            for name, e in dims.items()
        },
    }


def _actual(summary: portfolio.Summary) -> dict[str, Any]:
    return {
        "accounts": summary.accounts,
        "average": summary.average,
        "contract_value": summary.contract_value,
        "ranks": {r.rank: (r.accounts, r.contract_value) for r in summary.ranks},
        "dimensions": {
            d.name: {
                "accounts": d.accounts,
                "average": d.average,
                "at_risk": d.value_at_risk,
                "ranks": {r.rank: (r.accounts, r.contract_value) for r in d.ranks},
            }
            for d in summary.dimensions
        },
    }


def test_summary_matches_plain_python() -> None:
    rows = _rows()
    summary = portfolio.summarize_rows(rows, DAY)
    expected = _expected(rows.to_pylist())
    assert _actual(summary) == expected
    assert expected["contract_value"] > 1 << 53  # beyond what a float sum keeps exactly
    assert expected["ranks"]["UNKNOWN"][0] > 0
    assert [d.name for d in summary.dimensions] == list(expected["dimensions"])


def test_average_rounds_half_up_exactly() -> None:
    assert portfolio.average(1, 8) == Decimal("0.13")  # 0.125
    assert portfolio.average(5, 8) == Decimal("0.63")  # 0.625, not banker's 0.62
    assert portfolio.average(2, 3) == Decimal("0.67")
    assert portfolio.average(200, 3) == Decimal("66.67")
    assert portfolio.average(0, 0) is None


def test_contract_values_beyond_int64_are_refused() -> None:
    rows = _rows(20)
    huge = pa.array([(1 << 62)] * rows.num_rows, pa.int64())
    rows = rows.set_column(rows.schema.get_field_index("contract_value"), "contract_value", huge)
    with pytest.raises(InvalidInputError, match="beyond int64"):
        portfolio.summarize_rows(rows, DAY)


def test_dimensions_sort_by_value_at_risk_and_average() -> None:
    rows = _rows()
    expected = _expected(rows.to_pylist())["dimensions"]
    by_risk = portfolio.summarize_rows(rows, DAY, [("value_at_risk", True)])
    assert [d.name for d in by_risk.dimensions] == sorted(
        expected, key=lambda n: -expected[n]["at_risk"]
    )
    by_average = portfolio.summarize_rows(rows, DAY, [("average_score", False)])
    assert [d.name for d in by_average.dimensions] == sorted(
        expected, key=lambda n: expected[n]["average"]
    )


def test_order_by_is_checked() -> None:
    assert portfolio.parse_order_by(" score desc,name ", portfolio.ACCOUNT_ORDERS) == [
        ("score", True),
        ("name", False),
    ]
    for bad in ("colour", "score up", "score desc desc", "score, score", ","):
        with pytest.raises(InvalidInputError) as info:
            portfolio.parse_order_by(bad, portfolio.ACCOUNT_ORDERS)
        assert [v.path for v in info.value.violations] == ["order_by"]


class _Source:
    def __init__(self, rows: pa.Table) -> None:
        self.rows = rows

    def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]:
        return iter(self.rows.to_batches(max_chunksize=batch_rows))


def test_filter_selects_the_accounts_of_an_owner_and_segment() -> None:
    rows = _rows()
    where = AccountFilter(attributes={"owner": ["bob"], "segment": ["smb", "enterprise"]})
    summary = Portfolio(_Source(rows), HistoryTable("/nonexistent")).summarize(
        where, day=None, today=DAY
    )

    def attribute(row: dict[str, Any], name: str) -> Any:
        return next(a["text"] for a in row["attributes"] if a["name"] == name)

    chosen = [
        r
        for r in rows.to_pylist()
        if attribute(r, "owner") == "bob" and attribute(r, "segment") in ("smb", "enterprise")
    ]
    assert 0 < len(chosen) < rows.num_rows
    assert _actual(summary) == _expected(chosen)


def test_drill_down_sorts_pages_and_filters_sections() -> None:
    rows = _rows()
    book = Portfolio(_Source(rows), HistoryTable("/nonexistent"))
    plain = rows.to_pylist()
    section = Section(dimension="engagement", dimension_rank="POOR")
    members = [
        r
        for r in plain
        if any(d["name"] == "engagement" and d["rank"] == "POOR" for d in r["dimensions"])
    ]
    # contract value, largest first; missing last; ties by id
    expected = sorted(
        members,
        key=lambda r: (r["contract_value"] is None, -(r["contract_value"] or 0), r["account_id"]),
    )
    got: list[str] = []
    offset = 0
    while True:
        page, total = book.accounts(
            AccountFilter(),
            section,
            day=None,
            today=DAY,
            order=[("contract_value", True)],
            offset=offset,
            limit=7,
        )
        assert total == len(members)
        got += [str(r["account_id"]) for r in page]
        offset += len(page)
        if offset >= total:
            break
    assert got == [r["account_id"] for r in expected]
    # the section's value: what the summary calls engagement's value at risk
    summary = portfolio.summarize_rows(rows, DAY)
    at_risk = next(d.value_at_risk for d in summary.dimensions if d.name == "engagement")
    assert at_risk == sum(r["contract_value"] or 0 for r in members)

    severity = {"POOR": 0, "AVERAGE": 1, "GOOD": 2}
    by_rank, _ = book.accounts(
        AccountFilter(),
        Section(),
        day=None,
        today=DAY,
        order=[("rank", False), ("score", True)],
        offset=0,
        limit=1000,
    )
    assert [r["account_id"] for r in by_rank] == [
        r["account_id"]
        for r in sorted(
            plain,
            key=lambda r: (
                r["rank"] == "UNKNOWN",
                severity.get(r["rank"], 0),
                r["score"] is None,
                -(r["score"] or 0),
                r["account_id"],
            ),
        )
    ]
    poor, total = book.accounts(
        AccountFilter(), Section(rank="POOR"), day=None, today=DAY, order=[], offset=0, limit=5
    )
    assert total == sum(1 for r in plain if r["rank"] == "POOR")
    assert [r["account_id"] for r in poor] == sorted(
        r["account_id"] for r in plain if r["rank"] == "POOR"
    )[:5]


def test_a_stored_day_is_read_from_the_history_table(tmp_path: Path) -> None:
    rows = _rows()
    table = HistoryTable(tmp_path / "history")
    table.write_day(DAY, rows.to_batches())
    book = Portfolio(None, table)
    summary = book.summarize(AccountFilter(), day=DAY, today=DAY)
    assert _actual(summary) == _expected(rows.to_pylist())
    for section, order in (
        (Section(dimension="usage", dimension_rank="POOR"), [("contract_value", True)]),
        (Section(rank="AVERAGE"), [("score", False)]),
        (Section(), [("rank", True), ("name", True)]),
    ):
        now = Portfolio(_Source(rows), table).accounts(
            AccountFilter(), section, day=None, today=DAY, order=order, offset=3, limit=9
        )
        stored = book.accounts(
            AccountFilter(), section, day=DAY, today=DAY, order=order, offset=3, limit=9
        )
        assert stored == now and len(now[0]) == 9
    with pytest.raises(NotFoundError, match="2026-11-29"):
        book.summarize(AccountFilter(), day=DAY - dt.timedelta(days=1), today=DAY)
    assert pc.sum(rows["score"]).as_py() > 0
