"""Server memory under large requests from callers without a token: the peak RSS of
`healthscore serve --tokens FILE` while N callers each send a big ScoreAccounts request with no
`authorization`, several at a time.

    python -m benchmarks.unauthenticated [--calls 20] [--in-flight 20] [--mib 60]

Before authentication moved ahead of the request (`auth.AuthInterceptor` refuses from the
metadata, `limits.py`), gRPC read every such request whole before the handler refused it (20 x
60 MiB: 1.3 GiB peak). Prints the server's RSS at start and its peak (VmHWM), and the status
codes the callers got; writes `benchmarks/results/unauthenticated.json`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import yaml

from benchmarks.machine import machine
from benchmarks.service import ROOT, Server
from tests.core.wire import varint

SCORE = "/healthscore.v1.ScoringService/ScoreAccounts"
MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def run(args: argparse.Namespace) -> dict[str, Any]:
    # One account whose id is the whole payload: a valid message of the requested size.
    payload = (
        b"\x0a"
        + varint(args.mib * MIB + 8)
        + b"\x0a"
        + varint(args.mib * MIB)
        + (b"x" * (args.mib * MIB))
    )
    with tempfile.TemporaryDirectory() as scratch:
        tokens = Path(scratch) / "tokens.yaml"
        tokens.write_text(yaml.safe_dump({"tokens": []}))
        argv = [sys.executable, "-m", "healthscore.cli", "serve", "--port", "0"]
        argv += ["--drain-seconds", "0", "--data-dir", str(Path(scratch) / "data")]
        argv += ["--tokens", str(tokens), "--max-message-bytes", str(args.mib * MIB + 1024)]
        server = Server("healthscore serve", argv, Path(scratch) / "server.log", {})
        try:
            server.wait_started(1)
            pid = server.popen.pid
            rss_start = status_kib(pid, "VmRSS")
            options = [("grpc.max_send_message_length", -1)]
            codes: Counter[str] = Counter()
            with futures.ThreadPoolExecutor(args.in_flight) as pool:

                def call(_: int) -> str:
                    # A channel each: the callers are independent (no shared connection window).
                    with grpc.insecure_channel(server.target, options=options) as channel:
                        try:
                            channel.unary_unary(SCORE)(payload, timeout=120)
                        except grpc.RpcError as exc:
                            return str(exc.code().name)
                        return "OK"

                codes.update(pool.map(call, range(args.calls)))
            peak = status_kib(pid, "VmHWM")
        finally:
            server.popen.terminate()
            server.popen.wait(30)
    return {
        "machine": machine(),
        "calls": args.calls,
        "in_flight": args.in_flight,
        "request_mib": args.mib,
        "rss_start_kib": rss_start,
        "rss_peak_kib": peak,
        "codes": dict(codes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--mib", type=int, default=60)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks" / "results" / "unauthenticated.json"
    )
    args = parser.parse_args(argv)
    result = run(args)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.calls} unauthenticated {args.mib} MiB requests, {args.in_flight} at a time: "
        f"server RSS {result['rss_start_kib'] / 1024:,.0f} MiB at start, peak "
        f"{result['rss_peak_kib'] / 1024:,.0f} MiB; codes {result['codes']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
