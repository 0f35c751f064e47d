"""`healthscore snapshot`, `snapshots` and `trend`: the stored health history.

`snapshot` takes a day's snapshot through a server (`CreateSnapshot`), or with `--data-dir` in this
process, straight from a data directory's account store (for cron and orchestrators on the
server's host; no server needed). `trend` prints accounts' score, rank and dimension scores per
day, week or month.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from healthscore.admin import common
from healthscore.errors import InvalidInputError


def parse_day(text: str) -> dt.date:
    """An argparse type: a day YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a day YYYY-MM-DD: {text!r}") from exc


def _condition(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"not NAME=VALUE: {text!r}")
    return name, value


def _typed(value: str) -> str | float | bool:
    """A filter value as typed on the command line: true/false, a number, else text."""
    if value in ("true", "false"):
        return value == "true"
    try:
        return float(value)
    except ValueError:
        return value


def add_filter_flags(parser: argparse.ArgumentParser) -> None:
    """The account filter's flags (`trend`, `portfolio`); `filter_arguments` reads them."""
    parser.add_argument("--parent", help="the children of this account")
    parser.add_argument("--owner", help="accounts whose `owner` attribute is this")
    parser.add_argument(
        "--where", type=_condition, action="append", help="NAME=VALUE: an attribute's value"
    )


def filter_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The SDK's filter keywords (`parent`, `owner`, `attributes`) from the filter's flags;
    every value None when no flag is given."""
    attributes: dict[str, list[Any]] = {}
    for name, value in args.where or []:
        attributes.setdefault(name, []).append(_typed(value))
    return {"parent": args.parent, "owner": args.owner, "attributes": attributes or None}


def _snapshot_local(args: argparse.Namespace) -> int:
    from healthscore.history.snapshot import History, HistoryConfig
    from healthscore.server.rpc_log import configure_logging
    from healthscore.store.accounts import ACCOUNTS_FILE, AccountStore

    configure_logging()  # the snapshot's log lines: JSON on stderr, stdout keeps the result
    data_dir: Path = args.data_dir
    if not (data_dir / ACCOUNTS_FILE).exists():
        raise InvalidInputError(f"{data_dir}: no account store ({ACCOUNTS_FILE}) in it")
    store = AccountStore(data_dir / ACCOUNTS_FILE)
    try:
        config = HistoryConfig(
            uri=args.history_uri,
            zone=args.snapshot_zone,
            retention_days=args.history_retention_days,
            scheduler=False,
        )
        result = History(config, data_dir, store).snapshot(args.day)
    finally:
        store.close()
    data = {"day": result.day.isoformat(), "account_count": result.rows}
    common.emit(
        args,
        data,
        lambda: print(
            f"snapshots/{result.day}: {result.rows} account(s) in {result.seconds:.2f}s"
            + (f"; compacted {', '.join(result.compacted)}" if result.compacted else "")
        ),
    )
    return common.EXIT_OK


def _snapshot(args: argparse.Namespace) -> int:
    if args.data_dir is not None:
        return _snapshot_local(args)
    return common.remote(_snapshot_remote)(args)


def _snapshot_remote(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        snapshot = client.create_snapshot(args.day)
    data = {"day": snapshot.day, "account_count": snapshot.account_count}
    common.emit(args, data, lambda: print(f"{snapshot.name}: {snapshot.account_count} account(s)"))
    return common.EXIT_OK


def _snapshots(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        snapshots = list(client.list_snapshots())
    data = [{"day": s.day, "account_count": s.account_count} for s in snapshots]
    rows = [[s.day, str(s.account_count)] for s in snapshots]
    common.emit(
        args, data, lambda: print_table("stored days, newest first", ["day", "accounts"], rows)
    )
    return common.EXIT_OK


def _trend(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict

    end, start = args.to, args.start  # unset: the server's today, and 29 days before the end
    where = filter_arguments(args)
    with common.connect(args) as client:
        if len(args.accounts) == 1 and not any(where.values()):
            trends = [client.get_health_trend(args.accounts[0], start, end, granularity=args.every)]
        else:
            trends = list(
                client.list_health_trends(
                    start, end, accounts=args.accounts or None, granularity=args.every, **where
                )
            )
    data = [MessageToDict(t, preserving_proto_field_name=True) for t in trends]
    common.emit(args, data, lambda: _render_trends(trends, args.every))
    return common.EXIT_OK


def _render_trends(trends: list[Any], every: str) -> None:
    from healthscore_client.v1 import health_pb2

    names: list[str] = []
    for trend in trends:
        for point in trend.points:
            for dim in point.dimensions:
                if dim.name not in names:
                    names.append(dim.name)
    rows = []
    for trend in trends:
        account = trend.account.removeprefix("accounts/")
        if not trend.points:
            rows.append([account, "(no stored days)", "", "", "", *["" for _ in names]])
        for point in trend.points:
            dims = {d.name: d for d in point.dimensions}
            rows.append(
                [
                    account,
                    point.start_date if every == "day" else f"{point.start_date}..{point.end_date}",
                    str(point.days),
                    f"{point.score:.1f}" if point.HasField("score") else "",
                    rank_cell(health_pb2.HealthRank.Name(point.rank)),
                    *[
                        f"{dims[n].score:.1f}" if n in dims and dims[n].HasField("score") else ""
                        for n in names
                    ],
                ]
            )
    print_table(
        f"health per {every}",
        ["account", every, "days", "score", "rank", *names],
        rows,
    )


def print_table(title: str, headers: list[str], rows: list[list[Any]]) -> None:
    """A rich table of `rows`: text cells (ids, names: any text) are printed as they are, never
    read as rich markup; a styled cell is a `rank_cell` (or another rich renderable)."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))
    for header in headers:
        table.add_column(escape(header))
    for row in rows:
        table.add_row(*(escape(cell) if isinstance(cell, str) else cell for cell in row))
    common.console().print(table)


def rank_cell(rank: str) -> Any:
    """A rank (`HEALTH_RANK_GOOD` or `GOOD`) as a table cell in its colour."""
    from rich.text import Text

    return Text.from_markup(common.rank_text(rank))


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    snapshot = commands.add_parser(
        "snapshot",
        help="take a day's health snapshot (for cron and orchestrators)",
        description="Stores every account's current health as the row of a day (default: "
        "today), replacing that day if stored, then applies retention and compaction. Through a "
        "server (CreateSnapshot, admin role), or with --data-dir in this process from the data "
        "directory's account store.",
    )
    snapshot.add_argument("--day", type=parse_day, help="YYYY-MM-DD (default: today)")
    local = snapshot.add_argument_group("without a server")
    local.add_argument("--data-dir", type=Path, help="snapshot in this process from this data dir")
    local.add_argument("--history-uri", help="history location (default: DATA_DIR/history)")
    local.add_argument("--snapshot-zone", default="UTC", help="time zone of days [UTC]")
    local.add_argument("--history-retention-days", type=int, default=400, help="[400]")
    common.add_connection_flags(snapshot)
    snapshot.set_defaults(run=_snapshot)

    snapshots = commands.add_parser("snapshots", help="list the stored days")
    common.add_connection_flags(snapshots)
    snapshots.set_defaults(run=common.remote(_snapshots))

    trend = commands.add_parser(
        "trend",
        help="accounts' health per day, week or month over a range",
        description="Score, rank and dimension scores of the accounts named, or of those a "
        "filter selects (--parent, --owner, --where NAME=VALUE, repeatable), per period: the "
        "mean of the stored daily scores and the last day's rank.",
    )
    trend.add_argument("accounts", nargs="*", help="account ids")
    add_filter_flags(trend)
    trend.add_argument(
        "--from", dest="start", type=parse_day, help="first day (default: --to - 29)"
    )
    trend.add_argument("--to", type=parse_day, help="last day (default: the server's today)")
    trend.add_argument("--every", choices=["day", "week", "month"], default="day")
    common.add_connection_flags(trend)
    trend.set_defaults(run=common.remote(_trend))
