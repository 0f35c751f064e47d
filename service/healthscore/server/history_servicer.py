"""HistoryService on the wire: trends and snapshots of the stored daily health. Every bad field is
named (`start_date`, `accounts[3]`, `filter.attributes[0].values[1]`, ...)."""

from __future__ import annotations

import base64
import bisect
import datetime as dt
import hashlib
import json

import grpc
from google.protobuf.message import Message

from healthscore.domain import names
from healthscore.errors import field_error
from healthscore.history import trends
from healthscore.history.snapshot import History
from healthscore.history.trends import AccountFilter, Granularity, TrendPoint
from healthscore.server.context import note
from healthscore.server.status import handles_errors
from healthscore_client.v1 import health_pb2, history_service_pb2, history_service_pb2_grpc

pb = history_service_pb2
SERVICE = pb.DESCRIPTOR.services_by_name["HistoryService"].full_name

DEFAULT_TRENDS_PAGE = 50
DEFAULT_SNAPSHOTS_PAGE = 100
MAX_PAGE = 1000
DEFAULT_RANGE_DAYS = 30

_GRANULARITY: dict[int, Granularity] = {
    pb.TREND_GRANULARITY_UNSPECIFIED: Granularity.DAY,
    pb.TREND_GRANULARITY_DAY: Granularity.DAY,
    pb.TREND_GRANULARITY_WEEK: Granularity.WEEK,
    pb.TREND_GRANULARITY_MONTH: Granularity.MONTH,
}
_RANKS = {
    "GOOD": health_pb2.HEALTH_RANK_GOOD,
    "AVERAGE": health_pb2.HEALTH_RANK_AVERAGE,
    "POOR": health_pb2.HEALTH_RANK_POOR,
    "UNKNOWN": health_pb2.HEALTH_RANK_UNKNOWN,
}


def _day(text: str, field: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise field_error(field, f"{text!r} is not a day YYYY-MM-DD") from None


def _granularity(value: int) -> Granularity:
    if value not in _GRANULARITY:
        raise field_error("granularity", f"unknown granularity {value}")
    return _GRANULARITY[value]


def _page_size(value: int, default: int) -> int:
    if value < 0:
        raise field_error("page_size", "must not be negative")
    return min(value or default, MAX_PAGE)


def _token(scope: str, after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"scope": scope, "after": after}).encode()).decode()


def _after(token: str, scope: str) -> str | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["scope"] != scope or not isinstance(data["after"], str):
            raise ValueError
        return str(data["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise field_error("page_token", "not a token of this list with these fields") from exc


def _scope(request: Message) -> str:
    """A digest of the request without its page fields: a token is only good for the same list."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("page_size")
    copy.ClearField("page_token")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def _point(point: TrendPoint) -> pb.HealthTrendPoint:
    message = pb.HealthTrendPoint(
        start_date=point.start.isoformat(),
        end_date=point.end.isoformat(),
        days=point.days,
        rank=_RANKS.get(point.rank, health_pb2.HEALTH_RANK_UNSPECIFIED),
        profile=point.profile or "",
        version=f"models/{point.model}/versions/{point.version}",
    )
    if point.score is not None:
        message.score = point.score
    for dim in point.dimensions:
        entry = message.dimensions.add(
            name=dim.name, rank=_RANKS.get(dim.rank, health_pb2.HEALTH_RANK_UNSPECIFIED)
        )
        if dim.score is not None:
            entry.score = dim.score
    return message


def _filter(request: pb.AccountFilter) -> AccountFilter:
    attributes: dict[str, list[str | float | bool]] = {}
    if request.owner:
        attributes[trends.OWNER_ATTRIBUTE] = [request.owner]
    for i, condition in enumerate(request.attributes):
        path = f"filter.attributes[{i}]"
        if not condition.name:
            raise field_error(f"{path}.name", "required")
        if not condition.values:
            raise field_error(f"{path}.values", "at least one value is required")
        values: list[str | float | bool] = []
        for j, value in enumerate(condition.values):
            kind = value.WhichOneof("kind")
            if kind == "number_value":
                values.append(value.number_value)
            elif kind == "text_value":
                values.append(value.text_value)
            elif kind == "bool_value":
                values.append(value.bool_value)
            else:
                raise field_error(
                    f"{path}.values[{j}]", "a number, a text or a boolean is required"
                )
        attributes.setdefault(condition.name, []).extend(values)
    parent = names.parse_account(request.parent, "filter.parent") if request.parent else None
    return AccountFilter(parent_id=parent, attributes=attributes)


class HistoryServicer(history_service_pb2_grpc.HistoryServiceServicer):
    """Trends and snapshots over the daily health table."""

    def __init__(self, history: History) -> None:
        self._history = history

    def _range(self, start: str, end: str, granularity: int) -> trends.Range:
        """The checked range; an empty end_date is today (in the snapshot zone), an empty
        start_date the 30th day up to end_date."""
        last = _day(end, "end_date") or self._history.today()
        first = _day(start, "start_date") or last - dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        return trends.check_range(
            first,
            last,
            _granularity(granularity),
            today=self._history.today(),
            retention_days=self._history.config.retention_days,
        )

    @handles_errors
    def GetHealthTrend(
        self, request: pb.GetHealthTrendRequest, context: grpc.ServicerContext
    ) -> pb.HealthTrend:
        account = names.parse_account(request.account, "account")
        span = self._range(request.start_date, request.end_date, request.granularity)
        points = trends.trends(self._history.table, [account], span)[account]
        if not points:
            trends.require_known(self._history.table, [account], "account")
        note(accounts=1)
        return pb.HealthTrend(account=request.account, points=[_point(p) for p in points])

    @handles_errors
    def ListHealthTrends(
        self, request: pb.ListHealthTrendsRequest, context: grpc.ServicerContext
    ) -> pb.ListHealthTrendsResponse:
        given = request.HasField("filter")
        if request.accounts and given:
            raise field_error("filter", "give accounts or filter, not both")
        if not request.accounts and not given:
            raise field_error("accounts", "give accounts or filter")
        if len(request.accounts) > trends.MAX_ACCOUNTS:
            raise field_error("accounts", f"at most {trends.MAX_ACCOUNTS} accounts")
        limit = _page_size(request.page_size, DEFAULT_TRENDS_PAGE)
        span = self._range(request.start_date, request.end_date, request.granularity)
        scope = _scope(request)
        after = _after(request.page_token, scope)
        if request.accounts:
            ids = [names.parse_account(n, f"accounts[{i}]") for i, n in enumerate(request.accounts)]
            trends.require_known(self._history.table, ids, "accounts")
            covered = sorted(set(ids))
        else:
            covered = trends.matching_accounts(self._history.table, _filter(request.filter), span)
        # `covered` is sorted and unique: the page starts past `after` (no scan of the rest).
        start = 0 if after is None else bisect.bisect_right(covered, after)
        page = covered[start : start + limit]
        points = trends.trends(self._history.table, page, span)
        note(accounts=len(page))
        return pb.ListHealthTrendsResponse(
            trends=[
                pb.HealthTrend(account=names.account_name(a), points=[_point(p) for p in points[a]])
                for a in page
            ],
            next_page_token=_token(scope, page[-1]) if start + limit < len(covered) else "",
            total_size=len(covered),
        )

    @handles_errors
    def CreateSnapshot(
        self, request: pb.CreateSnapshotRequest, context: grpc.ServicerContext
    ) -> pb.Snapshot:
        day = _day(request.snapshot_id, "snapshot_id")
        result = self._history.snapshot(day, upkeep_in_background=True)
        note(accounts=result.rows)
        return _snapshot(result.day, result.rows)

    @handles_errors
    def ListSnapshots(
        self, request: pb.ListSnapshotsRequest, context: grpc.ServicerContext
    ) -> pb.ListSnapshotsResponse:
        limit = _page_size(request.page_size, DEFAULT_SNAPSHOTS_PAGE)
        after = _after(request.page_token, "snapshots")
        counts = self._history.table.day_counts()
        days = sorted(counts, reverse=True)
        remaining = [d for d in days if after is None or d.isoformat() < after]
        page = remaining[:limit]
        return pb.ListSnapshotsResponse(
            snapshots=[_snapshot(d, counts[d]) for d in page],
            next_page_token=_token("snapshots", page[-1].isoformat())
            if len(remaining) > limit
            else "",
        )


def _snapshot(day: dt.date, rows: int) -> pb.Snapshot:
    return pb.Snapshot(name=f"snapshots/{day.isoformat()}", day=day.isoformat(), account_count=rows)


def add_to_server(servicer: HistoryServicer, server: grpc.Server) -> None:
    history_service_pb2_grpc.add_HistoryServiceServicer_to_server(servicer, server)
