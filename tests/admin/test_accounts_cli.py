"""`healthscore ingest --server` and `healthscore health` against an in-process server."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from healthscore import cli
from healthscore.server import rpc_log
from tests.e2e.conftest import Server, start_server

YESTERDAY = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(microsecond=0)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("COLUMNS", "200")
    rpc_log.configure_logging()
    served = start_server(tmp_path / "data")
    yield served
    served.stop()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    err = "".join(line for line in err.splitlines(True) if not line.startswith('{"timestamp"'))
    return code, out, err


def test_ingest_through_a_server_then_read_health(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    address = f"127.0.0.1:{server.port}"
    path = tmp_path / "data.csv"
    path.write_text(
        "id,engagement_score,usage_frequency\nacme,82,daily\ninitech,5,inactive\nbad,7,hourly\n"
    )
    errors = tmp_path / "errors.csv"
    summary = tmp_path / "summary.json"
    code, _, err = run(
        capsys,
        *("ingest", str(path), "--server", address, "--quiet"),
        *("--observe-time", YESTERDAY.isoformat(), "--errors", str(errors)),
        *("--summary-json", str(summary)),
    )
    assert code == cli.EXIT_OK, err
    report = json.loads(summary.read_text())
    assert (report["records"], report["rejected"], report["accounts"]) == (2, 1, 2)
    assert "hourly" in errors.read_text()

    code, out, _ = run(capsys, "health", "acme", "initech", "--server", address)
    assert code == 0
    assert "acme" in out and "good" in out and "initech" in out and "poor" in out
    code, out, _ = run(
        capsys, "health", "acme", "--view", "full", "--output", "json", "--server", address
    )
    assert code == 0
    [acme] = json.loads(out)
    assert acme["name"] == "accounts/acme"
    assert acme["account"]["attributes"]["engagement_score"]["number_value"] == 82
    code, _, err = run(capsys, "health", "nobody", "--server", address)
    assert code == 3
    assert "NOT_FOUND" in err and "accounts/nobody" in err


def test_ingest_needs_one_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.csv"
    path.write_text("id\nacme\n")
    code, _, err = run(capsys, "ingest", str(path))
    assert code == cli.EXIT_BAD_INPUT
    assert "--data-dir" in err
