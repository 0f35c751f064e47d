"""Account data intake, against baselines measured in the same run.

    python -m benchmarks.intake [--accounts 1000000] [--rpc-seconds 3] [--output PATH]

Bulk: the core benchmark's workload (20 NUMBER metrics and a text, ~5 % missing) as one Parquet
file, loaded by `healthscore ingest` into a fresh data directory whose active version is the
workload's ruleset (each batch stored and its accounts rescored in one durable transaction), in a
child process. Baselines, each in its own child process on the same file: `healthscore rescore`
(read, convert, score, write Parquet: the same reading and scoring, no store), and the storage
floor: the same records' bytes inserted by `executemany` into an empty SQLite table with the
store's settings (WAL, synchronous=FULL, the same key), nothing else. Rates are attribute values
per second (non-missing cells of the catalog's attributes).

RPC: a `healthscore serve` process over a data directory with the workload active; the service
benchmark's load generator (bounded async client, 8 calls in flight) sends `ScoreAccounts` with
1,000 accounts in row form, then `WriteAccountData` with the same 1,000 accounts as records. The
same request is sent again and again: after the first call every record is already stored, so the
upsert writes no new bytes, but every call checks, upserts, reads back, rescores and rewrites the
1,000 health rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from benchmarks import service
from benchmarks.machine import machine
from benchmarks.rescore import AS_OF, generate, measured
from benchmarks.workload import Workload, build_batch, build_request_rows, build_ruleset
from healthscore import engine
from healthscore_client.v1 import account_service_pb2

# The bulk job checks observe times against the clock: the workload's instant must be recent.
_OBSERVE = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)

_FLOOR = """
import datetime, sqlite3, sys
import pyarrow.parquet as pq
from healthscore.jobs import ingest
from healthscore.jobs.convert import Schema
from healthscore.files import load_ruleset
from healthscore_client.v1 import catalog_pb2
import pyarrow as pa
source, database, ruleset, observed = sys.argv[1:5]
schema = Schema({**Schema.of(load_ruleset(__import__('pathlib').Path(ruleset))).kinds,
                 'observe_time': catalog_pb2.ATTRIBUTE_TYPE_TIME})
conn = sqlite3.connect(database, isolation_level=None)
conn.execute('PRAGMA page_size = 32768')
conn.execute('PRAGMA journal_mode = WAL')
conn.execute('PRAGMA synchronous = FULL')
conn.execute('CREATE TABLE account_data (account_id TEXT NOT NULL, observe_time INTEGER NOT NULL,'
             ' body BLOB NOT NULL, PRIMARY KEY (account_id, observe_time)) WITHOUT ROWID')
when = pa.scalar(datetime.datetime.fromisoformat(observed), pa.timestamp('us', 'UTC'))
for batch in pq.ParquetFile(source).iter_batches(batch_size=1 << 15):
    batch = batch.append_column('observe_time', pa.nulls(batch.num_rows, when.type).fill_null(when))
    rows = ingest.encode(batch, schema).rows
    conn.execute('BEGIN IMMEDIATE')
    conn.executemany('INSERT INTO account_data VALUES (?, ?, ?)', rows)
    conn.execute('COMMIT')
"""


def _values(path: Path, workload: Workload) -> int:
    metadata = pq.ParquetFile(path).metadata
    rows = metadata.num_rows
    nulls = 0
    names = set(workload.metric_names)
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.path_in_schema in names and column.statistics is not None:
                nulls += column.statistics.null_count
    return rows * (len(names) + 1) - nulls  # the metrics and `segment`


def _data_dir(path: Path, workload: Workload) -> None:
    from healthscore.server.app import App

    app = App.open(path)
    try:
        ruleset = build_ruleset(workload)
        ruleset.ClearField("version")
        # The catalog must know the workload's attributes (the ingest job types by it).
        store = app.store
        store.put_catalog(ruleset.catalog.SerializeToString(), updater="bench", expected_etag=None)
        version = store.publish(
            ruleset.model or 2,
            ruleset.SerializeToString(),
            comment="benchmark",
            creator="bench",
            expected_draft_etag=None,
        )
        app.profiles.activate(version.model, version.number, "benchmark", "bench")
    finally:
        app.close()


def bulk(accounts: int, scratch: Path) -> list[dict[str, Any]]:
    workload = Workload()
    source = scratch / "accounts.parquet"
    generate(workload, accounts, source)
    values = _values(source, workload)
    ruleset_file = scratch / "ruleset.json"
    from google.protobuf import json_format

    ruleset_file.write_text(json_format.MessageToJson(build_ruleset(workload)))
    data_dir = scratch / "data"
    _data_dir(data_dir, workload)
    observed = _OBSERVE.isoformat()
    cli = [sys.executable, "-m", "healthscore.cli"]
    runs = [
        measured(
            "rescore (read, convert, score, write Parquet; no store)",
            accounts,
            [
                *cli,
                *("rescore", "--input", str(source), "--output", str(scratch / "out.parquet")),
                *("--ruleset-file", str(ruleset_file), "--as-of", AS_OF, "--quiet"),
            ],
        ),
        measured(
            "SQLite floor (encode, executemany, commit; no reading of types, no rescoring)",
            accounts,
            [
                sys.executable,
                "-c",
                _FLOOR,
                str(source),
                str(scratch / "floor.db"),
                str(ruleset_file),
                observed,
            ],
        ),
        measured(
            "healthscore ingest (store + rescore, one transaction a batch)",
            accounts,
            [
                *(*cli, "ingest", str(source), "--data-dir", str(data_dir), "--quiet"),
                *("--observe-time", observed, "--errors", str(scratch / "errors.csv")),
            ],
        ),
    ]
    _check_stored(data_dir, accounts)
    out = []
    for run in runs:
        row = run.as_dict()
        row["values"] = values
        row["values_per_s"] = round(values / run.seconds)
        row["values_per_cpu_s"] = round(values / run.cpu_seconds)
        out.append(row)
    floor = out[1]["values_per_s"]
    for row in out:
        row["vs_sqlite_floor"] = round(row["values_per_s"] / floor, 3)
    return out


def _check_stored(data_dir: Path, accounts: int) -> None:
    """Every account of the file is stored once, with its health."""
    from healthscore.store.accounts import AccountStore

    with AccountStore(data_dir / "accounts.db") as store:
        counts = store.count()
    if counts != (accounts, accounts):
        raise SystemExit(f"ingest stored {counts} (health, records), expected {accounts} each")


def _check_health(target: str, score: bytes, accounts: int) -> None:
    """The health the writes stored is what ScoreAccounts gives for the same accounts."""
    import grpc

    from healthscore_client.v1 import (
        account_service_pb2_grpc,
        scoring_pb2,
        scoring_service_pb2_grpc,
    )

    with grpc.insecure_channel(target) as channel:
        scored = scoring_service_pb2_grpc.ScoringServiceStub(channel).ScoreAccounts(
            scoring_pb2.ScoreAccountsRequest.FromString(score), timeout=60
        )
        ids = [r.account_id for r in scored.results[: min(accounts, 1_000)]]
        stored = account_service_pb2_grpc.AccountServiceStub(channel).BatchGetAccountHealth(
            account_service_pb2.BatchGetAccountHealthRequest(names=[f"accounts/{i}" for i in ids]),
            timeout=60,
        )
    want = [(r.score, r.rank) for r in scored.results[: len(ids)]]
    got = [(h.health.score, h.health.rank) for h in stored.healths]
    if want != got:
        raise SystemExit("stored health differs from ScoreAccounts' for the same accounts")


def _write_request(accounts: int) -> bytes:
    rows = build_request_rows(build_batch(Workload(), accounts))
    request = account_service_pb2.WriteAccountDataRequest()
    for account in rows.accounts:
        # AccountData's fields 1-5 are Account's.
        record = account_service_pb2.AccountData.FromString(account.SerializeToString())
        record.observe_time.FromDatetime(_OBSERVE)
        request.records.append(record)
    return request.SerializeToString()


def rpc(seconds: float, scratch: Path, accounts: int = 1_000) -> list[dict[str, Any]]:
    workload = Workload()
    data_dir = scratch / "rpc-data"
    server = service.healthscore_server(data_dir, 1, scratch / "server.log")
    try:
        service.activate_workload(server.target, workload)
        score = scratch / "score.bin"
        score.write_bytes(build_request_rows(build_batch(workload, accounts)).SerializeToString())
        write = scratch / "write.bin"
        write.write_bytes(_write_request(accounts))
        cases = [
            service.Case(
                f"ScoreAccounts, {accounts:,} accounts", "rpc", "hs", service.SCORE, "s",
                accounts, 8,
            ),
            service.Case(
                f"WriteAccountData, {accounts:,} accounts", "rpc", "hs",
                "/healthscore.v1.AccountService/WriteAccountData", "w", accounts, 8,
            ),
        ]  # fmt: skip
        payloads = {"s": score, "w": write}
        out = []
        for case in cases:
            report = service.run_load(case, server.target, payloads[case.payload], seconds, 0.5)
            out.append({"name": case.name, **{k: round(v, 2) for k, v in report.items()}})
        _check_health(server.target, score.read_bytes(), accounts)
        out[1]["vs_score_accounts"] = round(out[1]["calls_per_s"] / out[0]["calls_per_s"], 3)
        return out
    finally:
        server.stop()


def print_tables(report: dict[str, Any]) -> None:
    print(f"machine: {report['machine']}; load average before: {report['load_average']}")
    print("| bulk run | seconds | values/s | values/CPU-s | vs SQLite floor | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in report["bulk"]:
        print(
            f"| {r['name']} | {r['seconds']:.2f} | {r['values_per_s']:,} | "
            f"{r['values_per_cpu_s']:,} | {r['vs_sqlite_floor']:.2f}x | {r['peak_rss_mib']:,.0f} |"
        )
    print("| RPC case (8 in flight) | calls/s | accounts/s | p50 ms | p99 ms | vs ScoreAccounts |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in report["rpc"]:
        ratio = r.get("vs_score_accounts")
        shown = f"{ratio:.3f}x" if ratio is not None else ""
        print(
            f"| {r['name']} | {r['calls_per_s']:,.1f} | {r['accounts_per_s']:,.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {shown} |"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--rpc-seconds", type=float, default=3.0)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "intake.json"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="healthscore-intake-bench-") as scratch:
        report = {
            "machine": machine(),
            "build_profile": engine.BUILD_PROFILE,
            "load_average": service.load_average(),
            "accounts": args.accounts,
            "bulk": bulk(args.accounts, Path(scratch)),
            "rpc": rpc(args.rpc_seconds, Path(scratch)),
        }
    print_tables(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    sys.exit(code)
