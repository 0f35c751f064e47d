"""What every admin command shares: connection flags, `--output`, errors and exit codes.

Exit codes scripts can rely on (documented in the README):

    0  success
    1  an unexpected error (server INTERNAL, I/O)
    2  bad input: usage, unreadable or invalid files, INVALID_ARGUMENT, a draft that does not
       validate
    3  NOT_FOUND
    4  a conflict: ALREADY_EXISTS, ABORTED (stale etag), FAILED_PRECONDITION
    5  UNAUTHENTICATED or PERMISSION_DENIED
    6  the server is unreachable or too slow: UNAVAILABLE, DEADLINE_EXCEEDED
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthscore_client import HealthScoreClient, HealthScoreError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_FOUND = 3
EXIT_CONFLICT = 4
EXIT_DENIED = 5
EXIT_UNAVAILABLE = 6

_EXIT_BY_CODE = {
    "INVALID_ARGUMENT": EXIT_BAD_INPUT,
    "OUT_OF_RANGE": EXIT_BAD_INPUT,
    "NOT_FOUND": EXIT_NOT_FOUND,
    "ALREADY_EXISTS": EXIT_CONFLICT,
    "ABORTED": EXIT_CONFLICT,
    "FAILED_PRECONDITION": EXIT_CONFLICT,
    "UNAUTHENTICATED": EXIT_DENIED,
    "PERMISSION_DENIED": EXIT_DENIED,
    "UNAVAILABLE": EXIT_UNAVAILABLE,
    "DEADLINE_EXCEEDED": EXIT_UNAVAILABLE,
}

DEFAULT_ADDRESS = "127.0.0.1:50051"

# Rank colours in tables (rich styles), keyed by the rank's short name.
RANK_STYLES = {"GOOD": "green", "AVERAGE": "yellow", "POOR": "red", "UNKNOWN": "dim"}


def lazy_module(name: str) -> types.ModuleType:
    """Module `name`, executed on its first attribute access (importlib's LazyLoader): for
    modules only some commands use, which every start of the CLI would otherwise import."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module {name}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def iso_instant(text: str) -> dt.datetime:
    """An argparse type: an ISO 8601 instant (UTC when it has no offset)."""
    from healthscore_client.accounts import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """--server, --token-file/--token, --tls-ca, --timeout and --output, each with its
    environment fallback."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--server",
        default=os.environ.get("HEALTHSCORE_ADDRESS", DEFAULT_ADDRESS),
        help=f"host:port of the server [HEALTHSCORE_ADDRESS; default: {DEFAULT_ADDRESS}]",
    )
    add_token_flags(group)
    group.add_argument(
        "--tls-ca",
        type=Path,
        default=os.environ.get("HEALTHSCORE_TLS_CA"),
        help="PEM CA bundle: use TLS, verifying the server against it [HEALTHSCORE_TLS_CA]",
    )
    group.add_argument(
        "--timeout", type=float, default=30.0, help="deadline of each call, seconds [30]"
    )
    parser.add_argument(
        "--output",
        choices=["table", "json"],
        default="table",
        help="table: for people (colours when a terminal); json: one JSON document for scripts",
    )


TOKEN_ENV = "HEALTHSCORE_TOKEN"
TOKEN_FILE_ENV = "HEALTHSCORE_TOKEN_FILE"


def add_token_flags(group: Any) -> None:
    """--token-file and --token (an argparse parser or group); `token(args)` reads them."""
    group.add_argument(
        "--token-file",
        type=Path,
        default=None,
        help=f"file holding the bearer token (`healthscore tokens add`) [{TOKEN_FILE_ENV}]",
    )
    group.add_argument(
        "--token",
        default=None,
        help=f"the bearer token itself: visible to every user in `ps`; prefer --token-file or "
        f"{TOKEN_ENV} [{TOKEN_ENV}]",
    )


def token(args: argparse.Namespace) -> str | None:
    """The bearer token: --token-file, else --token (with a warning: other users of the machine
    can read it in `ps`), else the file named by HEALTHSCORE_TOKEN_FILE, else HEALTHSCORE_TOKEN."""
    from healthscore.errors import InvalidInputError

    if args.token_file is not None and args.token is not None:
        raise InvalidInputError("give --token-file or --token, not both")
    if args.token is not None:
        print(
            "warning: --token is visible to every user of this machine (ps); use --token-file "
            f"or {TOKEN_ENV}",
            file=sys.stderr,
        )
        return str(args.token)
    path = args.token_file or (
        Path(os.environ[TOKEN_FILE_ENV]) if os.environ.get(TOKEN_FILE_ENV) else None
    )
    if path is not None:
        try:
            text = Path(path).read_text().strip()
        except OSError as exc:
            raise InvalidInputError(f"cannot read the token file {path}: {exc.strerror}") from exc
        if not text or len(text.splitlines()) != 1:
            raise InvalidInputError(f"{path}: expected one line, the token")
        return text
    return os.environ.get(TOKEN_ENV) or None


def connect(args: argparse.Namespace) -> HealthScoreClient:
    from healthscore_client import HealthScoreClient

    root = Path(args.tls_ca).read_bytes() if args.tls_ca else None
    return HealthScoreClient(
        args.server,
        token=token(args),
        tls=root is not None,
        root_certificates=root,
        timeout=args.timeout,
    )


def rank_text(rank: str) -> str:
    """A rank name (`HEALTH_RANK_GOOD` or `GOOD`) as rich markup in its colour."""
    short = rank.removeprefix("HEALTH_RANK_")
    style = RANK_STYLES.get(short, "")
    return f"[{style}]{short.lower()}[/]" if style else short.lower()


# The width of tables written to a pipe or a file: wide enough for any row, so that a script
# (or `| less -S`, `> out.txt`) gets whole lines rather than rows cut at rich's default of 80.
PIPE_WIDTH = 1 << 14


def console() -> Any:
    """The rich console for tables (stdout; colours only on a terminal). On a terminal, tables
    fit its width; elsewhere lines are never cut (`COLUMNS`, when set, still wins)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich would exit 1 here; `healthscore.cli.main` ends every command whose reader
            # went away the same quiet way instead.
            self.quiet = True
            raise BrokenPipeError

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return _Console()
    return _Console(width=PIPE_WIDTH)


def emit(args: argparse.Namespace, data: Any, render: Callable[[], None]) -> None:
    """`--output json`: `data` as one JSON document on stdout; otherwise `render()`."""
    if args.output == "json":
        json.dump(data, sys.stdout, indent=2, sort_keys=False, default=str)
        sys.stdout.write("\n")
    else:
        render()


def remote(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wraps a command that calls the server: a server error is reported (see `report`) and
    becomes the command's exit code instead of a traceback. The SDK (and gRPC) is imported when
    the command runs, not when the parser is built: every `healthscore` start builds them all."""

    def run(args: argparse.Namespace) -> int:
        from healthscore_client import HealthScoreError

        try:
            return command(args)
        except HealthScoreError as error:
            return report(error)

    return run


def exit_code(error: HealthScoreError) -> int:
    return _EXIT_BY_CODE.get(error.code.name, EXIT_ERROR)


def report(error: HealthScoreError) -> int:
    """Prints a server error with every field or precondition violation; returns the exit code."""
    print(f"error: {error.code.name}: {error.message}", file=sys.stderr)
    entries = [(v.field, v.description) for v in error.field_violations]
    entries += [(f.subject, f.description) for f in error.precondition_violations]
    for where, description in entries:
        # No field or subject: the server's count of the violations it did not list.
        print(f"  {where}: {description}" if where else f"  {description}", file=sys.stderr)
    return exit_code(error)
