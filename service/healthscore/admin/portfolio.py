"""`healthscore portfolio`: the portfolio summary ("My Portfolio") of the accounts a filter selects,
of their current health or of a stored day (`--day`); with `--accounts`, the drill-down: the
accounts of the portfolio or of one section (`--rank`, `--dimension` and `--dimension-rank`),
sorted (`--order-by`) and limited (`--limit`)."""

from __future__ import annotations

import argparse
import itertools
from typing import Any

from healthscore.admin import common
from healthscore.admin.history import (
    add_filter_flags,
    filter_arguments,
    parse_day,
    print_table,
    rank_cell,
)

RANK_CHOICES = ["good", "average", "poor", "unknown"]


def _average(message: Any) -> str:
    return f"{message.average_score:.2f}" if message.HasField("average_score") else ""


def _portfolio(args: argparse.Namespace) -> int:
    if args.accounts:
        return _accounts(args)
    from google.protobuf.json_format import MessageToDict

    from healthscore_client.v1 import health_pb2

    with common.connect(args) as client:
        summary = client.summarize_portfolio(
            args.day, order_by=args.order_by, **filter_arguments(args)
        )

    def render() -> None:
        rank_rows = [
            [
                rank_cell(health_pb2.HealthRank.Name(r.rank)),
                f"{r.account_count:,}",
                f"{r.contract_value:,}",
            ]
            for r in summary.ranks
        ]
        rank_rows.append(["all", f"{summary.account_count:,}", f"{summary.contract_value:,}"])
        title = f"portfolio of {summary.day or 'now'}: average score {_average(summary) or '-'}"
        print_table(title, ["rank", "accounts", "contract value"], rank_rows)
        dim_rows = [
            [
                d.name,
                _average(d),
                f"{d.value_at_risk:,}",
                *[f"{r.account_count:,}" for r in d.ranks],
            ]
            for d in summary.dimensions
        ]
        print_table(
            "dimensions (value at risk: the contract value of the accounts poor in it)",
            ["dimension", "average", "value at risk", "good", "average", "poor", "unknown"],
            dim_rows,
        )

    common.emit(
        args,
        MessageToDict(
            summary, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        ),
        render,
    )
    return common.EXIT_OK


def _accounts(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    from healthscore_client.v1 import health_pb2

    with common.connect(args) as client:
        listed = client.list_portfolio_accounts(
            args.day,
            rank=args.rank,
            dimension=args.dimension,
            dimension_rank=args.dimension_rank,
            order_by=args.order_by,
            page_size=min(args.limit, 1000) if args.limit else 0,
            **filter_arguments(args),
        )
        accounts = list(itertools.islice(listed, args.limit) if args.limit else listed)

    def render() -> None:
        rows = [
            [
                a.name.removeprefix("accounts/"),
                str(a.score) if a.HasField("score") else "",
                rank_cell(health_pb2.HealthRank.Name(a.rank)),
                f"{a.contract_value:,}" if a.HasField("contract_value") else "",
                ", ".join(
                    f"{d.name} {d.score if d.HasField('score') else '-'}" for d in a.dimensions
                ),
            ]
            for a in accounts
        ]
        print_table("accounts", ["account", "score", "rank", "contract value", "dimensions"], rows)

    common.emit(
        args, [MessageToDict(a, preserving_proto_field_name=True) for a in accounts], render
    )
    return common.EXIT_OK


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "portfolio",
        help="the portfolio summary (My Portfolio) and its accounts",
        description="The average score, accounts and contract value per rank, and per dimension "
        "its average score and contract value at risk (accounts poor in it), of the accounts a "
        "filter selects (--parent, --owner, --where NAME=VALUE, repeatable; none: every "
        "account), now or on a stored --day. With --accounts: the accounts, or those of a "
        "section (--rank, --dimension, --dimension-rank).",
    )
    parser.add_argument("--day", type=parse_day, help="a stored day YYYY-MM-DD (default: now)")
    add_filter_flags(parser)
    parser.add_argument(
        "--order-by",
        default="",
        help="dimensions: name, average_score, value_at_risk, account_count; with --accounts: "
        "name, score, contract_value, rank; each optionally followed by ' desc'",
    )
    parser.add_argument("--accounts", action="store_true", help="list the accounts instead")
    parser.add_argument("--rank", choices=RANK_CHOICES, help="with --accounts: of this rank")
    parser.add_argument("--dimension", help="with --accounts: having this dimension")
    parser.add_argument(
        "--dimension-rank", choices=RANK_CHOICES, help="with --dimension: of this rank in it"
    )
    parser.add_argument(
        "--limit", type=int, default=50, help="with --accounts: at most this many (0: all) [50]"
    )
    common.add_connection_flags(parser)
    parser.set_defaults(run=common.remote(_portfolio))
