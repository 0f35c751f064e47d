"""`healthscore serve` with `HEALTHSCORE_WORKERS=2`: two processes on one port, both serving, an
activation through one seen through the other, SIGTERM draining both, a dead worker reported
and the service stopped. (The `--workers` flag is the same setting.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from healthscore.errors import InvalidInputError
from healthscore.server.config import ServerConfig, config_from
from healthscore.server.serve import build_server
from healthscore_client.v1 import (
    profile_service_pb2 as pb,
)
from healthscore_client.v1 import (
    profile_service_pb2_grpc,
    scoring_pb2,
    scoring_service_pb2_grpc,
)
from tests.server.fake_app import SCORE, FakeApp
from tests.server.test_process import HEALTHSCORE, ROOT, SERVE_FAKE, Process

pytestmark = pytest.mark.timeout(90)

TWO_WORKERS = {"HEALTHSCORE_WORKERS": "2"}
MD_DRAFT = "models/multidimensional/draft"
V1 = "models/multidimensional/versions/1"
V2 = "models/multidimensional/versions/2"


@pytest.fixture
def servers() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()  # the workers get SIGTERM (parent-death signal)
            process.popen.wait()


def start(argv: list[str], servers: list[Process]) -> tuple[Process, int, set[int]]:
    """A supervisor with two workers; returns it, the port and the workers' pids once both
    serve."""
    process = Process(argv, env=TWO_WORKERS)
    servers.append(process)
    pids = set(process.wait_for("workers_started")["pids"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        started = [line for line in process.lines if line["event"] == "server_started"]
        if len(started) == 2:
            break
        assert process.popen.poll() is None, process.lines
        time.sleep(0.02)
    assert {line["pid"] for line in started} == pids
    ports = {line["port"] for line in started}
    assert len(ports) == 1
    return process, ports.pop(), pids


def own_channel(port: int) -> grpc.Channel:
    """A channel with its own connection (gRPC shares connections between channels to the same
    address otherwise): the kernel picks one worker per connection."""
    return grpc.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    )


def rpc_lines(process: Process) -> list[dict[str, object]]:
    return [line for line in process.lines if line["event"] == "rpc"]


def worker_of(process: Process, channel: grpc.Channel, method: str, request: bytes) -> int:
    """The pid of the worker behind `channel`: a call's log line is written before its response
    is sent, so the newest line (once read) is that call's."""
    before = len(rpc_lines(process))
    channel.unary_unary(method)(request, timeout=10)
    deadline = time.monotonic() + 10
    while len(rpc_lines(process)) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = rpc_lines(process)
    assert len(lines) == before + 1
    pid = lines[-1]["pid"]
    assert isinstance(pid, int)
    return pid


def channels_per_worker(
    process: Process, port: int, pids: set[int], method: str, request: bytes
) -> dict[int, grpc.Channel]:
    """One channel to each worker (new connections until every worker has one)."""
    found: dict[int, grpc.Channel] = {}
    for _ in range(40):
        channel = own_channel(port)
        pid = worker_of(process, channel, method, request)
        if pid in found:
            channel.close()
        else:
            found[pid] = channel
        if set(found) == pids:
            return found
    raise AssertionError(f"40 connections reached only workers {set(found)} of {pids}")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def score_ruleset(channel: grpc.Channel) -> str:
    request = scoring_pb2.ScoreAccountsRequest()
    request.accounts.add(id="a").attributes["engagement_score"].number_value = 80
    response = scoring_service_pb2_grpc.ScoringServiceStub(channel).ScoreAccounts(
        request, timeout=10
    )
    assert len(response.results) == 1
    return response.ruleset


def test_two_workers_serve_one_port_and_share_activations(
    tmp_path: Path, servers: list[Process]
) -> None:
    argv = [*HEALTHSCORE, "serve", "--port", "0", "--data-dir", str(tmp_path / "data")]
    process, port, pids = start(argv, servers)
    supervisor = process.popen.pid
    assert supervisor not in pids
    # Forked before gRPC or any pool started: the supervisor still has its one thread.
    assert thread_count(supervisor) == 1
    request = scoring_pb2.ScoreAccountsRequest().SerializeToString()
    channels = channels_per_worker(
        process, port, pids, "/healthscore.v1.ScoringService/ScoreAccounts", request
    )
    first, second = (channels[pid] for pid in sorted(pids))
    assert score_ruleset(first) == score_ruleset(second) == V1

    profiles = profile_service_pb2_grpc.ProfileServiceStub(first)
    assert profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT), timeout=10).name == V2
    profiles.ActivateVersion(pb.ActivateVersionRequest(name=V2), timeout=10)
    activated = time.monotonic()
    assert score_ruleset(first) == V2
    while score_ruleset(second) != V2:
        assert time.monotonic() - activated < 5, "the other worker kept scoring with version 1"
        time.sleep(0.05)
    # The registry re-reads the active version at most every 0.5 s; calls on a loaded machine
    # (2 shared cores) add their own latency on top.
    assert time.monotonic() - activated < 2.0
    for channel in channels.values():
        channel.close()

    assert process.stop() == 0
    stopped = {line["pid"] for line in process.lines if line["event"] == "server_stopped"}
    assert stopped == pids
    assert process.lines[-1]["event"] == "workers_stopped"
    assert process.lines[-1]["exit_code"] == 0


def test_sigterm_drains_calls_in_flight_in_both_workers(
    tmp_path: Path, servers: list[Process]
) -> None:
    argv = [*SERVE_FAKE, "--port", "0", "--data-dir", str(tmp_path), "--grace-seconds", "8"]
    process, port, pids = start(argv, servers)
    channels = channels_per_worker(process, port, pids, SCORE, b"")
    slow = [
        channel.unary_unary(SCORE).future(b"slow:2", timeout=30) for channel in channels.values()
    ]
    time.sleep(0.5)  # both calls reach their worker (the channels are connected)
    signalled = time.monotonic()
    process.popen.send_signal(signal.SIGTERM)
    for call in slow:
        assert call.result()  # completed, not cancelled
    assert process.popen.wait(timeout=15) == 0
    assert time.monotonic() - signalled < 8
    slow_lines = [line for line in rpc_lines(process) if line.get("duration_ms", 0) >= 2000]  # type: ignore[operator]
    assert {line["pid"] for line in slow_lines} == pids
    assert all(line["code"] == "OK" for line in slow_lines)
    events = [line["event"] for line in process.lines]
    assert events.count("worker_stopped") == 2 and events[-1] == "workers_stopped"
    for channel in channels.values():
        channel.close()


def test_a_dead_worker_is_reported_and_stops_the_service(
    tmp_path: Path, servers: list[Process]
) -> None:
    argv = [*SERVE_FAKE, "--port", "0", "--data-dir", str(tmp_path)]
    process, _, pids = start(argv, servers)
    victim, survivor = sorted(pids)
    os.kill(victim, signal.SIGKILL)
    assert process.popen.wait(timeout=30) == 1
    process.stop()
    died = process.wait_for("worker_died")
    assert died["pid"] == victim and died["signal"] == "SIGKILL"
    stopped = [line for line in process.lines if line["event"] == "server_stopped"]
    assert [line["pid"] for line in stopped] == [survivor]  # drained, not killed
    assert process.lines[-1] == {**process.lines[-1], "event": "workers_stopped", "exit_code": 1}


def test_a_taken_port_stops_the_start_before_any_fork(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*HEALTHSCORE, "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **TWO_WORKERS},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "worker_started" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_single_server_does_not_share_its_port(tmp_path: Path) -> None:
    config = ServerConfig(port=0, data_dir=tmp_path)
    first, port, _ = build_server(config, FakeApp(tmp_path))  # type: ignore[arg-type]
    first.start()
    try:
        with pytest.raises(OSError, match="cannot listen"):
            build_server(ServerConfig(port=port, data_dir=tmp_path), FakeApp(tmp_path))  # type: ignore[arg-type]
    finally:
        first.stop(None)


@pytest.mark.parametrize("value", ["0", "257", "two"])
def test_bad_worker_counts_are_refused(value: str) -> None:
    with pytest.raises(InvalidInputError, match="workers"):
        config_from({}, {"HEALTHSCORE_WORKERS": value})


def test_the_supervisor_refuses_to_fork_with_threads_running(tmp_path: Path) -> None:
    script = (
        "import threading, time\n"
        "from healthscore.server import config, workers\n"
        "threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n"
        "settings = config.ServerConfig(port=0, data_dir=__import__('pathlib').Path('unused'), "
        "workers=2)\n"
        "workers.supervise(settings, lambda settings, index: 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "must fork before any thread exists" in result.stderr
    assert "this process has 2" in result.stderr
