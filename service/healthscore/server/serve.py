"""`healthscore serve`: configuration, the gRPC server (interceptors, the app's services, health,
reflection, TLS), and a process lifetime that drains in-flight calls on SIGTERM/SIGINT. With
`workers` > 1, `workers.supervise` forks that many server processes onto one port."""

from __future__ import annotations

import functools
import os
import select
import signal
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, overload

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from healthscore.server.auth import Authenticator, AuthInterceptor, load_tokens
from healthscore.server.config import CORE_THREADS_ENV, ServerConfig
from healthscore.server.decoding import DecodingInterceptor
from healthscore.server.limits import Limits, control_lane
from healthscore.server.rpc_log import LoggingInterceptor, configure_logging, tag_process
from healthscore.server.tls import check_certificate
from healthscore.server.workers import HANDLED_SIGNALS, RELOAD_SIGNAL, STOP_SIGNALS, supervise

if TYPE_CHECKING:
    # Imported when serving only: the CLI reads ServerConfig before the native core is built.
    from healthscore.server.app import App

log = structlog.get_logger("healthscore.server")


_KEEPALIVE_MS = 60_000
_KEEPALIVE_TIMEOUT_MS = 20_000
# A connection without a call for 10 minutes is closed (the client reconnects when it needs to).
_MAX_IDLE_MS = 600_000
# After max_connection_age, the calls on the connection get this long to finish.
_AGE_GRACE_MS = 300_000


_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _ms(seconds: float) -> int:
    return max(1, min(2**31 - 1, round(seconds * 1000)))


def build_server(
    config: ServerConfig, app: App, authenticator: Authenticator | None = None
) -> tuple[grpc.Server, int, health.HealthServicer]:
    """A server (not started) with the app's services, health (every service SERVING) and
    reflection, bound to `config.address`; returns it with the bound port (port 0 picks one)."""
    config.check()
    if config.tls_cert is not None:
        check_certificate(config.tls_cert)  # refuses an expired one, warns of one expiring
    if authenticator is None and config.tokens is not None:
        authenticator = Authenticator.from_file(config.tokens)
    if authenticator is None:
        log.warning("authentication_off", reason="no tokens file", host=config.host)
    limits = Limits(
        calls_per_caller=config.max_calls_per_caller,
        streams_per_caller=config.max_streams_per_caller,
        stream_idle_seconds=config.stream_idle_seconds,
    )
    auth = AuthInterceptor(authenticator, limits, control_lane())
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="rpc"),
        # Logging outermost, so that calls refused by authentication are logged too; requests
        # are parsed innermost, after authentication (`decoding.py`: never by gRPC itself).
        interceptors=[
            LoggingInterceptor(),
            auth,
            DecodingInterceptor(max_response_bytes=config.max_message_bytes),
        ],
        options=[
            ("grpc.max_send_message_length", config.max_message_bytes),
            ("grpc.max_receive_message_length", config.max_message_bytes),
            # Dead peers are found (a ping after a minute without traffic, 20 s to answer);
            # no connection lives forever; a handshake that stalls is dropped.
            ("grpc.keepalive_time_ms", _KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", _KEEPALIVE_TIMEOUT_MS),
            ("grpc.max_connection_idle_ms", _MAX_IDLE_MS),
            ("grpc.max_connection_age_ms", _ms(config.max_connection_age_seconds)),
            ("grpc.max_connection_age_grace_ms", _AGE_GRACE_MS),
            ("grpc.server_handshake_timeout_ms", _ms(config.handshake_timeout_seconds)),
            # Workers share the port on purpose; a single server refuses to, so that a second
            # server started on the same port fails instead of silently sharing it.
            ("grpc.so_reuseport", int(config.workers > 1)),
        ],
    )
    services = app.add_to_server(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
    every = [*services, health_name, reflection.SERVICE_NAME]

    def store_reachable(reachable: bool) -> None:
        """Every service's health (a replica that lost its database leaves the rotation until
        it is back); ignored once draining."""
        status = health_pb2.HealthCheckResponse.SERVING if reachable else _NOT_SERVING
        for name in ["", *every]:  # "": the whole server
            health_servicer.set(name, status)

    store_reachable(True)
    app.on_store_reachable(store_reachable)
    reflection.enable_server_reflection(every, server)
    try:
        if config.tls:
            port = server.add_secure_port(config.address, _credentials(config))
        else:
            port = server.add_insecure_port(config.address)
    except RuntimeError as exc:
        raise OSError(f"cannot listen on {config.address}: {exc}") from exc
    if port == 0:
        raise OSError(f"cannot listen on {config.address}")
    return server, port, health_servicer


def _credentials(config: ServerConfig) -> grpc.ServerCredentials:
    assert config.tls_cert is not None and config.tls_key is not None
    client_ca = config.tls_client_ca.read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(config.tls_key.read_bytes(), config.tls_cert.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=config.require_client_cert,
    )


def serve(config: ServerConfig, open_app: Callable[[Path], App] | None = None) -> int:
    """Runs the server until SIGTERM or SIGINT, then drains: health NOT_SERVING, in-flight calls
    get `grace_seconds` to finish, the app closes. Returns the exit code. Main thread only.
    With `workers` > 1, this process only supervises that many forked servers (`workers.py`).
    `open_app` (default `App.open`) lets tests serve their own servicers."""
    configure_logging()
    config.check()
    if config.tokens is not None:
        load_tokens(config.tokens)  # a broken file stops the start before the data dir is touched
    if config.workers > 1:
        return supervise(
            config, lambda worker_config, index: _serve_one(worker_config, open_app, index)
        )
    return _serve_one(config, open_app)


def _fix_core_threads(workers: int) -> None:
    """Sets the core's thread count (`HEALTHSCORE_THREADS`; the handler threads have their own,
    `HEALTHSCORE_RPC_THREADS`) when unset: the cores available, split between the workers.
    Unset, the core asks the OS for the available parallelism on every scoring call (cgroup
    files: ~40 us, more than scoring a small batch)."""
    if CORE_THREADS_ENV not in os.environ:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        os.environ[CORE_THREADS_ENV] = str(max(1, (cpus or 1) // workers))


def _serve_one(
    config: ServerConfig, open_app: Callable[[Path], App] | None, worker: int | None = None
) -> int:
    """One server process (`worker`: its index under a supervisor, named in every log line)."""
    if open_app is None:
        from healthscore.server.app import App

        open_app = functools.partial(
            App.open, history=config.history(), database_url=config.database_url
        )
    if worker is not None:
        tag_process(worker=worker, pid=os.getpid())
    _fix_core_threads(config.workers)
    # The kernel may deliver SIGTERM to any thread (a gRPC or core thread, say), and Python runs
    # its handler on the main thread only once that thread runs bytecode again, which it does
    # not while blocked waiting for the signal. So the wake-up is the interpreter's wakeup fd:
    # its C-level handler writes the signal's number to the pipe from whichever thread took the
    # signal. The Python handler is then empty: it only replaces the default action (exit), and
    # takes no lock (it runs between two bytecodes, possibly while the main thread holds one).
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)  # the wakeup fd must never block a signal handler

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """The work is done by the main thread, woken through the wakeup fd."""

    previous = {sig: signal.signal(sig, on_signal) for sig in HANDLED_SIGNALS}
    previous_wakeup = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    # A supervisor forks with these blocked, so that a signal sent before the handlers above
    # exist is not lost (it is delivered now), nor handled by the supervisor's own handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
    try:
        _run(config, open_app, wake_read)
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)
    log.info("server_stopped")
    return 0


def _run(config: ServerConfig, open_app: Callable[[Path], App], wake_read: int) -> None:
    """Serves until a stop signal's number arrives on `wake_read`, then drains and closes."""
    app = open_app(config.data_dir)
    try:
        authenticator = Authenticator.from_file(config.tokens) if config.tokens else None
        server, port, health_servicer = build_server(config, app, authenticator)
        reload = authenticator.reload if authenticator is not None else None
        server.start()
        log.info(
            "server_started",
            host=config.host,
            port=port,
            tls=config.tls,
            client_certs="required" if config.require_client_cert else "off",
            auth=config.tokens is not None,
            data_dir=str(config.data_dir),
            max_message_bytes=config.max_message_bytes,
        )
        signum = _wait_for_stop_signal(wake_read, on_reload=reload)
        log.info("shutdown_requested", signal=signal.Signals(signum).name)
        # Health first, listener later: load balancers see NOT_SERVING and stop sending while
        # calls still arrive and are served; then no new call, and those in flight finish.
        health_servicer.enter_graceful_shutdown()
        log.info("drain_started", drain_seconds=config.drain_seconds)
        if _wait_for_stop_signal(wake_read, config.drain_seconds, reload) is not None:
            log.info("drain_cut_short", reason="second stop signal")
        log.info("draining", grace_seconds=config.grace_seconds)
        server.stop(config.grace_seconds).wait()
    finally:
        app.close()


@overload
def _wait_for_stop_signal(
    wake_read: int, timeout: None = None, on_reload: Callable[[], object] | None = None
) -> int: ...
@overload
def _wait_for_stop_signal(
    wake_read: int, timeout: float, on_reload: Callable[[], object] | None = None
) -> int | None: ...
def _wait_for_stop_signal(
    wake_read: int, timeout: float | None = None, on_reload: Callable[[], object] | None = None
) -> int | None:
    """Blocks until the wakeup fd carries a stop signal's number (any other signal with a Python
    handler writes its number too) and returns it; None once `timeout` seconds passed. SIGHUP
    runs `on_reload` (re-reads the tokens file) and waits on."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if deadline is not None:
            ready, _, _ = select.select([wake_read], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
        for signum in os.read(wake_read, 64):
            if signum in STOP_SIGNALS:
                return signum
            if signum == RELOAD_SIGNAL:
                log.info("reload_requested", signal=signal.Signals(signum).name)
                if on_reload is not None:
                    on_reload()
