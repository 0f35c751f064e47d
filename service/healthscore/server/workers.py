"""`serve --workers N`: N server processes on one port, and the supervisor that forks them.

Why processes: a Python server handles calls on about one core (the GIL; grpcio runs each call's
bookkeeping in Python), so a machine's other cores serve only through other processes. The
workers share the listening port with SO_REUSEPORT (Linux), and the kernel spreads incoming
*connections* over them: one client channel (one connection) talks to one worker, so a client
that wants several cores opens several channels.

Why fork this early: gRPC core's threads and completion queues, the core's rayon pool, SQLite
connections and locks held by other threads do not survive a fork. The supervisor therefore forks
before any of them exists: it never starts a gRPC server or channel, never opens the store or
imports the native core (`pyarrow` alone starts a thread), and refuses to fork with more than its
one thread. Each worker then opens the data directory itself; the store is safe across processes,
and an activation made through one worker reaches the others through the registry's re-read of
the active version (at most half a second later).

Port 0 works: the supervisor binds a SO_REUSEPORT socket to pick the port (never listening on
it, so it takes no connections), holds it for its whole life so that the port stays reserved,
and gives the workers that port.

Lifetime: SIGTERM/SIGINT (and SIGHUP: re-read the tokens file) to the supervisor is forwarded to
every worker, which drains as a single
server does; the supervisor waits for them and exits 0 when all exited 0. A worker that ends on
its own (crash, kill, failed start) stops the others and the supervisor exits 1: the service is
either whole or down, and restarting is the init system's job. A worker that outlives
`drain_seconds` + `grace_seconds` + 10 s after the stop is killed. Workers get SIGTERM should
the supervisor die.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from types import FrameType
from typing import TYPE_CHECKING

import structlog

from healthscore.errors import HealthScoreError, InvalidInputError

if TYPE_CHECKING:
    from healthscore.server.config import ServerConfig

log = structlog.get_logger("healthscore.server")

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
# Re-read the tokens file; forwarded to the workers.
RELOAD_SIGNAL = signal.SIGHUP
HANDLED_SIGNALS = STOP_SIGNALS | {RELOAD_SIGNAL}
# Beyond the workers' own grace period: time to close the store and exit.
_KILL_MARGIN_S = 10.0
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1

# What a worker runs: the server on the given config; returns its exit code.
Worker = Callable[["ServerConfig", int], int]


def reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) to `host:port` with SO_REUSEPORT: port 0 picks a free port
    the workers can then share, and holding it keeps the port ours."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    return sock


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def supervise(config: ServerConfig, run_worker: Worker) -> int:
    """Forks `config.workers` processes, each running `run_worker(config with the shared port,
    index)`; waits for them and returns the exit code (see the module's docstring)."""
    if _threads() > 1:
        raise RuntimeError(
            "serve --workers must fork before any thread exists (gRPC, the core's pool, pyarrow); "
            f"this process has {_threads()}"
        )
    reservation = reserve_port(config.host, config.port)
    port: int = reservation.getsockname()[1]
    worker_config = replace(config, port=port)
    supervisor = os.getpid()
    children: dict[int, int] = {}  # pid: worker index
    stopping: list[str] = []  # why the workers were told to stop, first reason first

    def stop_workers(reason: str, signum: int = signal.SIGTERM) -> None:
        # Also a signal handler's body: no logging (the log writer's lock may be held by the
        # interrupted code); `_wait` logs the first reason.
        stopping.append(reason)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):  # exited; reaped by `_wait`
                os.kill(pid, signum)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if signum == RELOAD_SIGNAL:
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)
            return
        stop_workers(signal.Signals(signum).name, signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in HANDLED_SIGNALS}
    try:
        for index in range(config.workers):
            if stopping:
                break
            # Blocked across the fork: the child must not run `on_signal` (the supervisor's),
            # and keeps a signal pending until its server installs its own handlers.
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
            try:
                pid = os.fork()
            except OSError as exc:  # out of processes or memory: the ones started drain
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                log.error("fork_failed", worker=index, error=str(exc))
                stop_workers(f"fork of worker {index} failed")
                _wait(
                    children,
                    config.drain_seconds + config.grace_seconds + _KILL_MARGIN_S,
                    stopping,
                    stop_workers,
                )
                raise
            if pid == 0:
                _run_child(reservation, supervisor, run_worker, worker_config, index)
            children[pid] = index
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            log.info("worker_started", worker=index, pid=pid, port=port)
        log.info("workers_started", workers=len(children), pids=sorted(children), port=port)
        code = _wait(
            children,
            config.drain_seconds + config.grace_seconds + _KILL_MARGIN_S,
            stopping,
            stop_workers,
        )
    finally:
        reservation.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("workers_stopped", exit_code=code)
    return code


def _wait(
    children: dict[int, int],
    kill_after: float,
    stopping: list[str],
    stop_workers: Callable[[str], None],
) -> int:
    """Reaps the workers until none is left; the supervisor's exit code."""
    code = 0
    killed_at: float | None = None
    announced = False
    while children:
        if stopping and not announced:
            log.info("stopping_workers", reason=stopping[0], pids=sorted(children))
            announced = True
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            if stopping and killed_at is None:
                killed_at = time.monotonic() + kill_after
            if killed_at is not None and time.monotonic() > killed_at:
                log.error(
                    "workers_killed",
                    reason="still running after the grace period",
                    pids=sorted(children),
                )
                for child in children:
                    os.kill(child, signal.SIGKILL)
                killed_at = float("inf")
                code = 1
            time.sleep(_POLL_S)
            continue
        index = children.pop(pid)
        exit_code = os.waitstatus_to_exitcode(status)
        fields: dict[str, object] = {"worker": index, "pid": pid}
        if exit_code < 0:
            fields["signal"] = signal.Signals(-exit_code).name
        else:
            fields["exit_code"] = exit_code
        if stopping and exit_code == 0:
            log.info("worker_stopped", **fields)
            continue
        # A worker that ended on its own, or badly: the service is not whole any more.
        code = 1
        log.error("worker_died" if exit_code != 0 else "worker_exited", **fields)
        if not stopping:
            stop_workers(f"worker {index} (pid {pid}) ended")
    return code


def _run_child(
    reservation: socket.socket,
    supervisor: int,
    run_worker: Worker,
    config: ServerConfig,
    index: int,
) -> None:
    """The worker's side of the fork: never returns (`os._exit`), so that no code of the
    supervisor's (its `finally`, atexit hooks) runs twice."""
    code = 1
    try:
        reservation.close()
        _exit_with_parent(supervisor)
        code = run_worker(config, index)
    except InvalidInputError as exc:
        log.error("worker_failed", error=str(exc))
        code = 2
    except (HealthScoreError, OSError) as exc:
        log.error("worker_failed", error=str(exc))
    except BaseException:
        log.error("worker_failed", error=traceback.format_exc())
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _exit_with_parent(supervisor: int) -> None:
    """SIGTERM (a drain) when the supervisor dies, so that no worker is left orphaned."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != supervisor:  # died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
