"""HistoryService end to end: accounts written through AccountService, a snapshot taken through
CreateSnapshot from the account store's current health, trends and snapshots read back, and
every bad field named."""

from __future__ import annotations

import datetime as dt

import grpc
import polars as pl

from healthscore_client.v1 import (
    health_pb2,
    history_service_pb2,
)
from tests.e2e.support import rpc_error, violations
from tests.history.conftest import Served
from tests.history.conftest import write_accounts as _write

pb = history_service_pb2


def test_snapshot_then_trend_through_grpc(served: Served) -> None:
    assert served.app.history is not None
    today = served.app.history.today()
    yesterday = today - dt.timedelta(days=1)
    _write(served, {"acme": 90, "globex": 20, "initech": 55}, parent="acme")
    first = served.history.CreateSnapshot(
        pb.CreateSnapshotRequest(snapshot_id=yesterday.isoformat())
    )
    assert (first.name, first.account_count) == (f"snapshots/{yesterday}", 3)
    _write(served, {"acme": 10})
    served.history.CreateSnapshot(pb.CreateSnapshotRequest())
    again = served.history.CreateSnapshot(pb.CreateSnapshotRequest())  # replaces today
    assert again.day == today.isoformat()
    listed = served.history.ListSnapshots(pb.ListSnapshotsRequest())
    assert [(s.day, s.account_count) for s in listed.snapshots] == [
        (today.isoformat(), 3),
        (yesterday.isoformat(), 3),
    ]
    trend = served.history.GetHealthTrend(
        pb.GetHealthTrendRequest(
            account="accounts/acme", start_date=yesterday.isoformat(), end_date=today.isoformat()
        )
    )
    assert [p.start_date for p in trend.points] == [yesterday.isoformat(), today.isoformat()]
    stored = pl.read_delta(served.app.history.table.uri).filter(pl.col("account_id") == "acme")
    by_day = {r["day"]: r for r in stored.iter_rows(named=True)}
    for point, day in zip(trend.points, (yesterday, today), strict=True):
        assert point.score == by_day[day]["score"]
        assert health_pb2.HealthRank.Name(point.rank) == f"HEALTH_RANK_{by_day[day]['rank']}"
        assert point.version == f"models/multidimensional/versions/{by_day[day]['version']}"
        assert [d.name for d in point.dimensions] == [d["name"] for d in by_day[day]["dimensions"]]
    assert trend.points[0].score > trend.points[1].score  # engagement fell from 90 to 10

    page1 = served.history.ListHealthTrends(
        pb.ListHealthTrendsRequest(
            filter=pb.AccountFilter(parent="accounts/acme"),
            start_date=yesterday.isoformat(),
            end_date=today.isoformat(),
            granularity=pb.TREND_GRANULARITY_WEEK,
            page_size=1,
        )
    )
    assert page1.total_size == 2 and [t.account for t in page1.trends] == ["accounts/globex"]
    page2 = served.history.ListHealthTrends(
        pb.ListHealthTrendsRequest(
            filter=pb.AccountFilter(parent="accounts/acme"),
            start_date=yesterday.isoformat(),
            end_date=today.isoformat(),
            granularity=pb.TREND_GRANULARITY_WEEK,
            page_size=1,
            page_token=page1.next_page_token,
        )
    )
    assert [t.account for t in page2.trends] == ["accounts/initech"] and not page2.next_page_token
    assert sum(p.days for p in page2.trends[0].points) == 2
    listed_accounts = served.history.ListHealthTrends(
        pb.ListHealthTrendsRequest(
            accounts=["accounts/initech", "accounts/acme"],
            start_date=today.isoformat(),
            end_date=today.isoformat(),
        )
    )
    assert [t.account for t in listed_accounts.trends] == ["accounts/acme", "accounts/initech"]


def test_bad_requests_name_the_field(served: Served) -> None:
    assert served.app.history is not None
    today = served.app.history.today()
    _write(served, {"acme": 90})
    served.history.CreateSnapshot(pb.CreateSnapshotRequest())
    day = today.isoformat()

    def trend(**fields: object) -> grpc.RpcError:
        request = pb.GetHealthTrendRequest(account="accounts/acme", start_date=day, end_date=day)
        for name, value in fields.items():
            setattr(request, name, value)
        return rpc_error(lambda: served.history.GetHealthTrend(request))

    cases = {
        "end_date": trend(start_date=day, end_date=(today - dt.timedelta(days=2)).isoformat()),
        "start_date": trend(start_date=(today - dt.timedelta(days=401)).isoformat()),
        "account": trend(account="acme"),
    }
    for field, error in cases.items():
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in violations(error)] == [field]
    future = trend(end_date=(today + dt.timedelta(days=1)).isoformat())
    assert [f for f, _ in violations(future)] == ["end_date"]
    bad_day = trend(start_date="2026-13-01")
    assert violations(bad_day) == [("start_date", "'2026-13-01' is not a day YYYY-MM-DD")]
    assert trend(account="accounts/nobody").code() == grpc.StatusCode.NOT_FOUND

    listing = rpc_error(
        lambda: served.history.ListHealthTrends(
            pb.ListHealthTrendsRequest(
                accounts=["accounts/acme", "accounts/nobody"], start_date=day, end_date=day
            )
        )
    )
    assert [f for f, _ in violations(listing)] == ["accounts[1]"]
    no_values = rpc_error(
        lambda: served.history.ListHealthTrends(
            pb.ListHealthTrendsRequest(
                filter=pb.AccountFilter(attributes=[pb.AttributeCondition(name="segment")]),
                start_date=day,
                end_date=day,
            )
        )
    )
    assert [f for f, _ in violations(no_values)] == ["filter.attributes[0].values"]
    stale = rpc_error(
        lambda: served.history.ListHealthTrends(
            pb.ListHealthTrendsRequest(
                accounts=["accounts/acme"], start_date=day, end_date=day, page_token="xyz"
            )
        )
    )
    assert [f for f, _ in violations(stale)] == ["page_token"]
    future_snapshot = rpc_error(
        lambda: served.history.CreateSnapshot(
            pb.CreateSnapshotRequest(snapshot_id=(today + dt.timedelta(days=1)).isoformat())
        )
    )
    assert [f for f, _ in violations(future_snapshot)] == ["snapshot_id"]
