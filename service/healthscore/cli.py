"""healthscore: customer-health scoring.

Run the service (`serve`, `tokens`), design health profiles on a running server (`profiles`,
`publish`, `activate`, `rollback`, `versions`, `activations`), score accounts (`score`, `preview`,
`hierarchy`), rescore files in bulk (`rescore`), load account data into a data directory or
through a server (`ingest`) and read stored accounts' current health (`health`). `healthscore
COMMAND --help` for each.
Exit codes: 0 ok, 1 error, 2 bad input, 3 not found, 4 conflict, 5 denied, 6 server unreachable.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthscore import admin
from healthscore.admin import common
from healthscore.errors import HealthScoreError, InvalidInputError
from healthscore_client.v1 import scoring_pb2

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports SIGINT
# Set (not "0"): an unexpected error prints its traceback instead of one line.
TRACEBACK_ENV = "HEALTHSCORE_TRACEBACK"
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE: the reader of stdout went away

_VIEWS = {
    "basic": scoring_pb2.SCORE_VIEW_BASIC,
    "dimensions": scoring_pb2.SCORE_VIEW_DIMENSIONS,
    "full": scoring_pb2.SCORE_VIEW_FULL,
}


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from exc


def _rescore(args: argparse.Namespace) -> int:
    # Read once, when numpy and pyarrow load (below): the job multiplies no matrices, so no
    # OpenBLAS threads (they spin, taking a core from the pipeline); Arrow's allocator keeps
    # the pages of freed batches for the next ones instead of returning them to the kernel,
    # which zeroes them again on the next touch (that was a tenth of the job's CPU time).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("MIMALLOC_PURGE_DELAY", "-1")
    from healthscore.jobs import rescore, rulesets

    given = [x for x in (args.data_dir, args.server, args.ruleset_file) if x is not None]
    if len(given) != 1:
        raise InvalidInputError("give exactly one of --data-dir, --server and --ruleset-file")
    if args.ruleset_file is not None:
        ruleset = rulesets.from_file(args.ruleset_file)
    elif args.server is not None:
        address = rulesets.ServerAddress(
            args.server,
            common.token(args),
            args.tls_ca,
            args.tls,
        )
        ruleset = rulesets.from_server(address, args.ruleset)
    else:
        ruleset = rulesets.from_data_dir(args.data_dir, args.ruleset)
    config = rescore.JobConfig(
        input=args.input,
        output=args.output,
        ruleset=ruleset,
        output_format=args.format,
        input_format=args.input_format,
        as_of=args.as_of,
        date_from=args.date_from,
        date_to=args.date_to,
        errors=args.errors,
        threads=args.threads or 0,
        batch_rows=args.batch_rows,
        view=_VIEWS[args.view],
        overwrite=args.overwrite,
        pipeline=not args.serial,
    )
    console: Console | None = None  # quiet: no rich at all (40 ms of imports)
    if not args.quiet:
        from rich.console import Console

        console = Console(stderr=True)
    # Everything imported so far lives as long as the process: moved out of the collector's
    # sight, it is no longer traversed by every full collection during the job nor by the final
    # one at exit: a fifth of a 4 M-account rescore's CPU time (see the commit).
    gc.freeze()
    if args.engine == "dask":
        from healthscore.jobs import dask_engine

        if not args.scheduler:
            raise InvalidInputError("--engine dask needs --scheduler ADDRESS")
        summary = dask_engine.run(config, args.scheduler, console=console, quiet=args.quiet)
    else:
        with _pandas_unseen_by_pyarrow() if args.whole_process else contextlib.nullcontext():
            summary = rescore.run_local(config, console=console, quiet=args.quiet)
    if console is not None:
        rescore.print_summary(summary, console)
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return EXIT_OK


class _NoPandas:
    """A meta path finder (importlib.abc's base class would cost 17 ms of imports)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ImportError("pandas is not imported during a rescore job")


@contextlib.contextmanager
def _pandas_unseen_by_pyarrow() -> Iterator[None]:
    """pyarrow imports pandas on its first conversion (`pa.array`, `to_numpy`, ...) just to
    recognise pandas objects, which a job never hands it: 0.3-0.4 s, a tenth of a 10 M-account
    job. So while the job runs, importing pandas fails as if it were not installed, and pyarrow
    behaves as it does without it. Only for a process that ends with the job: pyarrow remembers
    the failed import, and would then no longer recognise pandas objects."""
    if "pandas" in sys.modules:
        yield
        return
    finder = _NoPandas()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _add_rescore_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rescore = commands.add_parser(
        "rescore",
        help="score every account of Parquet/CSV/JSON Lines files with a stored ruleset",
        description="Streams accounts from a file, a directory or a glob through the Arrow path "
        "and writes one result per account (id, profile, model, version, as_of, score, rank, "
        "per-dimension scores and ranks). Rejected rows go to an errors file (file, row, id, "
        "reason). See docs/rescore.md.",
    )
    rescore.add_argument("--input", required=True, help="a file, a directory or a glob")
    rescore.add_argument(
        "--input-format", choices=["parquet", "csv", "jsonl"], help="default: by suffix"
    )
    rescore.add_argument(
        "--output",
        type=Path,
        required=True,
        help="a .parquet/.csv/.jsonl file, or a directory of parts (date ranges, --engine dask)",
    )
    rescore.add_argument(
        "--format", choices=["parquet", "csv", "jsonl"], help="output format (default: by suffix)"
    )
    rescore.add_argument(
        "--errors", type=Path, help="errors CSV (default: OUTPUT.errors.csv, or OUTPUT/_errors.csv)"
    )
    rescore.add_argument(
        "--ruleset",
        default="",
        help="models/{m}/versions/{n}, models/{m} (latest), models/{m}/draft (default: active)",
    )
    rescore.add_argument("--data-dir", type=Path, help="read the ruleset from a data directory")
    rescore.add_argument("--server", help="fetch the ruleset from HOST:PORT over gRPC")
    rescore.add_argument(
        "--ruleset-file", type=Path, help="a ruleset .json/.yaml file instead (no service)"
    )
    common.add_token_flags(rescore)  # for --server
    rescore.add_argument("--tls", action="store_true", help="TLS to --server (system roots)")
    rescore.add_argument("--tls-ca", type=Path, help="PEM CA bundle for --server (implies --tls)")
    rescore.add_argument(
        "--as-of", type=common.iso_instant, help="evaluation instant, ISO 8601 (default: now)"
    )
    rescore.add_argument(
        "--from", dest="date_from", type=_date, help="first day of date=YYYY-MM-DD partitions"
    )
    rescore.add_argument("--to", dest="date_to", type=_date, help="last day (inclusive)")
    rescore.add_argument(
        "--view", choices=["basic", "dimensions"], default="dimensions", help="detail per result"
    )
    rescore.add_argument("--threads", type=int, help="scoring threads (default: every core)")
    rescore.add_argument("--batch-rows", type=int, default=1 << 17, help="rows per batch")
    rescore.add_argument("--overwrite", action="store_true", help="replace an existing output")
    rescore.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    rescore.add_argument("--summary-json", type=Path, help="also write the summary as JSON")
    rescore.add_argument("--engine", choices=["local", "dask"], default="local")
    rescore.add_argument("--scheduler", help="Dask scheduler address (--engine dask)")
    rescore.add_argument("--serial", action="store_true", help=argparse.SUPPRESS)
    rescore.set_defaults(run=_rescore)


def _instant(text: str) -> dt.datetime:
    from healthscore_client.accounts import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc


def _ingest(args: argparse.Namespace) -> int:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from healthscore.jobs import ingest
    from healthscore.server.app import App
    from healthscore.store.sqlite import DATABASE_FILE

    if (args.data_dir is None) == (args.server is None):
        raise InvalidInputError("give exactly one of --data-dir and --server")
    if args.data_dir is not None and not (args.data_dir / DATABASE_FILE).is_file():
        raise InvalidInputError(f"{args.data_dir} is not a healthscore data directory")
    console: Console | None = None
    if not args.quiet:
        from rich.console import Console

        console = Console(stderr=True)
    config = ingest.IngestConfig(
        inputs=args.inputs,
        data_dir=args.data_dir,
        errors=args.errors,
        input_format=args.input_format,
        observe_time=args.observe_time,
        batch_rows=args.batch_rows,
    )
    if args.server is not None:
        from healthscore.admin import common

        args.timeout = 300.0
        args.output = "table"

        def remote(args: argparse.Namespace) -> int:
            with common.connect(args) as client:
                args.summary = ingest.run(
                    config, ingest.RemoteTarget(client), console=console, quiet=args.quiet
                )
            return EXIT_OK

        code = common.remote(remote)(args)
        if code != EXIT_OK:
            return code
        summary = args.summary
    else:
        app = App.open(args.data_dir)
        try:
            assert app.accounts is not None
            summary = ingest.run(
                config, ingest.LocalTarget(app.accounts), console=console, quiet=args.quiet
            )
        finally:
            app.close()
    if console is not None:
        ingest.print_summary(summary, console)
    if args.summary_json is not None:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return EXIT_OK


def _add_ingest_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="load account data files into a data directory's account store",
        description="Records account data (the columns of rescore's input plus observe_time) "
        "from Parquet, CSV or JSON Lines files, directories, globs or object storage URIs "
        "(s3://bucket/prefix, ...) into a data directory's account store (--data-dir) or "
        "through a running server (--server), and rescores every account it touches with the "
        "active version. Each batch is one durable transaction; "
        "records already stored (same account, attribute, observe time) are stored once. Bad "
        "rows go to the errors file (file,row,id,reason); the rest is stored.",
    )
    ingest.add_argument("inputs", nargs="+", metavar="FILE|URI", help="what to load")
    ingest.add_argument(
        "--data-dir", type=Path, help="write into this data directory's store, in this process"
    )
    ingest.add_argument(
        "--server", help="or write through a server, HOST:PORT (WriteAccountData, editor role)"
    )
    common.add_token_flags(ingest)  # for --server
    ingest.add_argument("--tls-ca", type=Path, help="PEM CA bundle: TLS to --server")
    ingest.add_argument(
        "--observe-time",
        type=_instant,
        help="observe time of rows without an observe_time value (ISO 8601)",
    )
    ingest.add_argument(
        "--errors",
        type=Path,
        default=Path("ingest-errors.csv"),
        help="where rejected rows go (CSV; default: ingest-errors.csv)",
    )
    ingest.add_argument(
        "--input-format", choices=["parquet", "csv", "jsonl"], help="default: by file extension"
    )
    ingest.add_argument("--batch-rows", type=int, default=1 << 15, help="rows per transaction")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    ingest.add_argument("--summary-json", type=Path, help="also write the summary as JSON")
    ingest.set_defaults(run=_ingest)


def _serve(args: argparse.Namespace) -> int:
    from healthscore.server import config, serve

    return serve.serve(config.config_from(vars(args), os.environ))


def _tokens_add(args: argparse.Namespace) -> int:
    from healthscore.server import auth

    token = auth.add_token(args.file, args.name, auth.ROLE_NAMES[args.role])
    print(
        f"added {args.name!r} ({args.role}) to {args.file}; the token, shown only now:",
        file=sys.stderr,
    )
    print(token)
    return EXIT_OK


def _add_serve_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from healthscore.server.config import ENV_VARS, ServerConfig

    serve = commands.add_parser(
        "serve",
        help="run the gRPC server",
        description="Runs the gRPC server (ProfileService, ScoringService, health, reflection) "
        "until SIGTERM/SIGINT, then drains in-flight calls. Every flag falls back to the "
        "environment variable named in its help, then to the default. One JSON log line per "
        "RPC on stderr.",
    )
    defaults = ServerConfig()

    def flag(name: str, text: str, **kwargs: Any) -> None:
        field = name.removeprefix("--").replace("-", "_")
        default = getattr(defaults, field)
        shown = f"; default: {default}" if default not in (None, False) else ""
        serve.add_argument(name, default=None, help=f"{text} [{ENV_VARS[field]}{shown}]", **kwargs)

    flag("--host", "address to listen on; non-loopback needs --tokens")
    flag("--port", "port to listen on (0: any free port, printed in server_started)", type=int)
    flag("--data-dir", "data directory (created on first start)", type=Path)
    flag(
        "--tokens",
        "tokens file of token hashes (`healthscore tokens add`); none: auth off",
        type=Path,
    )
    flag("--tls-cert", "PEM server certificate (chain); enables TLS", type=Path)
    flag("--tls-key", "PEM private key of --tls-cert", type=Path)
    flag(
        "--tls-client-ca",
        "PEM CA bundle to verify client certificates against (with --require-client-cert)",
        type=Path,
    )
    flag(
        "--require-client-cert",
        "refuse clients without a certificate",
        action="store_const",
        const=True,
    )
    flag("--max-message-bytes", "largest request or response message", type=int)
    flag(
        "--drain-seconds",
        "at shutdown, time health reports NOT_SERVING while calls are still taken",
        type=float,
    )
    flag("--grace-seconds", "then, time in-flight calls get to finish", type=float)
    flag("--threads", "calls handled at once", type=int)
    flag(
        "--max-calls-per-caller",
        "calls (queued or running) one caller may have at once; past it RESOURCE_EXHAUSTED",
        type=int,
    )
    flag("--max-streams-per-caller", "streaming calls one caller may have open", type=int)
    flag(
        "--stream-idle-seconds",
        "a call waiting this long for its next request message is cancelled",
        type=float,
    )
    flag("--max-connection-age-seconds", "connections are closed after this long", type=float)
    flag(
        "--handshake-timeout-seconds",
        "connections that have not completed their handshake by then are dropped",
        type=float,
    )
    flag(
        "--workers",
        "server processes sharing the port (SO_REUSEPORT, Linux); each runs --threads threads",
        type=int,
    )
    flag("--history-uri", "stored history: a folder or s3://bucket/prefix (AWS_* variables)")
    flag("--database-url", "profile store shared by replicas: postgresql://... (default: SQLite)")
    flag("--snapshot-time", "daily snapshot time HH:MM in --snapshot-zone, or off")
    flag("--snapshot-zone", "time zone of snapshot days, e.g. Europe/Paris")
    flag("--history-retention-days", "days of history kept", type=int)
    serve.set_defaults(run=_serve)


def _add_tokens_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = commands.add_parser("tokens", help="manage the server's tokens file")
    actions = tokens.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add",
        help="generate a token and store its hash",
        description="Generates a random bearer token, appends its SHA-256 to the tokens file "
        "(created if missing) and prints the token once, on stdout. A running server picks the "
        "change up within a second (or at once on SIGHUP).",
    )
    add.add_argument("--file", type=Path, required=True, help="tokens file (YAML)")
    add.add_argument("--name", required=True, help="who the token is for (shown in logs)")
    add.add_argument("--role", required=True, choices=["viewer", "editor", "admin"])
    add.set_defaults(run=_tokens_add)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="healthscore",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_rescore_parser(commands)
    _add_ingest_parser(commands)
    _add_serve_parser(commands)
    _add_tokens_parser(commands)
    admin.add_parsers(commands)
    return parser


def _reader_gone() -> int:
    """The reader of stdout went away (`healthscore ... | head`): end quietly, as a process that
    SIGPIPE ended would (exit 128 + 13), without Python's complaint at exit about the unflushed
    output (stdout now writes to /dev/null)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # No argv: the process's own command line, so the process ends with the command.
    args.whole_process = argv is None
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # a short output reaches a closed pipe only here
        return code
    except BrokenPipeError:
        return _reader_gone()
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (HealthScoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        # A bug: one line for the user, the traceback on request (for a bug report).
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            traceback.print_exc()
        else:
            print(
                f"error: unexpected {type(exc).__name__}: {exc} "
                f"(run with {TRACEBACK_ENV}=1 to see where)",
                file=sys.stderr,
            )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
