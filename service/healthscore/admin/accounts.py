"""`healthscore health`: stored accounts' current health from a server (BatchGetAccountHealth)."""

from __future__ import annotations

import argparse
from typing import Any

from healthscore.admin import common

_VIEWS = ("basic", "dimensions", "full")


def _health(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    with common.connect(args) as client:
        healths = client.batch_get_account_health(args.accounts, view=args.view)
    data = [MessageToDict(h, preserving_proto_field_name=True) for h in healths]
    common.emit(args, data, lambda: _render(healths, args.view))
    return common.EXIT_OK


def _render(healths: list[Any], view: str) -> None:
    from rich.table import Table

    from healthscore_client.v1 import health_pb2

    table = Table(title="current health")
    for header in ("account", "profile", "score", "rank", "ruleset", "as of", "data time"):
        table.add_column(header)
    if view != "basic":
        table.add_column("dimensions")
    if view == "full":
        table.add_column("change in: stored value used")
    for h in healths:
        health = h.health
        row = [
            h.name.removeprefix("accounts/"),
            health.profile or "-",
            str(health.score) if health.HasField("score") else "-",
            common.rank_text(health_pb2.HealthRank.Name(health.rank)),
            h.ruleset,
            h.as_of.ToDatetime().isoformat(timespec="seconds") + "Z",
            h.data_time.ToDatetime().isoformat(timespec="seconds") + "Z",
        ]
        if view != "basic":
            row.append(
                ", ".join(
                    f"{d.dimension} {d.score if d.HasField('score') else '-'}"
                    for d in health.dimensions
                )
                or ", ".join(
                    f"{c.category} {health_pb2.HealthRank.Name(c.rank)[len('HEALTH_RANK_') :]}"
                    for c in health.categories
                )
            )
        if view == "full":
            row.append(
                ", ".join(
                    f"{lb.attribute} -{lb.period_days}d: "
                    + (
                        f"{lb.value:g} ({lb.observe_time.ToDatetime().date()})"
                        if lb.HasField("value")
                        else "none stored"
                    )
                    for lb in h.lookbacks
                )
            )
        table.add_row(*row)
    common.console().print(table)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    health = commands.add_parser(
        "health",
        help="stored accounts' current health (from a server)",
        description="The current health the server keeps for each account (computed from its "
        "stored data with the active version: GetAccountHealth). --view full adds every metric "
        "and, for 'change in' criteria, which stored value each compared with. Exit 3 when an "
        "account has no data.",
    )
    health.add_argument("accounts", nargs="+", help="account ids (or accounts/{id})")
    health.add_argument("--view", choices=_VIEWS, default="basic")
    common.add_connection_flags(health)
    health.set_defaults(run=common.remote(_health))
