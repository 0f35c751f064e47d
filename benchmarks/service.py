"""Service throughput benchmark: ScoreAccounts and StreamScoreAccounts end to end over loopback.

    python -m benchmarks.service [--seconds 3] [--repeats 3] [--no-ghz] [--output PATH]

Starts, each in its own process: `healthscore serve` (1 worker), `healthscore serve` with
HEALTHSCORE_WORKERS=2 on the same data directory, and the naive server (`service_naive.py`).
Publishes and activates the workload's ruleset (benchmarks/workload.py: 20 NUMBER attributes and
a segment per account) and checks that all three score alike. Then, `--repeats` times, every case
in turn (so that a baseline and what it is compared with run seconds apart, under the same
machine load), the load generator (`service_load.py`, its own process) or `ghz` drives one case
for `--seconds`. Each figure is the median over the repeats; each ratio is the median of the
per-repeat ratios. Prints tables, writes `benchmarks/results/service.json`.

`ghz` (the standard tool's view) is installed on first use with `go install` into
~/.cache/healthscore-bench/bin; without Go, its rows are skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, field_mask_pb2
from grpc_health.v1 import health_pb2

from benchmarks import service_naive
from benchmarks.machine import machine
from benchmarks.workload import (
    Workload,
    build_batch,
    build_request_columns,
    build_request_rows,
    build_ruleset,
)
from healthscore import engine
from healthscore_client.v1 import (
    profile_service_pb2,
    profile_service_pb2_grpc,
    scoring_pb2,
    scoring_service_pb2,
    scoring_service_pb2_grpc,
)

ROOT = Path(__file__).resolve().parent.parent
GHZ_VERSION = "v0.120.0"
GHZ_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "healthscore-bench"
SCORE = "/healthscore.v1.ScoringService/ScoreAccounts"
STREAM = "/healthscore.v1.ScoringService/StreamScoreAccounts"
CHECK = "/grpc.health.v1.Health/Check"
BARE = service_naive.EMPTY
MD_DRAFT = "models/multidimensional/draft"


class Server:
    """A server process; its stderr goes to a file (one JSON line per RPC: never a full pipe)."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with log.open("w") as err:
            self.popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        self.port = 0

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):  # a traceback (the naive server)
                out.append(json.loads(line))
        return out

    def wait_started(self, processes: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            started = [line for line in self.lines() if line.get("event") == "server_started"]
            if len(started) == processes:
                self.port = started[0]["port"]
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"{self.name} did not start: {self.log.read_text()[-2000:]}")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The serving processes: the workers under a supervisor, else the process itself."""
        for line in self.lines():
            if line.get("event") == "workers_started":
                return list(line["pids"])
        return [self.popen.pid]

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the serving processes (all their threads)."""
        total = 0
        for pid in self.pids():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / os.sysconf("SC_CLK_TCK")

    def calls_per_process(self) -> dict[int, int]:
        counts = Counter(line.get("pid", 0) for line in self.lines() if line.get("event") == "rpc")
        return dict(counts)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def healthscore_server(
    data_dir: Path, workers: int, log: Path, *, database_url: str | None = None
) -> Server:
    """`healthscore serve` on `data_dir`; with `database_url`, a replica on that PostgreSQL."""
    argv = [sys.executable, "-m", "healthscore.cli", "serve", "--port", "0", "--drain-seconds", "0"]
    argv += ["--data-dir", str(data_dir)]
    name = f"healthscore serve ({workers} worker{'s' if workers > 1 else ''})"
    if database_url is not None:
        argv += ["--database-url", database_url]
        name = f"healthscore serve (PostgreSQL, {workers} worker{'s' if workers > 1 else ''})"
    server = Server(name, argv, log, {"HEALTHSCORE_WORKERS": str(workers)})
    server.wait_started(workers)
    return server


def naive_server(log: Path) -> Server:
    server = Server("naive", [sys.executable, "-m", "benchmarks.service_naive"], log, {})
    assert server.popen.stdout is not None
    line = server.popen.stdout.readline()
    if not line:
        raise SystemExit(f"the naive server did not start: {log.read_text()[-2000:]}")
    server.port = json.loads(line)["port"]
    return server


def activate_workload(target: str, workload: Workload) -> str:
    """Makes the workload's ruleset the active version; returns its name."""
    ruleset = build_ruleset(workload)
    with grpc.insecure_channel(target) as channel:
        profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
        pb = profile_service_pb2
        # Added to the catalog: the published versions must keep validating against it.
        catalog = profiles.GetCatalog(pb.GetCatalogRequest(name="catalog"), timeout=30)
        taken = {a.name for a in catalog.attributes} | {d.name for d in catalog.dimensions}
        catalog.dimensions.extend(d for d in ruleset.catalog.dimensions if d.name not in taken)
        catalog.attributes.extend(a for a in ruleset.catalog.attributes if a.name not in taken)
        profiles.UpdateCatalog(pb.UpdateCatalogRequest(catalog=catalog), timeout=30)
        draft = profiles.GetDraft(pb.GetDraftRequest(name=MD_DRAFT), timeout=30)
        profiles.UpdateDraft(
            pb.UpdateDraftRequest(
                draft=pb.Draft(
                    name=MD_DRAFT,
                    settings=ruleset.settings,
                    profiles=ruleset.profiles,
                    etag=draft.etag,
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["settings", "profiles"]),
            ),
            timeout=30,
        )
        version = profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT), timeout=30).name
        profiles.ActivateVersion(pb.ActivateVersionRequest(name=version), timeout=30)
    return version


def scored(target: str, request: scoring_pb2.ScoreAccountsRequest) -> list[tuple[str, int, int]]:
    with grpc.insecure_channel(
        target, options=[("grpc.max_receive_message_length", -1)]
    ) as channel:
        response = scoring_service_pb2_grpc.ScoringServiceStub(channel).ScoreAccounts(
            request, timeout=120
        )
    return [(r.account_id, r.score, r.rank) for r in response.results]


@dataclass
class Case:
    name: str
    group: str
    server: str  # key into the servers
    method: str
    payload: str  # key into the payloads
    accounts: int  # per call
    in_flight: int
    stream: bool = False
    tool: str = "async python"
    runs: list[dict[str, float]] = field(default_factory=list)

    def median(self, key: str) -> float:
        return statistics.median(run[key] for run in self.runs)


def run_load(
    case: Case, target: str, payload: Path, seconds: float, warmup: float
) -> dict[str, float]:
    argv = [
        sys.executable, "-m", "benchmarks.service_load", "--target", target,
        "--method", case.method, "--request", str(payload),
        "--in-flight", str(case.in_flight),
        "--channels", str(2 if case.stream else min(8, case.in_flight)),
        "--seconds", str(seconds), "--warmup", str(warmup),
    ]  # fmt: skip
    if case.stream:
        argv.append("--stream")
    out = subprocess.run(
        argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
        text=True, timeout=seconds + warmup + 120, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"load generator failed on {case.name}: {out.stderr[-3000:]}")
    report: dict[str, float] = json.loads(out.stdout)
    return _rates(report, case.accounts)


def _rates(report: dict[str, float], accounts: int) -> dict[str, float]:
    calls_per_s = report["calls"] / report["seconds"]
    return {
        "calls_per_s": calls_per_s,
        "accounts_per_s": calls_per_s * accounts,
        "p50_ms": report["p50_ms"],
        "p99_ms": report["p99_ms"],
    }


def ensure_ghz() -> Path | None:
    """ghz from the cache, installed there with `go install` on first use; None without Go."""
    ghz = GHZ_CACHE / "bin" / "ghz"
    if ghz.exists():
        return ghz
    go = shutil.which("go")
    if go is None:
        print("note: Go is not installed; skipping the ghz rows", file=sys.stderr)
        return None
    print(f"installing ghz {GHZ_VERSION} into {ghz.parent} ...", file=sys.stderr)
    subprocess.run(
        [go, "install", f"github.com/bojand/ghz/cmd/ghz@{GHZ_VERSION}"],
        env={**os.environ, "GOBIN": str(ghz.parent)},
        check=True,
        timeout=600,
    )
    return ghz


def write_protoset(path: Path) -> None:
    """The services' descriptors with their imports, for ghz (whose reflection client does not
    find the health service through the v1alpha reflection the server speaks)."""
    files = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(file: Any) -> None:
        if file.name in seen:
            return
        seen.add(file.name)
        for dependency in file.dependencies:
            add(dependency)
        file.CopyToProto(files.file.add())

    add(scoring_service_pb2.DESCRIPTOR)
    add(health_pb2.DESCRIPTOR)
    path.write_bytes(files.SerializeToString())


def run_ghz(ghz: Path, case: Case, target: str, payload: Path, seconds: float) -> dict[str, float]:
    call = case.method.strip("/").replace("/", ".")
    data = ["--binary-file", str(payload)] if case.payload != "empty" else ["-d", "{}"]
    argv = [
        str(ghz), "--insecure", "--protoset", str(payload.parent / "services.protoset"),
        "--call", call, *data,
        "-c", str(case.in_flight), "--connections", str(min(8, case.in_flight)),
        "-z", f"{seconds}s", "--max-recv-message-size", "1GB", "--max-send-message-size", "1GB",
        "-O", "json", target,
    ]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False)
    if out.returncode != 0:
        raise SystemExit(f"ghz failed on {case.name}: {out.stderr[-3000:]}")
    report = json.loads(out.stdout)
    codes = dict(report.get("statusCodeDistribution", {}))
    ok = codes.pop("OK", 0)
    # `-z` ends the run by closing the connections under the calls still in flight.
    if sum(codes.values()) > case.in_flight or set(codes) - {"Unavailable", "Canceled"}:
        raise SystemExit(f"ghz {case.name}: {codes} {report.get('errorDistribution')}")
    latency = {d["percentage"]: d["latency"] / 1e6 for d in report["latencyDistribution"]}
    calls = {"calls": ok, "seconds": report["total"] / 1e9}
    return _rates({**calls, "p50_ms": latency[50], "p99_ms": latency[99]}, case.accounts)


def cases(sizes: list[int], columnar: int, ghz: bool) -> list[Case]:
    def in_flight(accounts: int) -> int:
        return 32 if accounts <= 100 else 8 if accounts <= 1000 else 4

    out = [Case("empty RPC (health Check)", "1 worker", "w1", CHECK, "empty", 0, 32)]
    out += [
        Case(f"ScoreAccounts rows x{n:,}", "1 worker", "w1", SCORE, f"rows{n}", n, in_flight(n))
        for n in sizes
    ]
    out.append(
        Case(f"ScoreAccounts columnar x{columnar:,}", "1 worker", "w1", SCORE, "columnar",
             columnar, 8)
    )  # fmt: skip
    stream_size = 1000 if 1000 in sizes else sizes[-1]
    out.append(
        Case(f"StreamScoreAccounts rows x{stream_size:,}", "1 worker", "w1", STREAM,
             f"rows{stream_size}", stream_size, 8, stream=True)
    )  # fmt: skip
    out.append(Case("bare grpcio empty RPC", "naive", "naive", BARE, "empty", 0, 32))
    naive_sizes = [n for n in sizes if n <= 1000]
    out += [
        Case(f"naive ScoreAccounts rows x{n:,}", "naive", "naive", SCORE, f"rows{n}", n,
             in_flight(n))
        for n in naive_sizes
    ]  # fmt: skip
    big = 1000 if 1000 in sizes else sizes[-1]
    for template in (
        out[0],
        next(c for c in out if c.payload == f"rows{big}"),
        out[len(sizes) + 1],
    ):
        out.append(
            Case(template.name, "2 workers", "w2", template.method, template.payload,
                 template.accounts, template.in_flight)
        )  # fmt: skip
    if ghz:
        single = [c for c in out if c.group == "1 worker" and not c.stream]
        picks = [single[0], single[1], next(c for c in single if c.payload == f"rows{big}"),
                 single[-1]]  # fmt: skip
        picks += [c for c in out if c.group == "2 workers"]
        out += [
            Case(c.name, c.group, c.server, c.method, c.payload, c.accounts, c.in_flight,
                 tool="ghz")
            for c in picks
        ]  # fmt: skip
    return out


def find(all_cases: list[Case], group: str, tool: str, test: Callable[[Case], bool]) -> Case | None:
    return next((c for c in all_cases if c.group == group and c.tool == tool and test(c)), None)


def ratio(a: Case | None, b: Case | None, key: str) -> float | None:
    """The median over repeats of a/b measured in the same repeat."""
    if a is None or b is None or not a.runs or not b.runs:
        return None
    return statistics.median(x[key] / y[key] for x, y in zip(a.runs, b.runs, strict=True))


def summary(all_cases: list[Case], big: int) -> list[dict[str, Any]]:
    """The issue's targets, each as measured against its same-run baseline."""
    out: list[dict[str, Any]] = []
    for tool in ("async python", "ghz"):
        w1 = [c for c in all_cases if c.group == "1 worker" and c.tool == tool]
        if not w1:
            continue
        empty = find(all_cases, "1 worker", tool, lambda c: c.payload == "empty")
        single = find(all_cases, "1 worker", tool, lambda c: c.payload == "rows1")
        rows_big = find(all_cases, "1 worker", tool, lambda c: c.payload == f"rows{big}")
        naive_big = find(all_cases, "naive", "async python", lambda c: c.payload == f"rows{big}")
        columnar = find(all_cases, "1 worker", tool, lambda c: c.payload == "columnar")

        def target(
            name: str, value: float | None, goal: float, unit: str, tool: str = tool
        ) -> None:
            if value is not None:
                out.append(
                    {"tool": tool, "target": name, "measured": value, "goal": goal,
                     "unit": unit, "met": value >= goal}
                )  # fmt: skip

        if rows_big and rows_big.runs:
            target(f"rows x{big:,}: accounts/s", rows_big.median("accounts_per_s"), 250_000, "/s")
        if tool == "async python":
            target(f"rows x{big:,} vs naive", ratio(rows_big, naive_big, "accounts_per_s"), 5, "x")
        target("rows x1 vs empty RPC", ratio(single, empty, "calls_per_s"), 0.8, "x")
        if columnar and columnar.runs:
            target("columnar: accounts/s", columnar.median("accounts_per_s"), 1_000_000, "/s")
    return out


def print_tables(report: dict[str, Any]) -> None:
    print(f"machine: {report['machine']} ({report['build_profile']} build)")
    print(f"load average before / after: {report['load_before']} / {report['load_after']}")
    print(f"workload: {report['workload']}")
    print(f"{report['repeats']} repeats of {report['seconds']} s per case; medians")
    print("srv cpu / cli cpu: cores the server processes / the load generator kept busy\n")
    header = (
        f"{'case':<38} {'server':<9} {'client':<12} {'inflt':>5} {'calls/s':>9} "
        f"{'accounts/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'srv cpu':>7} {'cli cpu':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        accounts = f"{r['accounts_per_s']:>11,.0f}" if r["accounts_per_call"] else f"{'-':>11}"
        print(
            f"{r['name']:<38} {r['server']:<9} {r['client']:<12} {r['in_flight']:>5} "
            f"{r['calls_per_s']:>9,.0f} {accounts} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
            f"{r['server_cores']:>7.2f} {r['client_cores']:>7.2f}"
        )
    print()
    for s in report["scaling"]:
        print(
            f"--workers 2 vs 1, {s['case']} ({s['client']}): {s['ratio']:.2f}x "
            f"(calls per worker process: {s['calls_per_process']})"
        )
    for b in report["bounds"]:
        print(f"{b['case']}: {b['vs_bare_grpcio']:.2f}x the calls/s of a bare grpcio empty call")
    print()
    for t in report["targets"]:
        value = f"{t['measured']:,.0f}{t['unit']}" if t["unit"] == "/s" else f"{t['measured']:.2f}x"
        goal = f"{t['goal']:,.0f}{t['unit']}" if t["unit"] == "/s" else f"{t['goal']:.2f}x"
        verdict = "met" if t["met"] else "NOT met"
        print(f"target ({t['tool']}) {t['target']:<28} {value:>14}  goal >= {goal:<12} {verdict}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(args: argparse.Namespace) -> dict[str, Any]:
    workload = Workload()
    sizes: list[int] = args.sizes
    big = 1000 if 1000 in sizes else sizes[-1]
    batch = build_batch(workload, max([*sizes, args.columnar_accounts]))
    ghz = ensure_ghz() if args.ghz else None
    all_cases = cases(sizes, args.columnar_accounts, ghz is not None)
    with tempfile.TemporaryDirectory(prefix="healthscore-bench-") as tmp_name:
        tmp = Path(tmp_name)
        requests = {f"rows{n}": build_request_rows(batch.slice(0, n)) for n in sizes}
        requests["columnar"] = build_request_columns(batch.slice(0, args.columnar_accounts))
        payloads = {name: tmp / f"{name}.bin" for name in [*requests, "empty"]}
        for name, request in requests.items():
            payloads[name].write_bytes(request.SerializeToString())
        payloads["empty"].write_bytes(b"")
        write_protoset(tmp / "services.protoset")

        servers: dict[str, Server] = {}
        try:
            servers["w1"] = healthscore_server(tmp / "data", 1, tmp / "w1.log")
            version = activate_workload(servers["w1"].target, workload)
            servers["w2"] = healthscore_server(tmp / "data", 2, tmp / "w2.log")
            servers["naive"] = naive_server(tmp / "naive.log")
            # Every server scores alike (and the 2-worker one has the workload active).
            sample = requests[f"rows{big}"]
            expected = scored(servers["naive"].target, sample)
            for key in ("w1", "w2"):
                if scored(servers[key].target, sample) != expected:
                    raise SystemExit(f"{servers[key].name} and the naive server disagree")
            columnar = scored(servers["w1"].target, requests["columnar"])
            common = min(len(columnar), len(expected))
            if columnar[:common] != expected[:common]:
                raise SystemExit("the columnar form scores differently from the row form")

            load_before = load_average()
            for repeat in range(args.repeats):
                for case in all_cases:
                    server = servers[case.server]
                    server_cpu = server.cpu_seconds()
                    client_cpu = _children_cpu()
                    wall = time.perf_counter()
                    if case.tool == "ghz":
                        assert ghz is not None
                        result = run_ghz(
                            ghz, case, server.target, payloads[case.payload], args.seconds
                        )
                    else:
                        result = run_load(
                            case, server.target, payloads[case.payload], args.seconds, args.warmup
                        )
                    wall = time.perf_counter() - wall
                    # Cores busy over the whole run (warm-up and start-up included): the server
                    # near 1.0 per worker is server-bound; the client near 1.0 is client-bound.
                    result["server_cores"] = (server.cpu_seconds() - server_cpu) / wall
                    result["client_cores"] = (_children_cpu() - client_cpu) / wall
                    case.runs.append(result)
                    print(
                        f"[{repeat + 1}/{args.repeats}] {case.group:<9} {case.tool:<12} "
                        f"{case.name:<38} {result['calls_per_s']:>9,.0f} calls/s",
                        file=sys.stderr,
                    )
            load_after = load_average()
            per_process = servers["w2"].calls_per_process()
        finally:
            for server in servers.values():
                server.stop()

    scaling = []
    for tool in ("async python", "ghz"):
        for case in (c for c in all_cases if c.group == "2 workers" and c.tool == tool):
            one = find(all_cases, "1 worker", tool, lambda c, p=case.payload: c.payload == p)
            value = ratio(case, one, "calls_per_s")
            if value is not None:
                scaling.append(
                    {"case": case.name, "client": tool, "ratio": value,
                     "calls_per_process": per_process}
                )  # fmt: skip
    bare = find(all_cases, "naive", "async python", lambda c: c.method == BARE)
    bounds = []
    for name, case in (
        ("health Check (interceptors + log line)", find(all_cases, "1 worker", "async python",
                                                        lambda c: c.payload == "empty")),
        ("ScoreAccounts rows x1", find(all_cases, "1 worker", "async python",
                                       lambda c: c.payload == "rows1")),
    ):  # fmt: skip
        value = ratio(case, bare, "calls_per_s")
        if value is not None:
            bounds.append({"case": name, "vs_bare_grpcio": value})
    return {
        "machine": machine(),
        "build_profile": engine.BUILD_PROFILE,
        "load_before": load_before,
        "load_after": load_after,
        "workload": f"{len(workload.metric_names)} NUMBER attributes + a text segment per "
        f"account, {workload.dimensions} dimensions, two profiles; active version {version}",
        "repeats": args.repeats,
        "seconds": args.seconds,
        "ghz": GHZ_VERSION if ghz else None,
        "results": [
            {
                "name": c.name,
                "server": c.group,
                "client": c.tool,
                "in_flight": c.in_flight,
                "accounts_per_call": c.accounts,
                **{key: round(c.median(key), 3) for key in c.runs[0]},
                "runs": [{k: round(v, 3) for k, v in run.items()} for run in c.runs],
            }
            for c in all_cases
        ],
        "scaling": scaling,
        "bounds": bounds,
        "targets": summary(all_cases, big),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 100, 1000, 10_000],
        help="row-form batch sizes (comma-separated)",
    )
    parser.add_argument("--columnar-accounts", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="measured time per case")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-ghz", dest="ghz", action="store_false")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).parent / "results" / "service.json"
    )
    args = parser.parse_args(argv)
    if engine.BUILD_PROFILE != "release":
        print("warning: the extension is a debug build; run `make build` first", file=sys.stderr)
    report = run(args)
    print_tables(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
