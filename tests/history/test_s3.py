"""The same table on S3-compatible object storage: a local S3 server (moto) started by the test on
a free loopback port. If it cannot start, the test fails: it is never skipped."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from healthscore.history import trends
from healthscore.history.snapshot import History, HistoryConfig
from tests.history.support import CountingSource


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def s3_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    log = (tmp_path / "moto.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "moto.log").read_text()
                assert time.monotonic() < deadline, "the local S3 server did not start"
                time.sleep(0.1)
        request = urllib.request.Request(endpoint + "/history-bucket", method="PUT")
        urllib.request.urlopen(request, timeout=5).close()
        yield {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            # One writer per table (the scheduler's lock): no locking service needed.
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_history_on_s3_snapshots_reads_compacts_and_is_read_by_polars(
    tmp_path: Path, s3_server: dict[str, str]
) -> None:
    config = HistoryConfig(uri="s3://history-bucket/prod", storage_options=s3_server)
    source = CountingSource(300)
    history = History(config, tmp_path, source)
    today = history.today()
    last_month_end = today.replace(day=1) - dt.timedelta(days=1)
    days = [last_month_end - dt.timedelta(days=1), last_month_end, today]
    for day in days:
        history.snapshot(day)
    source.health = type(source.health)(300, version=2)
    history.snapshot(today)  # replaced, not duplicated
    assert history.table.days() == days
    closed = history.table.months()[0]
    assert (closed.files, closed.daily_files) == (1, 0)  # a month over is clustered
    assert not (tmp_path / "history").exists()  # nothing local
    span = trends.check_range(
        days[0], today, trends.Granularity.DAY, today=today, retention_days=400
    )
    points = trends.trends(history.table, ["acct-00000042"], span)["acct-00000042"]
    assert [p.start for p in points] == days
    assert points[-1].version == 2 and points[0].version == 1
    frame = pl.read_delta("s3://history-bucket/prod/health_daily", storage_options=s3_server)
    assert frame.height == 300 * len(days)
    assert frame.filter(pl.col("day") == today)["version"].unique().to_list() == [2]
    assert os.environ.get("AWS_ENDPOINT_URL") != s3_server["AWS_ENDPOINT_URL"]
