"""Runs one client's interop test against a real `healthscore serve`.

    python clients/interop/harness.py -- COMMAND [ARG ...]

Starts the Python server on a free loopback port over a fresh data directory, with
authentication on (one token per role, made with `healthscore tokens add`), waits until it
logs `server_started`, then runs COMMAND with these variables set:

    HEALTHSCORE_ADDRESS        host:port of the server
    HEALTHSCORE_VIEWER_TOKEN   bearer token with the viewer role
    HEALTHSCORE_EDITOR_TOKEN   bearer token with the editor role
    HEALTHSCORE_ADMIN_TOKEN    bearer token with the admin role

The server is stopped with SIGTERM afterwards; the exit code is COMMAND's. When COMMAND fails,
the server's log is printed so the failing call can be found in it. Run it with the project's
virtualenv Python (the one `make setup` builds).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HEALTHSCORE = (sys.executable, "-m", "healthscore.cli")
START_TIMEOUT_SECONDS = 60.0
# The server drains for up to 10 s (its default grace period) before it stops.
STOP_TIMEOUT_SECONDS = 30.0
ROLES = ("viewer", "editor", "admin")


def add_token(tokens: Path, role: str) -> str:
    done = subprocess.run(
        [
            *HEALTHSCORE,
            *("tokens", "add", "--file", str(tokens)),
            *("--name", f"interop-{role}", "--role", role),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def wait_for_port(server: subprocess.Popen[str], log: list[str]) -> int:
    """The port from the server's `server_started` line; a thread keeps reading the log into
    `log` so the server never blocks on a full pipe. Fails when the server exits or stays
    silent past the start timeout."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "server_started":
            return int(record["port"])
    raise RuntimeError("the server did not start:\n" + "".join(log))


def main(argv: list[str]) -> int:
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        print(__doc__, file=sys.stderr)
        return 2
    command = argv[argv.index("--") + 1 :]
    with tempfile.TemporaryDirectory(prefix="healthscore-interop-") as scratch:
        tokens = Path(scratch) / "tokens.yaml"
        env = dict(os.environ)
        for role in ROLES:
            env[f"HEALTHSCORE_{role.upper()}_TOKEN"] = add_token(tokens, role)
        server = subprocess.Popen(
            [
                *HEALTHSCORE,
                *("serve", "--host", "127.0.0.1", "--port", "0", "--drain-seconds", "0"),
                *("--data-dir", str(Path(scratch) / "data"), "--tokens", str(tokens)),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        log: list[str] = []
        try:
            port = wait_for_port(server, log)
            env["HEALTHSCORE_ADDRESS"] = f"127.0.0.1:{port}"
            code = subprocess.run(command, env=env, check=False).returncode
        finally:
            server.terminate()
            try:
                server.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                print("interop: the server did not stop on SIGTERM; log:", file=sys.stderr)
                sys.stderr.writelines(log)
                raise
        if code != 0:
            print(f"interop: {' '.join(command)} exited {code}; server log:", file=sys.stderr)
            sys.stderr.writelines(log)
        return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
