"""A real PostgreSQL for the tests: `make test` starts a throwaway server, CI does the same.

`HEALTHSCORE_TEST_DATABASE_URL` set: the tests use that server (its `postgres` database, or the
one the URL names, for administration) and fail if it is unreachable. Unset: the session starts
its own server from the machine's binaries (`initdb`, `pg_ctl` on PATH, in /usr/local/bin or
Debian's /usr/lib/postgresql/*/bin) in a temporary directory on a free loopback port, as the
`postgres` or `nobody` user when run as root (PostgreSQL refuses root), and removes it at the end.
No binaries: the tests fail and say how to install them. Each test gets a database of its own.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

URL_ENV = "HEALTHSCORE_TEST_DATABASE_URL"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them (Debian/Ubuntu: "
    "`apt-get install postgresql`; macOS: `brew install postgresql`) or point "
    f"{URL_ENV} at a server where this user may create databases."
)


def find_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl, newest Debian version last resort."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    candidates = ["/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway cluster: `start()`, `stop()` (and start again, same data and port)."""

    def __init__(self) -> None:
        binaries = find_binaries()
        if binaries is None:
            pytest.fail(INSTALL_HINT, pytrace=False)
        self._bin = binaries
        self._dir = Path(tempfile.mkdtemp(prefix="healthscore-pg-"))
        self._user: str | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                with contextlib.suppress(KeyError):
                    entry = pwd.getpwnam(name)
                    self._user = name
                    os.chown(self._dir, entry.pw_uid, entry.pw_gid)
                    break
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", "data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N")

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [str(self._bin / tool), *args],
            cwd=self._dir,
            user=self._user,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log = self._dir / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            pytest.fail(f"{tool} failed: {result.stderr}{result.stdout}\n{tail}", pytrace=False)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._dir}"
            # A throwaway cluster: the server itself is never crashed, so its own disk syncs
            # only slow the tests down (client kills stay as they are).
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=200"
        )
        self._run("pg_ctl", "-D", "data", "-l", "server.log", "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", "data", "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        """Stops the server if it runs (a test may have stopped it) and deletes its files."""
        subprocess.run(
            [str(self._bin / "pg_ctl"), "-D", "data", "-m", "immediate", "-w", "stop"],
            cwd=self._dir,
            user=self._user,
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(self._dir, ignore_errors=True)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def with_database(url: str, name: str) -> str:
    """`url` (a `postgresql://` URL) naming database `name` instead."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        pytest.fail(f"{URL_ENV} must be a postgresql:// URL, got {parts.scheme!r}", pytrace=False)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A URL of a server where the tests may create databases."""
    url = os.environ.get(URL_ENV)
    if url:
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as exc:
            pytest.fail(f"{URL_ENV} is set but the server is unreachable: {exc}", pytrace=False)
        yield url
        return
    with running_server() as server:
        yield server.url


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    name = f"healthscore_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}".encode())
    try:
        yield with_database(admin_url, name)
    finally:
        # A test that stopped the server and failed leaves nothing to drop.
        with (
            contextlib.suppress(psycopg.OperationalError),
            psycopg.connect(admin_url, autocommit=True) as conn,
        ):
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """An empty database of this test's own."""
    with fresh_database(postgres_admin_url) as url:
        yield url
