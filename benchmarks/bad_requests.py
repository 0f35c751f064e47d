"""Server memory under undecodable requests: RSS of `healthscore serve` over N good calls, then
over N calls whose bytes are not the request message (the same-run baseline: what the good calls
cost).

    python -m benchmarks.bad_requests [--calls 100000] [--in-flight 32] [--output PATH]

One server process (its stderr, one JSON line per call, goes to a file). After a warm-up of good
calls, the phases run in turn on `ProfileService/GetDraft` and `UpdateDraft`, alternating: good
requests (GetDraft of the multidimensional draft, UpdateDraft with a stale etag: refused
ABORTED, nothing written), then random bytes that no message parses. For each phase: the
server's RSS before and after, the growth per call, the status codes seen, and the calls the log
recorded. Before `server/decoding.py` each bad call kept ~16 KiB; the target is the bad phase
growing no more than the good one (plus allocator noise). Writes
`benchmarks/results/bad_requests.json`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc

from benchmarks.machine import machine
from benchmarks.service import MD_DRAFT, Server, healthscore_server
from healthscore_client.v1 import profile_service_pb2 as pb

GET_DRAFT = "/healthscore.v1.ProfileService/GetDraft"
UPDATE_DRAFT = "/healthscore.v1.ProfileService/UpdateDraft"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def garbage(rng: random.Random) -> bytes:
    """Bytes no message parses: a tag with wire type 7 (none exists), then random bytes."""
    return bytes([(rng.randrange(1, 16) << 3) | 7]) + rng.randbytes(rng.randrange(0, 64))


def good_requests() -> Callable[[int], bytes]:
    get = pb.GetDraftRequest(name=MD_DRAFT).SerializeToString()
    stale = pb.UpdateDraftRequest(draft=pb.Draft(name=MD_DRAFT, etag="stale")).SerializeToString()
    return lambda i: get if i % 2 else stale


def bad_requests() -> Callable[[int], bytes]:
    rng = random.Random(12)
    return lambda i: garbage(rng)


def drive(
    channel: grpc.Channel, calls: int, in_flight: int, payload: Callable[[int], bytes]
) -> Counter[str]:
    """`calls` calls, alternating UpdateDraft and GetDraft, `in_flight` at a time."""
    methods = [channel.unary_unary(UPDATE_DRAFT), channel.unary_unary(GET_DRAFT)]
    codes: Counter[str] = Counter()
    lock = threading.Lock()
    slots = threading.Semaphore(in_flight)

    def settle(call: grpc.Future) -> None:
        code = call.code()  # type: ignore[attr-defined]
        with lock:
            codes[code.name] += 1
        slots.release()

    for i in range(calls):
        slots.acquire()
        methods[i % 2].future(payload(i), timeout=30).add_done_callback(settle)
    for _ in range(in_flight):  # every call settled
        slots.acquire()
    return codes


def logged_calls(server: Server) -> Counter[str]:
    return Counter(line["code"] for line in server.lines() if line.get("event") == "rpc")


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hs-bad-requests-") as tmp:
        server = healthscore_server(Path(tmp) / "data", 1, Path(tmp) / "server.log")
        try:
            channel = grpc.insecure_channel(server.target)
            drive(channel, args.warmup, args.in_flight, good_requests())
            phases = []
            for name, payload in (("good", good_requests()), ("bad", bad_requests())):
                logged_before = logged_calls(server)
                before = rss_kib(server.popen.pid)
                start = time.perf_counter()
                codes = drive(channel, args.calls, args.in_flight, payload)
                seconds = time.perf_counter() - start
                time.sleep(0.5)  # the last log lines
                after = rss_kib(server.popen.pid)
                logged = logged_calls(server) - logged_before
                phases.append(
                    {
                        "phase": name,
                        "calls": args.calls,
                        "rss_before_kib": before,
                        "rss_after_kib": after,
                        "growth_bytes_per_call": round((after - before) * 1024 / args.calls, 1),
                        "calls_per_s": round(args.calls / seconds),
                        "codes": dict(codes),
                        "logged": dict(logged),
                    }
                )
            channel.close()
        finally:
            server.stop()
    good, bad = phases
    return {
        "benchmark": "bad_requests",
        "machine": machine(),
        "phases": phases,
        "bad_minus_good_bytes_per_call": round(
            bad["growth_bytes_per_call"] - good["growth_bytes_per_call"], 1
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000, help="calls per phase")
    parser.add_argument("--warmup", type=int, default=5_000)
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "bad_requests.json"
    )
    args = parser.parse_args(argv)
    report = run(args)
    for p in report["phases"]:
        print(
            f"{p['phase']:>4}: {p['calls']:,} calls, RSS {p['rss_before_kib']:,} -> "
            f"{p['rss_after_kib']:,} KiB ({p['growth_bytes_per_call']} B/call), "
            f"{p['calls_per_s']:,} calls/s, codes {p['codes']}, logged {p['logged']}"
        )
    print(f"bad - good: {report['bad_minus_good_bytes_per_call']} B/call")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
