"""The `healthscore` command line."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import json_format

from healthscore.errors import HealthScoreError, InvalidInputError
from healthscore.v1 import scoring_pb2

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2

_VIEWS = {
    "basic": scoring_pb2.SCORE_VIEW_BASIC,
    "dimensions": scoring_pb2.SCORE_VIEW_DIMENSIONS,
    "full": scoring_pb2.SCORE_VIEW_FULL,
}


def _score(args: argparse.Namespace) -> int:
    # Imported here so that `--help` works even before the native extension is built.
    from healthscore import engine, files

    ruleset = files.load_ruleset(args.ruleset or files.DEFAULT_RULESET)
    compiled = engine.compile_ruleset(ruleset)
    for warning in compiled.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    request = scoring_pb2.ScoreAccountsRequest(view=_VIEWS[args.view])
    request.accounts.extend(files.load_accounts(args.accounts, ruleset))
    request.as_of.FromDatetime(args.as_of or dt.datetime.now(dt.UTC))
    response = compiled.score(request)
    out = sys.stdout
    for result in response.results:
        fields = json_format.MessageToDict(result, preserving_proto_field_name=True)
        out.write(json.dumps(fields, separators=(",", ":")) + "\n")
    return EXIT_OK


def _as_of(text: str) -> dt.datetime:
    from healthscore.files import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthscore", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    score = commands.add_parser(
        "score",
        help="score accounts against a ruleset file, with no server",
        description="Scores a JSON Lines or CSV file of accounts against a ruleset (JSON or "
        "YAML form of the Ruleset message); prints one JSON result per line.",
    )
    score.add_argument(
        "--ruleset",
        type=Path,
        help="ruleset .json/.yaml file (default: the embedded default multidimensional ruleset)",
    )
    score.add_argument("--accounts", type=Path, required=True, help="accounts .jsonl/.csv file")
    score.add_argument("--as-of", type=_as_of, help="evaluation instant, ISO 8601 (default: now)")
    score.add_argument("--view", choices=sorted(_VIEWS), default="basic", help="detail per result")
    score.set_defaults(run=_score)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (HealthScoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
