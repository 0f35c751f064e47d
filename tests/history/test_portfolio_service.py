"""PortfolioService end to end: accounts written through AccountService (with contract values and
a segment attribute), the summary and drill-down of their current health and of a stored day,
checked against the numbers computed in plain Python from the stored rows (read with Polars, no
healthscore code), and every bad field named."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import grpc
import polars as pl
from google.protobuf.timestamp_pb2 import Timestamp

from healthscore_client.v1 import (
    account_pb2,
    account_service_pb2,
    health_pb2,
    history_service_pb2,
    portfolio_service_pb2,
    portfolio_service_pb2_grpc,
)
from tests.e2e.support import rpc_error, violations
from tests.history.conftest import Served

pb = portfolio_service_pb2
hpb = history_service_pb2
RANKS = ("GOOD", "AVERAGE", "POOR", "UNKNOWN")
TYPES = ("enterprise", "smb")


def _write(served: Served, accounts: int) -> None:
    rng = random.Random(13)
    now = Timestamp()
    now.GetCurrentTime()
    records = []
    for i in range(accounts):
        attributes = {"account_type": account_pb2.Value(text_value=TYPES[i % 2])}
        if i % 9:  # every ninth account has no metric at all: UNKNOWN
            attributes["engagement_score"] = account_pb2.Value(number_value=rng.uniform(0, 100))
            attributes["license_utilization"] = account_pb2.Value(number_value=rng.uniform(0, 100))
            attributes["open_tickets"] = account_pb2.Value(number_value=rng.randint(0, 12))
        record = account_service_pb2.AccountData(
            account_id=f"a{i:03d}", attributes=attributes, observe_time=now
        )
        if i % 5:
            record.contract_value = rng.randint(0, 10**12)
        records.append(record)
    served.accounts.WriteAccountData(account_service_pb2.WriteAccountDataRequest(records=records))


def _stub(served: Served) -> portfolio_service_pb2_grpc.PortfolioServiceStub:
    return portfolio_service_pb2_grpc.PortfolioServiceStub(grpc.insecure_channel(served.address))


def _stored(served: Served, day: str) -> list[dict[str, Any]]:
    assert served.app.history is not None
    frame = pl.read_delta(served.app.history.table.uri).filter(pl.col("day").cast(pl.String) == day)
    return list(frame.iter_rows(named=True))


def _half_up(total: int, count: int) -> float | None:
    if not count:
        return None
    exact = Fraction(total, count)
    value = (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    return float(value)


def _text(row: dict[str, Any], name: str) -> str | None:
    return next((a["text"] for a in row["attributes"] if a["name"] == name), None)


def _expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [r["score"] for r in rows if r["score"] is not None]
    dims: dict[str, list[tuple[dict[str, Any], int]]] = {}
    for r in rows:
        for d in r["dimensions"]:
            dims.setdefault(d["name"], []).append((d, r["contract_value"] or 0))
    return {
        "count": len(rows),
        "average": _half_up(sum(scores), len(scores)),
        "value": sum(r["contract_value"] or 0 for r in rows),
        "ranks": [
            (
                rank,
                sum(1 for r in rows if r["rank"] == rank),
                sum(r["contract_value"] or 0 for r in rows if r["rank"] == rank),
            )
            for rank in RANKS
        ],
        "dimensions": {
            name: (
                len(entries),
                _half_up(
                    sum(d["score"] for d, _ in entries if d["score"] is not None),
                    sum(1 for d, _ in entries if d["score"] is not None),
                ),
                sum(v for d, v in entries if d["rank"] == "POOR"),
            )
            for name, entries in dims.items()
        },
    }


def _actual(summary: pb.PortfolioSummary) -> dict[str, Any]:
    return {
        "count": summary.account_count,
        "average": summary.average_score if summary.HasField("average_score") else None,
        "value": summary.contract_value,
        "ranks": [
            (
                health_pb2.HealthRank.Name(r.rank).removeprefix("HEALTH_RANK_"),
                r.account_count,
                r.contract_value,
            )
            for r in summary.ranks
        ],
        "dimensions": {
            d.name: (
                d.account_count,
                d.average_score if d.HasField("average_score") else None,
                d.value_at_risk,
            )
            for d in summary.dimensions
        },
    }


def test_summary_and_drill_down_of_current_health_and_a_stored_day(served: Served) -> None:
    assert served.app.history is not None
    _write(served, 60)
    day = served.history.CreateSnapshot(hpb.CreateSnapshotRequest()).day
    rows = _stored(served, day)
    assert len(rows) == 60
    stub = _stub(served)

    now = stub.SummarizePortfolio(pb.SummarizePortfolioRequest())
    assert _actual(now) == _expected(rows)
    assert now.day == "" and [r.rank for r in now.ranks] == [1, 2, 3, 4]
    stored = stub.SummarizePortfolio(pb.SummarizePortfolioRequest(day=day))
    assert _actual(stored) == _expected(rows) and stored.day == day

    smb = hpb.AccountFilter(
        attributes=[
            hpb.AttributeCondition(
                name="account_type", values=[account_pb2.Value(text_value="smb")]
            )
        ]
    )
    filtered = stub.SummarizePortfolio(
        pb.SummarizePortfolioRequest(filter=smb, order_by="value_at_risk desc")
    )
    chosen = [r for r in rows if _text(r, "account_type") == "smb"]
    assert _actual(filtered) == _expected(chosen) and filtered.account_count == 30
    risks = [d.value_at_risk for d in filtered.dimensions]
    assert risks == sorted(risks, reverse=True)

    # drill-down: the smb accounts poor in usage, by contract value, 2 a page
    members = [
        r
        for r in chosen
        if any(d["name"] == "usage" and d["rank"] == "POOR" for d in r["dimensions"])
    ]
    expected = [
        f"accounts/{r['account_id']}"
        for r in sorted(
            members,
            key=lambda r: (
                r["contract_value"] is None,
                -(r["contract_value"] or 0),
                r["account_id"],
            ),
        )
    ]
    request = pb.ListPortfolioAccountsRequest(
        filter=smb,
        dimension="usage",
        dimension_rank=health_pb2.HEALTH_RANK_POOR,
        order_by="contract_value desc",
        page_size=2,
    )
    listed: list[str] = []
    while True:
        page = stub.ListPortfolioAccounts(request)
        assert page.total_size == len(members)
        listed += [a.name for a in page.accounts]
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert listed == expected and len(members) > 2
    first = stub.ListPortfolioAccounts(
        pb.ListPortfolioAccountsRequest(
            day=day, rank=health_pb2.HEALTH_RANK_GOOD, order_by="score desc"
        )
    )
    good = sorted(
        (r for r in rows if r["rank"] == "GOOD"), key=lambda r: (-r["score"], r["account_id"])
    )
    assert [(a.name, a.score) for a in first.accounts] == [
        (f"accounts/{r['account_id']}", r["score"]) for r in good
    ]


def test_bad_requests_name_the_field(served: Served) -> None:
    _write(served, 3)
    stub = _stub(served)

    def summary_error(**fields: Any) -> grpc.RpcError:
        return rpc_error(lambda: stub.SummarizePortfolio(pb.SummarizePortfolioRequest(**fields)))

    def list_error(**fields: Any) -> grpc.RpcError:
        return rpc_error(
            lambda: stub.ListPortfolioAccounts(pb.ListPortfolioAccountsRequest(**fields))
        )

    unknown = hpb.AccountFilter(
        attributes=[
            hpb.AttributeCondition(
                name="account_type", values=[account_pb2.Value(text_value="smb")]
            ),
            hpb.AttributeCondition(name="colour", values=[account_pb2.Value(text_value="red")]),
        ]
    )
    cases = {
        "filter.attributes[1].name": summary_error(filter=unknown),
        "order_by": summary_error(order_by="score"),  # accounts' field, not a dimension's
        "day": summary_error(day="2026-02-30"),
        "page_token": list_error(page_token="bm90IGEgdG9rZW4="),
        "dimension": list_error(dimension_rank=health_pb2.HEALTH_RANK_POOR),
        "rank": list_error(rank=42),
    }
    for field, error in cases.items():
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert [f for f, _ in violations(error)] == [field]
    bad_order = list_error(order_by="contract_value sideways")
    assert [f for f, _ in violations(bad_order)] == ["order_by"]
    # a token of another list (another order) is refused too
    page = stub.ListPortfolioAccounts(pb.ListPortfolioAccountsRequest(page_size=1))
    other = list_error(page_size=1, order_by="score", page_token=page.next_page_token)
    assert [f for f, _ in violations(other)] == ["page_token"]
    missing = summary_error(day="2020-01-01")
    assert missing.code() == grpc.StatusCode.NOT_FOUND
