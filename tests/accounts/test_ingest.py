"""`healthscore ingest`: account data files into a data directory's account store, rescored at
once; bad rows to the errors file; a second run of the same files changes nothing; object storage
through pyarrow.fs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from healthscore import cli
from healthscore.server.app import App
from healthscore_client.v1 import account_pb2, health_pb2, scoring_pb2
from tests.accounts.support import opened

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
YESTERDAY = NOW - dt.timedelta(days=1)
LAST_WEEK = NOW - dt.timedelta(days=7)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    App.open(path).close()
    return path


def ingest(data_dir: Path, *inputs: Path | str, extra: tuple[str, ...] = ()) -> dict:
    summary = data_dir.parent / "summary.json"
    argv = ["ingest", *map(str, inputs), "--data-dir", str(data_dir), "--quiet"]
    argv += ["--errors", str(data_dir.parent / "errors.csv"), "--summary-json", str(summary)]
    assert cli.main([*argv, *extra]) == cli.EXIT_OK
    return json.loads(summary.read_text())


def health(data_dir: Path, *ids: str, view: int = scoring_pb2.SCORE_VIEW_BASIC):
    with opened(data_dir, NOW) as (_, data):
        return data.get(list(ids), view, [f"names[{i}]" for i in range(len(ids))])


def errors(data_dir: Path) -> list[dict[str, str]]:
    with (data_dir.parent / "errors.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_parquet_with_observe_times_is_stored_and_rescored(data_dir, tmp_path):
    table = pa.table(
        {
            "id": ["acme", "acme", "initech"],
            "observe_time": pa.array([LAST_WEEK, YESTERDAY, YESTERDAY], pa.timestamp("us", "UTC")),
            "engagement_score": [5.0, 82.0, 4.0],
            "usage_frequency": pa.array(["daily", None, "inactive"]).dictionary_encode(),
            "parent_id": ["holding", None, ""],
            "contract_value": [1000, None, 20],
            "status": ["active", None, "cancelled"],
            "last_touch": pa.array([YESTERDAY, None, None], pa.timestamp("ms", "UTC")),
        }
    )
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    summary = ingest(data_dir, path)
    assert (summary["records"], summary["rejected"]) == (3, 0)
    acme, initech = health(data_dir, "acme", "initech", view=scoring_pb2.SCORE_VIEW_FULL)
    assert acme.health.rank == health_pb2.HEALTH_RANK_GOOD
    assert acme.data_time.ToDatetime(dt.UTC) == YESTERDAY
    account = acme.account
    assert account.attributes["engagement_score"].number_value == 82.0  # the later record
    assert account.attributes["usage_frequency"].text_value == "daily"  # kept from the earlier
    assert account.attributes["last_touch"].time_value.ToDatetime(dt.UTC) == YESTERDAY
    assert (account.parent_id, account.contract_value) == ("holding", 1000)
    assert initech.health.unknown_reason == health_pb2.UNKNOWN_REASON_CANCELLED
    assert not initech.account.parent_id
    assert initech.account.status == account_pb2.ACCOUNT_STATUS_CANCELLED


def test_csv_bad_rows_go_to_the_errors_file_and_the_rest_is_stored(data_dir, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "id,engagement_score,usage_frequency,status,observe_time\n"
        f"good,82,daily,active,{YESTERDAY.isoformat()}\n"
        f"bad-number,eighty,daily,,{YESTERDAY.isoformat()}\n"
        ",50,daily,,\n"
        "no-time,50,weekly,,\n"
        f"bad-status,50,weekly,paused,{YESTERDAY.isoformat()}\n"
    )
    summary = ingest(data_dir, path)
    assert summary["records"] == 1
    rows = {(e["row"], e["id"]): e["reason"] for e in errors(data_dir)}
    assert set(rows) == {("2", "bad-number"), ("3", ""), ("4", "no-time"), ("5", "bad-status")}
    assert "status" in rows[("5", "bad-status")]
    assert "engagement_score" in rows[("2", "bad-number")]
    assert "observe_time" in rows[("4", "no-time")]
    [good] = health(data_dir, "good")
    assert good.health.rank == health_pb2.HEALTH_RANK_GOOD


def test_observe_time_flag_fills_files_without_one_and_reruns_change_nothing(data_dir, tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        json.dumps({"id": "acme", "engagement_score": 82, "usage_frequency": "daily"})
        + "\n"
        + json.dumps({"id": "globex", "engagement_score": 3})
        + "\n"
    )
    first = ingest(data_dir, path, extra=("--observe-time", YESTERDAY.isoformat()))
    assert first["records"] == 2
    with opened(data_dir, NOW) as (app, _):
        assert app.account_store is not None
        counts = app.account_store.count()
        before = app.account_store.records(["acme", "globex"], until=10**18)
    again = ingest(data_dir, path, extra=("--observe-time", YESTERDAY.isoformat()))
    assert again["records"] == 2
    with opened(data_dir, NOW) as (app, _):
        assert app.account_store is not None
        assert app.account_store.count() == counts == (2, 2)
        # The same bytes: no record appended to itself.
        assert app.account_store.records(["acme", "globex"], until=10**18) == before


def test_a_file_without_observe_times_and_no_flag_rejects_every_row(data_dir, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("id,engagement_score\nacme,82\n")
    summary = ingest(data_dir, path)
    assert (summary["records"], summary["rejected"]) == (0, 1)


def test_object_storage_uris_are_read_through_pyarrow_fs(data_dir, tmp_path):
    folder = tmp_path / "bucket" / "day"
    folder.mkdir(parents=True)
    pq.write_table(
        pa.table({"id": ["a", "b"], "engagement_score": [90.0, 1.0]}), folder / "part-0.parquet"
    )
    summary = ingest(data_dir, f"file://{folder}", extra=("--observe-time", YESTERDAY.isoformat()))
    assert summary["records"] == 2
    a, b = health(data_dir, "a", "b")
    assert (a.health.rank, b.health.rank) == (
        health_pb2.HEALTH_RANK_GOOD,
        health_pb2.HEALTH_RANK_POOR,
    )


def test_values_the_core_refuses_reject_their_rows_only(data_dir, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "id,engagement_score,usage_frequency\ngood,82,daily\nlevel,82,hourly\ninfinite,inf,daily\n"
    )
    summary = ingest(data_dir, path, extra=("--observe-time", YESTERDAY.isoformat()))
    assert (summary["records"], summary["rejected"]) == (1, 2)
    rows = {e["id"]: e["reason"] for e in errors(data_dir)}
    assert set(rows) == {"level", "infinite"}
    assert "usage_frequency" in rows["level"] and "engagement_score" in rows["infinite"]
    assert health(data_dir, "good")[0].health.rank == health_pb2.HEALTH_RANK_GOOD


def test_observe_times_outside_the_window_are_refused_as_the_service_refuses_them(
    data_dir, tmp_path
):
    path = tmp_path / "data.csv"
    path.write_text(
        "id,engagement_score,observe_time\n"
        f"good,82,{YESTERDAY.isoformat()}\n"
        "ancient,82,1960-01-01T00:00:00+00:00\n"
        f"future,82,{(NOW + dt.timedelta(days=1)).isoformat()}\n"
    )
    summary = ingest(data_dir, path)
    assert (summary["records"], summary["rejected"]) == (1, 2)
    rows = {e["id"]: e["reason"] for e in errors(data_dir)}
    assert set(rows) == {"ancient", "future"}
    assert rows["ancient"].startswith("observe_time: before ")
    assert rows["future"] == "observe_time: in the future (beyond the clock skew)"


def test_the_progress_bar_is_named_after_the_job(data_dir, tmp_path):
    from rich.console import Console

    from healthscore.jobs import ingest as job

    path = tmp_path / "data.csv"
    path.write_text("id,engagement_score\nacme,82\n")
    screen = io.StringIO()
    config = job.IngestConfig([str(path)], data_dir, tmp_path / "e.csv", observe_time=YESTERDAY)
    with opened(data_dir, NOW) as (_, data):
        console = Console(file=screen, force_terminal=True, width=150)
        assert job.run(config, job.LocalTarget(data), console=console).records == 1
    text = screen.getvalue()
    assert "ingest" in text and "100%" in text
    assert "rescore" not in text


def test_the_summary_counts_the_values_of_the_stored_rows_exactly(data_dir, tmp_path):
    path = tmp_path / "data.csv"
    path.write_text(
        "id,engagement_score,usage_frequency,active_users\n"
        "one-value,82,,\n"
        "refused-by-the-core,82,hourly,3\n"  # an undeclared level: three values not stored
        "bad-number,eighty,daily,\n"  # refused when read: two values not stored
        "two-values,82,daily,\n"
    )
    summary = ingest(data_dir, path, extra=("--observe-time", YESTERDAY.isoformat()))
    assert (summary["records"], summary["rejected"]) == (2, 2)
    assert summary["values"] == 3
