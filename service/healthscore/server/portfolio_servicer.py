"""PortfolioService on the wire: the portfolio summary and its drill-down. The filter is
HistoryService's (`filter.parent`, `filter.owner`, `filter.attributes[i]`), checked by the same
code; every bad field is named (`day`, `order_by`, `page_token`, `filter.attributes[0].name`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from decimal import Decimal

import grpc

from healthscore.domain import names
from healthscore.errors import field_error
from healthscore.history import portfolio
from healthscore.history.portfolio import Portfolio, RankTotal, Section, Summary
from healthscore.history.trends import OWNER_ATTRIBUTE, AccountFilter
from healthscore.server.context import note
from healthscore.server.history_servicer import (
    _RANKS,
    _after,
    _day,
    _filter,
    _page_size,
    _scope,
    _token,
)
from healthscore.server.status import handles_errors
from healthscore_client.v1 import (
    health_pb2,
    portfolio_service_pb2,
    portfolio_service_pb2_grpc,
    scoring_service_pb2,
)

pb = portfolio_service_pb2
SERVICE = pb.DESCRIPTOR.services_by_name["PortfolioService"].full_name

DEFAULT_PAGE = 50
_RANK_WORDS: dict[int, str] = {int(number): word for word, number in _RANKS.items()}


def _rank(value: int, field: str) -> str | None:
    if value == health_pb2.HEALTH_RANK_UNSPECIFIED:
        return None
    if value not in _RANK_WORDS:
        raise field_error(field, f"unknown rank {value}")
    return _RANK_WORDS[value]


def _double(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _rank_summaries(ranks: list[RankTotal]) -> list[scoring_service_pb2.RankSummary]:
    return [
        scoring_service_pb2.RankSummary(
            rank=_RANKS[r.rank], account_count=r.accounts, contract_value=r.contract_value
        )
        for r in ranks
    ]


def _summary(summary: Summary) -> pb.PortfolioSummary:
    message = pb.PortfolioSummary(
        day=summary.day.isoformat() if summary.day else "",
        account_count=summary.accounts,
        average_score=_double(summary.average),
        scored_account_count=summary.scored,
        score_sum=summary.score_sum,
        contract_value=summary.contract_value,
        ranks=_rank_summaries(summary.ranks),
    )
    for dim in summary.dimensions:
        message.dimensions.add(
            name=dim.name,
            account_count=dim.accounts,
            average_score=_double(dim.average),
            scored_account_count=dim.scored,
            score_sum=dim.score_sum,
            value_at_risk=dim.value_at_risk,
            ranks=_rank_summaries(dim.ranks),
        )
    return message


def _account(row: dict[str, object]) -> pb.PortfolioAccount:
    message = pb.PortfolioAccount(
        name=names.account_name(str(row["account_id"])),
        rank=_RANKS.get(str(row["rank"]), health_pb2.HEALTH_RANK_UNSPECIFIED),
        parent=names.account_name(str(row["parent_id"])) if row["parent_id"] else "",
        profile=str(row["profile"] or ""),
    )
    if isinstance(row["score"], int):
        message.score = row["score"]
    if isinstance(row["contract_value"], int):
        message.contract_value = row["contract_value"]
    dimensions = row["dimensions"]
    assert isinstance(dimensions, list)
    for dim in dimensions:
        entry = message.dimensions.add(
            name=dim["name"], rank=_RANKS.get(dim["rank"], health_pb2.HEALTH_RANK_UNSPECIFIED)
        )
        if dim["score"] is not None:
            entry.score = dim["score"]
    return message


class PortfolioServicer(portfolio_service_pb2_grpc.PortfolioServiceServicer):
    """Summaries and drill-downs; `attributes` names the attributes a filter may use (the
    catalog's), `today` the current day (the history's time zone)."""

    def __init__(
        self,
        portfolio: Portfolio,
        attributes: Callable[[], Collection[str]],
        today: Callable[[], dt.date],
    ) -> None:
        self._portfolio = portfolio
        self._attributes = attributes
        self._today = today

    def _where(
        self, request: pb.SummarizePortfolioRequest | pb.ListPortfolioAccountsRequest
    ) -> AccountFilter:
        if not request.HasField("filter"):
            return AccountFilter()
        where = _filter(request.filter)
        known = self._attributes()
        for i, condition in enumerate(request.filter.attributes):
            if condition.name not in known and condition.name != OWNER_ATTRIBUTE:
                raise field_error(
                    f"filter.attributes[{i}].name",
                    f"unknown attribute {condition.name!r} (not in the catalog)",
                )
        return where

    @handles_errors
    def SummarizePortfolio(
        self, request: pb.SummarizePortfolioRequest, context: grpc.ServicerContext
    ) -> pb.PortfolioSummary:
        where = self._where(request)
        day = _day(request.day, "day")
        order = portfolio.parse_order_by(request.order_by, portfolio.DIMENSION_ORDERS)
        summary = self._portfolio.summarize(where, day=day, today=self._today(), order=order)
        note(accounts=summary.accounts)
        return _summary(summary)

    @handles_errors
    def ListPortfolioAccounts(
        self, request: pb.ListPortfolioAccountsRequest, context: grpc.ServicerContext
    ) -> pb.ListPortfolioAccountsResponse:
        where = self._where(request)
        day = _day(request.day, "day")
        order = portfolio.parse_order_by(request.order_by, portfolio.ACCOUNT_ORDERS)
        section = Section(
            rank=_rank(request.rank, "rank"),
            dimension=request.dimension or None,
            dimension_rank=_rank(request.dimension_rank, "dimension_rank"),
        )
        if section.dimension_rank is not None and section.dimension is None:
            raise field_error("dimension", "required with dimension_rank")
        limit = _page_size(request.page_size, DEFAULT_PAGE)
        scope = _scope(request)
        after = _after(request.page_token, scope)
        offset = 0
        if after is not None:
            if not after.isdigit():
                raise field_error("page_token", "not a token of this list with these fields")
            offset = int(after)
        rows, total = self._portfolio.accounts(
            where, section, day=day, today=self._today(), order=order, offset=offset, limit=limit
        )
        note(accounts=len(rows))
        end = offset + len(rows)
        return pb.ListPortfolioAccountsResponse(
            accounts=[_account(r) for r in rows],
            next_page_token=_token(scope, str(end)) if end < total else "",
            total_size=total,
        )


def add_to_server(servicer: PortfolioServicer, server: grpc.Server) -> None:
    portfolio_service_pb2_grpc.add_PortfolioServiceServicer_to_server(servicer, server)
