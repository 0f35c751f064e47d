"""Replicas on PostgreSQL: what the shared store costs a ScoreAccounts call, and what a second
replica adds.

    python -m benchmarks.replicas [--seconds 3] [--repeats 3] [--output PATH]

Starts a throwaway PostgreSQL (as the tests do: `tests/postgres.py`), then `healthscore serve`
three ways: one replica on its embedded SQLite store (the baseline), one replica on PostgreSQL,
and two replicas on that same database. The workload's ruleset is activated on each (on one of
the two replicas: the other follows by LISTEN/NOTIFY). Then, `--repeats` times, each case in turn,
the load generator (`service_load.py`, one process per replica, run at once) sends ScoreAccounts
calls of 1,000 accounts (rows) for `--seconds`. Figures are medians over the repeats; ratios are
medians of per-repeat ratios:
- store cost: 1 replica on PostgreSQL / 1 replica on SQLite (the goal: >= 0.95, at most 5 % lost);
- scaling: 2 replicas / 1 replica, both on PostgreSQL (the goal: >= 1.7x; needs a spare core per
  replica and its load generator, which a loaded 2-core machine does not have).
Writes `benchmarks/results/replicas.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
from pathlib import Path
from typing import Any

from benchmarks.machine import machine
from benchmarks.service import (
    Case,
    Server,
    activate_workload,
    healthscore_server,
    run_load,
    scored,
)
from benchmarks.workload import Workload, build_batch, build_request_rows
from tests.postgres import fresh_database, running_server

ROOT = Path(__file__).resolve().parent.parent
ACCOUNTS = 1000
IN_FLIGHT = 4


def load_all(servers: list[Server], payload: Path, seconds: float, warmup: float) -> float:
    """Accounts per second over all servers, each driven by its own load generator at once."""
    case = Case("score 1k", "replicas", "", "/healthscore.v1.ScoringService/ScoreAccounts",
                "rows", ACCOUNTS, IN_FLIGHT)  # fmt: skip
    rates: list[float] = [0.0] * len(servers)

    def drive(index: int) -> None:
        rates[index] = run_load(case, servers[index].target, payload, seconds, warmup)[
            "accounts_per_s"
        ]

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/replicas.json")
    args = parser.parse_args(argv)

    workload = Workload()
    request = build_request_rows(build_batch(workload, ACCOUNTS))
    runs: dict[str, list[float]] = {"sqlite": [], "postgres": [], "postgres x2": []}
    with (
        tempfile.TemporaryDirectory() as tmp_name,
        running_server() as postgres,
        fresh_database(postgres.url) as url,
    ):
        tmp = Path(tmp_name)
        payload = tmp / "rows.bin"
        payload.write_bytes(request.SerializeToString())
        servers: dict[str, list[Server]] = {}
        try:
            servers["sqlite"] = [healthscore_server(tmp / "sqlite", 1, tmp / "sqlite.log")]
            replicas = [
                healthscore_server(tmp / f"pg{i}", 1, tmp / f"pg{i}.log", database_url=url)
                for i in range(2)
            ]
            servers["postgres"] = replicas[:1]
            servers["postgres x2"] = replicas
            activate_workload(servers["sqlite"][0].target, workload)
            version = activate_workload(replicas[0].target, workload)
            expected = scored(servers["sqlite"][0].target, request)
            for replica in replicas:  # both score alike, with the version activated on one
                assert scored(replica.target, request) == expected, version
            for _ in range(args.repeats):
                for name in runs:
                    runs[name].append(load_all(servers[name], payload, args.seconds, args.warmup))
        finally:
            for group in servers.values():
                for server in group:
                    server.stop()

    store_cost = [pg / lite for pg, lite in zip(runs["postgres"], runs["sqlite"], strict=True)]
    scaling = [two / one for two, one in zip(runs["postgres x2"], runs["postgres"], strict=True)]
    result: dict[str, Any] = {
        "machine": machine(),
        "accounts_per_call": ACCOUNTS,
        "in_flight_per_replica": IN_FLIGHT,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "accounts_per_s": {name: statistics.median(rates) for name, rates in runs.items()},
        "runs": runs,
        "postgres_vs_sqlite": statistics.median(store_cost),
        "two_replicas_vs_one": statistics.median(scaling),
    }
    for name, rate in result["accounts_per_s"].items():
        print(f"{name:>12}: {rate:>12,.0f} accounts/s")
    print(f"PostgreSQL store / SQLite store: {result['postgres_vs_sqlite']:.2f}x (goal >= 0.95)")
    print(f"two replicas / one replica: {result['two_replicas_vs_one']:.2f}x (goal >= 1.7)")
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
