"""`healthscore serve`'s configuration: `ServerConfig`, its `HEALTHSCORE_*` variables, and how flags
and variables combine. No gRPC here: the CLI builds `serve`'s flags from it on every start."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthscore.errors import InvalidInputError, Violation

if TYPE_CHECKING:
    from healthscore.history.snapshot import HistoryConfig

MIB = 1024 * 1024
MAX_WORKERS = 256
# The core's thread count variable (`health_core::pool::THREADS_ENV`).
CORE_THREADS_ENV = "HEALTHSCORE_THREADS"


@dataclass(frozen=True)
class ServerConfig:
    """How one server process runs. Every field has a `--flag` and a `HEALTHSCORE_*` variable
    (`ENV_VARS`); a flag wins over the variable, the variable over the default."""

    host: str = "127.0.0.1"
    port: int = 50051
    # Relative to the working directory, like every path given on the command line.
    data_dir: Path = Path("healthscore-data")
    # YAML file of token hashes (see `auth`); without one, authentication is off (loopback only).
    tokens: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # CA bundle that client certificates must chain to; needs `require_client_cert` (grpcio
    # cannot make them optional).
    tls_client_ca: Path | None = None
    require_client_cert: bool = False
    # Both directions. gRPC's own default (4 MiB in, unlimited out) is too small for bulk scoring.
    max_message_bytes: int = 64 * MIB
    # After SIGTERM/SIGINT: seconds health reports NOT_SERVING while the listener still takes
    # calls (load balancers stop sending), then seconds in-flight calls get to finish before
    # they are cancelled.
    drain_seconds: float = 5.0
    grace_seconds: float = 10.0
    # Concurrent calls being handled; a streaming call holds one thread for its whole life.
    # Health, reflection and refusals have their own few threads (`limits.CONTROL_THREADS`).
    threads: int = 16
    # What one caller (one token; `local` with authentication off) may hold at once: calls,
    # queued or running, streams included, and streaming calls. Past either: RESOURCE_EXHAUSTED.
    max_calls_per_caller: int = 64
    max_streams_per_caller: int = 8
    # A call waiting longer than this for its next request message is cancelled.
    stream_idle_seconds: float = 120.0
    # A connection is closed (GOAWAY, then its calls get 5 minutes) after this long, so that
    # none is held forever and load spreads again; a connection that has not finished its TLS
    # and HTTP/2 handshake after `handshake_timeout_seconds` is dropped.
    max_connection_age_seconds: float = 3600.0
    handshake_timeout_seconds: float = 10.0
    # Server processes sharing the port (SO_REUSEPORT; Linux), each with `threads` threads: one
    # Python process handles calls on about one core.
    workers: int = 1
    # Stored history (`healthscore.history`): a folder or `s3://bucket/prefix` (credentials and
    # endpoint from the AWS_* variables); unset: `<data_dir>/history`.
    history_uri: str | None = None
    # When the daily snapshot is taken, `HH:MM` in `snapshot_zone`, or `off` (no scheduler).
    snapshot_time: str = "00:15"
    snapshot_zone: str = "UTC"
    # Days of history kept; older days are deleted after each snapshot.
    history_retention_days: int = 400
    # The profile store: unset, the SQLite file `<data_dir>/healthscore.db`; a `postgresql://`
    # URL, a PostgreSQL database that several replicas share (`store/postgres.py`).
    database_url: str | None = None

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def check(self) -> None:
        """InvalidInputError listing every inconsistent or unsafe setting."""
        problems: list[Violation] = []
        if not 0 <= self.port <= 65535:
            problems.append(
                Violation("port", f"must be 0-65535 (0: any free port), not {self.port}")
            )
        if self.tokens is None and not is_loopback(self.host):
            problems.append(
                Violation(
                    "host",
                    f"refusing to listen on {self.host} with authentication off: give a tokens "
                    "file (--tokens / HEALTHSCORE_TOKENS) or bind a loopback address",
                )
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            problems.append(Violation("tls_cert", "TLS needs both a certificate and a key"))
        if self.tls_client_ca is not None and self.tls_cert is None:
            problems.append(Violation("tls_client_ca", "client certificates need TLS (a cert)"))
        if self.tls_client_ca and self.tls_cert and not self.require_client_cert:
            # grpcio can require client certificates (and verify them) or not ask for one: it
            # cannot ask for one, verify it if given and let callers without one in.
            problems.append(
                Violation(
                    "tls_client_ca",
                    "client certificates cannot be optional: add --require-client-cert "
                    "(HEALTHSCORE_REQUIRE_CLIENT_CERT) to require and verify them, or drop "
                    "--tls-client-ca",
                )
            )
        if self.require_client_cert and self.tls_client_ca is None:
            problems.append(
                Violation("require_client_cert", "needs the client CA bundle (tls_client_ca)")
            )
        if self.max_message_bytes <= 0:
            problems.append(Violation("max_message_bytes", "must be positive"))
        if self.drain_seconds < 0:
            problems.append(Violation("drain_seconds", "must not be negative"))
        if self.grace_seconds < 0:
            problems.append(Violation("grace_seconds", "must not be negative"))
        if self.threads < 1:
            problems.append(Violation("threads", "must be at least 1"))
        for name in ("max_calls_per_caller", "max_streams_per_caller"):
            if getattr(self, name) < 1:
                problems.append(Violation(name, "must be at least 1"))
        for name in ("stream_idle_seconds", "max_connection_age_seconds"):
            if getattr(self, name) <= 0:
                problems.append(Violation(name, "must be positive"))
        if not 0 < self.handshake_timeout_seconds <= 3600:
            problems.append(Violation("handshake_timeout_seconds", "must be 0-3600 s, not 0"))
        if not 1 <= self.workers <= MAX_WORKERS:
            problems.append(Violation("workers", f"must be 1-{MAX_WORKERS}"))
        if self.snapshot_time != "off" and _time_of_day(self.snapshot_time) is None:
            problems.append(
                Violation("snapshot_time", f"{self.snapshot_time!r} is not HH:MM (or off)")
            )
        try:
            zoneinfo.ZoneInfo(self.snapshot_zone)
        except (KeyError, ValueError):
            problems.append(Violation("snapshot_zone", f"unknown time zone {self.snapshot_zone!r}"))
        if self.history_retention_days < 1:
            problems.append(Violation("history_retention_days", "must be at least 1"))
        if problems:
            raise InvalidInputError(
                "server configuration: " + "; ".join(str(p) for p in problems), problems
            )

    def history(self) -> HistoryConfig:
        """The history's configuration (S3 settings: every AWS_* variable)."""
        from healthscore.history.snapshot import HistoryConfig

        remote = self.history_uri is not None and "://" in self.history_uri
        when = _time_of_day(self.snapshot_time)
        return HistoryConfig(
            uri=self.history_uri,
            storage_options=(
                {k: v for k, v in os.environ.items() if k.startswith("AWS_")} if remote else {}
            ),
            snapshot_time=when or dt.time(0, 15),
            zone=self.snapshot_zone,
            retention_days=self.history_retention_days,
            scheduler=when is not None,
        )


def _time_of_day(text: str) -> dt.time | None:
    try:
        when = dt.time.fromisoformat(text)
    except ValueError:
        return None
    return when if len(text) == 5 else None


ENV_VARS: dict[str, str] = {
    f.name: f"HEALTHSCORE_{f.name.upper()}" for f in fields(ServerConfig) if f.name != "threads"
}
# Not HEALTHSCORE_THREADS: that one is the core's thread count (CORE_THREADS_ENV).
ENV_VARS["threads"] = "HEALTHSCORE_RPC_THREADS"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def config_from(flags: Mapping[str, Any], environ: Mapping[str, str]) -> ServerConfig:
    """The configuration from flags (None: not given) with `HEALTHSCORE_*` variables as fallback."""
    values: dict[str, Any] = {}
    for field in fields(ServerConfig):
        value = flags.get(field.name)
        if value is None and ENV_VARS[field.name] in environ:
            value = _from_env(field.name, environ[ENV_VARS[field.name]])
        if value is not None:
            values[field.name] = value
    config = ServerConfig(**values)
    config.check()
    return config


def _flag(text: str) -> bool:
    if text.lower() not in {"1", "true", "yes", "0", "false", "no"}:
        raise ValueError(text)
    return text.lower() in {"1", "true", "yes"}


_PARSERS: dict[str, Callable[[str], Any]] = {
    "host": str,
    "port": int,
    "data_dir": Path,
    "tokens": Path,
    "tls_cert": Path,
    "tls_key": Path,
    "tls_client_ca": Path,
    "require_client_cert": _flag,
    "max_message_bytes": int,
    "drain_seconds": float,
    "grace_seconds": float,
    "threads": int,
    "max_calls_per_caller": int,
    "max_streams_per_caller": int,
    "stream_idle_seconds": float,
    "max_connection_age_seconds": float,
    "handshake_timeout_seconds": float,
    "workers": int,
    "history_uri": str,
    "snapshot_time": str,
    "snapshot_zone": str,
    "history_retention_days": int,
    "database_url": str,
}


def _from_env(name: str, text: str) -> Any:
    try:
        return _PARSERS[name](text)
    except ValueError:
        raise InvalidInputError(f"{ENV_VARS[name]}={text!r}: not a valid {name}") from None
