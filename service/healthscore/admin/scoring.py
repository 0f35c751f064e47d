"""The scoring commands: `score` (on a server, or offline with a ruleset file), `preview` (a draft
against the active version) and `hierarchy` (own and enterprise health as a tree).

Accounts come from JSON Lines or CSV files (`healthscore.files`), typed by the server's catalog
(or the ruleset file's), so that a bad value is reported as `file:line.attribute` before anything
is sent. Exit codes are those of `healthscore.admin.common`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthscore.admin import common
from healthscore.errors import InvalidInputError

if TYPE_CHECKING:
    from healthscore_client import HealthScoreClient
    from healthscore_client.v1 import account_pb2, catalog_pb2, health_pb2

_VIEWS = ("basic", "dimensions", "full")
_RULESET_HELP = (
    "the ruleset to score with: models/M/versions/N, models/M (its latest version), "
    "models/M/draft, `draft` (the active model's draft) or N (version N of the active model); "
    "M is multidimensional or account-health [default: the active version]"
)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers `score`, `preview` and `hierarchy`."""
    _add_score_parser(commands)
    _add_preview_parser(commands)
    _add_hierarchy_parser(commands)


# --- arguments -----------------------------------------------------------------------------------


def _add_accounts_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--accounts",
        type=Path,
        required=True,
        help=f"accounts .jsonl/.csv file{what} (keys: id, parent_id, status, contract_value, "
        "one per catalog attribute)",
    )
    parser.add_argument(
        "--as-of", type=common.iso_instant, help="evaluation instant, ISO 8601 (default: now)"
    )


def _server_ruleset(client: HealthScoreClient, name: str) -> str:
    """Resolves the shorthands `draft` and `N` against the active version's model."""
    if name != "draft" and not name.isdigit():
        return name
    active = client.get_active_version().version  # models/{model}/versions/{n}
    model = active.rsplit("/versions/", 1)[0]
    return f"{model}/draft" if name == "draft" else f"{model}/versions/{int(name)}"


def _remote(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`common.remote` for the scoring commands: a ruleset that does not validate (the server's
    FAILED_PRECONDITION listing its violations, e.g. `--ruleset models/M/draft`) is bad input,
    exit 2, as the commands' help says; FAILED_PRECONDITION without violations (no version is
    active) stays a conflict, exit 4."""

    def run(args: argparse.Namespace) -> int:
        from healthscore_client import FailedPreconditionError

        try:
            return command(args)
        except FailedPreconditionError as error:
            code = common.report(error)
            return common.EXIT_BAD_INPUT if error.precondition_violations else code

    return common.remote(run)


def _check_ruleset_name(name: str) -> None:
    # `--ruleset` used to take a file: say so instead of sending a path to the server.
    if Path(name).suffix in {".yaml", ".yml", ".json"}:
        raise InvalidInputError(
            f"--ruleset {name}: names a ruleset on the server; score with a ruleset file with "
            "--ruleset-file"
        )


# --- accounts ------------------------------------------------------------------------------------


def _load_accounts(path: Path, catalog: catalog_pb2.Catalog) -> list[account_pb2.Account]:
    """The accounts of a file, typed by `catalog`; every bad field is reported (exit 2)."""
    from healthscore import files
    from healthscore_client.v1 import ruleset_pb2

    try:
        return files.load_accounts(path, ruleset_pb2.Ruleset(catalog=catalog))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the accounts: {exc}") from exc


def _read_accounts_file(path: Path) -> None:
    """Reads the file once before connecting: a missing or malformed file is bad input (exit 2)
    whether a server answers or not. Values are typed later, by the server's catalog."""
    from healthscore import files

    if not path.is_file():
        raise InvalidInputError(f"{path}: no such accounts file")
    try:
        for _ in files.read_records(path):
            pass
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read the accounts: {exc}") from exc


def _as_dict(message: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data


# --- score ---------------------------------------------------------------------------------------


def _add_score_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    score = commands.add_parser(
        "score",
        help="score accounts from a file on a server (or offline with --ruleset-file/--local)",
        description="Scores the accounts of a JSON Lines or CSV file and prints each account's "
        "profile, score and rank (a table, or one JSON document with --output json). By default "
        "a server scores them with its active version (--ruleset for another); --ruleset-file "
        "FILE or --local (the embedded default ruleset) score in-process with no server. "
        "--explain adds, per account, every dimension and metric with its value, outcome, score "
        "and effective weight, and the criteria behind the rank. Exit codes: 0 ok, 1 error, "
        "2 bad input (or a ruleset that does not validate), 3 unknown ruleset, 4 no version is "
        "active, 5 denied, 6 server unreachable.",
    )
    _add_accounts_flags(score, "")
    source = score.add_mutually_exclusive_group()
    source.add_argument("--ruleset", default="", help=_RULESET_HELP)
    source.add_argument(
        "--ruleset-file",
        type=Path,
        help="score offline with this ruleset .json/.yaml file (the Ruleset message)",
    )
    source.add_argument(
        "--local",
        action="store_true",
        help="score offline with the embedded default multidimensional ruleset",
    )
    score.add_argument(
        "--view",
        choices=_VIEWS,
        default="basic",
        help="detail of each result in --output json [basic; --explain: full]",
    )
    score.add_argument(
        "--explain",
        action="store_true",
        help="per account: dimensions and metrics with values, outcomes and effective weights",
    )
    common.add_connection_flags(score)
    score.set_defaults(run=_score)


def _score(args: argparse.Namespace) -> int:
    _read_accounts_file(args.accounts)
    view = "full" if args.explain else args.view
    if args.ruleset_file is not None or args.local:
        return _score_offline(args, view)
    _check_ruleset_name(args.ruleset)
    return _remote(lambda args: _score_on_server(args, view))(args)


def _score_on_server(args: argparse.Namespace, view: str) -> int:
    with common.connect(args) as client:
        accounts = _load_accounts(args.accounts, client.get_catalog())
        response = client.score_accounts(
            accounts,
            ruleset=_server_ruleset(client, args.ruleset),
            as_of=args.as_of,
            view=view,
        )
    _print_scores(args, response.ruleset, response.results, accounts)
    return common.EXIT_OK


def _score_offline(args: argparse.Namespace, view: str) -> int:
    # Imported here so that `--help` works even before the native extension is built.
    from healthscore import engine, files
    from healthscore_client.v1 import scoring_pb2

    path = args.ruleset_file or files.DEFAULT_RULESET
    ruleset = files.load_ruleset(path)
    compiled = engine.compile_ruleset(ruleset)
    for warning in compiled.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    accounts = _load_accounts(args.accounts, ruleset.catalog)
    request = scoring_pb2.ScoreAccountsRequest(
        accounts=accounts, view=scoring_pb2.ScoreView.Value(f"SCORE_VIEW_{view.upper()}")
    )
    request.as_of.FromDatetime(args.as_of or dt.datetime.now(dt.UTC))
    response = compiled.score(request)
    _print_scores(args, ruleset.version or str(path), response.results, accounts)
    return common.EXIT_OK


def _print_scores(
    args: argparse.Namespace,
    ruleset: str,
    results: Sequence[health_pb2.AccountHealth],
    accounts: Sequence[account_pb2.Account],
) -> None:
    from healthscore.admin import render

    def table() -> None:
        console = common.console()
        console.print(render.results_table(ruleset, results))
        if args.explain:
            for result, account in zip(results, accounts, strict=True):
                console.print()
                console.print(render.explanation(result, account))

    data = {"ruleset": ruleset, "results": [_as_dict(r) for r in results]}
    common.emit(args, data, table)


# --- preview -------------------------------------------------------------------------------------


def _add_preview_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    preview = commands.add_parser(
        "preview",
        help="preview a model's draft (or a version) on accounts, against the active version",
        description="Scores the accounts of a file with a model's draft and with a baseline "
        "(the active version unless --baseline), and prints the two side by side: matched "
        "accounts and average score per profile, accounts and contract value per rank, the "
        "average per dimension, and every account whose rank would change (PreviewDraft). "
        "Exit codes: 0 ok, 1 error, 2 bad input (or a ruleset that does not validate), 3 "
        "unknown model or version, 4 no version is active, 5 denied, 6 server unreachable.",
    )
    preview.add_argument(
        "--model",
        required=True,
        choices=["multidimensional", "account-health"],
        help="the model whose draft is previewed",
    )
    preview.add_argument(
        "--version", type=int, help="preview this published version of the model instead"
    )
    preview.add_argument(
        "--baseline",
        default="",
        help="compare with this ruleset (models/M/versions/N, ...) [default: the active version]",
    )
    _add_accounts_flags(preview, "")
    common.add_connection_flags(preview)
    preview.set_defaults(run=_remote(_preview))


def _preview(args: argparse.Namespace) -> int:
    _read_accounts_file(args.accounts)
    model = f"models/{args.model}"
    ruleset = f"{model}/versions/{args.version}" if args.version is not None else f"{model}/draft"
    with common.connect(args) as client:
        accounts = _load_accounts(args.accounts, client.get_catalog())
        response = client.preview_draft(
            accounts=accounts, ruleset=ruleset, baseline=args.baseline or None, as_of=args.as_of
        )

    def tables() -> None:
        from healthscore.admin import render

        common.console().print(render.preview_tables(response))

    common.emit(args, _as_dict(response), tables)
    return common.EXIT_OK


# --- hierarchy -----------------------------------------------------------------------------------


def _add_hierarchy_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hierarchy = commands.add_parser(
        "hierarchy",
        help="each account's own and enterprise health, as a tree",
        description="Scores the accounts of a file with their parent_id links (ScoreHierarchy) "
        "and prints them as a tree: each account's own health and, for a parent, its "
        "enterprise health rolled up from its children, with the children that pulled it down. "
        "Accounts whose parent is not in the file are detached: scored as roots and listed. "
        "Exit codes: 0 ok, 1 error, 2 bad input (a cycle, or a ruleset that does not "
        "validate), 3 unknown ruleset, 4 no version is active, 5 denied, 6 server unreachable.",
    )
    _add_accounts_flags(hierarchy, " with parent_id links")
    hierarchy.add_argument("--ruleset", default="", help=_RULESET_HELP)
    hierarchy.add_argument(
        "--view",
        choices=_VIEWS,
        default="basic",
        help="detail of each account's own result in --output json [basic]",
    )
    common.add_connection_flags(hierarchy)
    hierarchy.set_defaults(run=_remote(_hierarchy))


def _hierarchy(args: argparse.Namespace) -> int:
    _read_accounts_file(args.accounts)
    _check_ruleset_name(args.ruleset)
    with common.connect(args) as client:
        accounts = _load_accounts(args.accounts, client.get_catalog())
        response = client.score_hierarchy(
            accounts,
            ruleset=_server_ruleset(client, args.ruleset),
            view=args.view,
            as_of=args.as_of,
        )

    def tree() -> None:
        from healthscore.admin import render

        common.console().print(render.hierarchy_tree(accounts, response))

    common.emit(args, _as_dict(response), tree)
    return common.EXIT_OK
