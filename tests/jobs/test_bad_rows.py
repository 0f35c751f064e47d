"""Bad rows never stop the job and are never dropped silently: each is in the errors file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import json_format

from healthscore import cli, files
from healthscore.jobs import rulesets
from healthscore_client.v1 import catalog_pb2
from tests.jobs.support import accounts, read_errors, read_rows, run, write

pytestmark = pytest.mark.timeout(60)


def _errors(output: Path) -> list[tuple[str, int, str, str]]:
    return [
        (Path(e["file"]).name, int(e["row"]), e["id"], e["reason"])
        for e in read_errors(output.with_name(output.name + ".errors.csv"))
    ]


def test_every_bad_value_kind_in_csv(tmp_path: Path) -> None:
    good = accounts(3)
    rows = [
        good[0],
        {**good[1], "id": "bad-number", "engagement_score": "lots"},
        {**good[1], "id": "bad-level", "usage_frequency": "hourly"},
        {**good[1], "id": "infinite", "engagement_score": "inf"},
        {**good[1], "id": "bad-time", "last_touch": "yesterday"},
        {**good[1], "id": "bad-status", "status": "paused"},
        {**good[1], "id": "bad-contract", "contract_value": "12.5"},
        {**good[1], "id": ""},
        {**good[0]},  # duplicate of row 1
        good[2],
    ]
    source = write(tmp_path / "in.csv", rows)
    summary = run(source, tmp_path / "out.parquet")
    errors = _errors(tmp_path / "out.parquet")
    reasons = {e[2] or f"row {e[1]}": e[3] for e in errors}
    assert [e[1] for e in errors] == [2, 3, 4, 5, 6, 7, 8, 9]
    assert "engagement_score: expected a number, got 'lots'" in reasons["bad-number"]
    assert "usage_frequency" in reasons["bad-level"]
    assert "engagement_score" in reasons["infinite"]
    assert "last_touch: expected an ISO 8601 time" in reasons["bad-time"]
    assert "status" in reasons["bad-status"]
    assert "contract_value: expected whole minor units" in reasons["bad-contract"]
    assert reasons["row 8"] == "id: id is required"
    assert reasons["acct-0"] == "duplicate id: first at " + str(source) + " row 1"
    assert summary.read == 10 and summary.scored == 2 and summary.rejected_rows == 8
    assert summary.rejected == Counter({"invalid value": 6, "missing id": 1, "duplicate id": 1})
    assert [r["account_id"] for r in read_rows(tmp_path / "out.parquet")] == ["acct-0", "acct-2"]


def test_the_errors_file_names_every_bad_column_of_a_row(tmp_path: Path) -> None:
    # Bad values the converter finds (not a number, not a time) and the ones the core finds
    # (undeclared levels, infinities, statuses): a row's reason lists all of them.
    good = accounts(2)
    rows = [
        good[0],
        {
            **good[1],
            "id": "many",
            "engagement_score": "lots",
            "usage_frequency": "hourly",
            "last_touch": "yesterday",
            "csm_risk": "huge",
        },
        {**good[1], "id": "core-only", "engagement_score": "inf", "status": "paused"},
        {**good[1], "id": "one"},
    ]
    source = write(tmp_path / "in.csv", rows)
    summary = run(source, tmp_path / "out.parquet")
    reasons = {e[2]: e[3] for e in _errors(tmp_path / "out.parquet")}
    assert set(reasons) == {"many", "core-only"}
    for column in ("engagement_score", "usage_frequency", "last_touch", "csm_risk"):
        assert f"{column}:" in reasons["many"], (column, reasons["many"])
    assert "engagement_score:" in reasons["core-only"] and "status:" in reasons["core-only"]
    assert summary.scored == 2 and summary.rejected == Counter({"invalid value": 2})
    assert [r["account_id"] for r in read_rows(tmp_path / "out.parquet")] == ["acct-0", "one"]


def test_json_lines_bad_lines_and_wrong_json_types(tmp_path: Path) -> None:
    good = accounts(2)
    lines = [
        json.dumps(good[0]),
        "",
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**good[1], "engagement_score": True}),
        json.dumps({**good[1], "id": "text-as-number", "usage_frequency": 3}),
        json.dumps({**good[1], "id": 17, "engagement_score": "12.5"}),
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    summary = run(tmp_path / "in.jsonl", tmp_path / "out.jsonl")
    errors = _errors(tmp_path / "out.jsonl")
    assert [(e[1], e[2]) for e in errors] == [
        (2, ""),
        (3, ""),
        (4, "acct-1"),
        (5, "text-as-number"),
    ]
    assert errors[0][3].startswith("not JSON")
    assert errors[1][3] == "not a JSON object"
    assert errors[2][3] == "engagement_score: expected a number, got True"
    assert errors[3][3] == "usage_frequency: expected text, got 3"
    scored = read_rows(tmp_path / "out.jsonl")
    assert [r["account_id"] for r in scored] == ["acct-0", "17"]  # numeric strings and ids pass
    assert summary.read == 6 and summary.rejected_rows == 4
    assert summary.rejected == Counter({"unreadable record": 2, "invalid value": 2})


def test_csv_records_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,engagement_score\na,1\nb,2,3\nc\nd,4\n", encoding="utf-8")
    summary = run(tmp_path / "in.csv", tmp_path / "out.csv")
    assert [(e[1], e[2]) for e in _errors(tmp_path / "out.csv")] == [(2, "b"), (3, "c")]
    assert [r["account_id"] for r in read_rows(tmp_path / "out.csv")] == ["a", "d"]
    assert summary.read == 4 and summary.scored == 2
    assert summary.rejected == Counter({"unreadable record": 2})


def test_parquet_columns_of_the_wrong_type(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "engagement_score": pa.array([True, None, False]),  # NUMBER from booleans
            "journey_stage": pa.array([1, 2, None]),  # TEXT from integers
            "license_utilization": pa.array([1.0, float("inf"), 3.0]),
        }
    )
    pq.write_table(table, tmp_path / "in.parquet")
    run(tmp_path / "in.parquet", tmp_path / "out.parquet")
    errors = {e[2]: e[3] for e in _errors(tmp_path / "out.parquet")}
    assert errors["a"] == (
        "engagement_score: expected a number, got a bool value; "
        "journey_stage: expected text, got a int64 value"
    )
    assert errors["b"] == (
        "journey_stage: expected text, got a int64 value; license_utilization: infinite number"
    )
    assert errors["c"] == "engagement_score: expected a number, got a bool value"


def test_duplicate_ids_across_batches_and_files_first_occurrence_wins(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.parquet", accounts(6))
    write(tmp_path / "in" / "b.csv", [*accounts(4, start=4), accounts(1)[0]])
    summary = run(tmp_path / "in", tmp_path / "out.parquet", batch_rows=2)
    errors = _errors(tmp_path / "out.parquet")
    assert [(e[0], e[1], e[2]) for e in errors] == [
        ("b.csv", 1, "acct-4"),
        ("b.csv", 2, "acct-5"),
        ("b.csv", 5, "acct-0"),
    ]
    assert errors[0][3] == f"duplicate id: first at {tmp_path / 'in' / 'a.parquet'} row 5"
    assert summary.scored == 8 and summary.rejected == Counter({"duplicate id": 3})


def test_a_file_without_an_id_column_is_refused_before_any_work(tmp_path: Path) -> None:
    from healthscore.errors import InvalidInputError

    (tmp_path / "in.csv").write_text("name\nx\n")
    with pytest.raises(InvalidInputError, match="no `id` column"):
        run(tmp_path / "in.csv", tmp_path / "out.parquet")
    assert not list(tmp_path.glob("out*"))


def test_a_column_of_an_unusable_type_rejects_its_rows_not_the_job(tmp_path: Path) -> None:
    # A NUMBER column of lists: every row of that file is bad, the other file is scored.
    pq.write_table(pa.table({"id": ["a"], "active_users": [[1.0]]}), tmp_path / "x.parquet")
    write(tmp_path / "y.csv", accounts(2))
    summary = run(tmp_path, tmp_path / "out.parquet")
    errors = _errors(tmp_path / "out.parquet")
    assert [(e[0], e[2]) for e in errors] == [("x.parquet", "a")]
    assert "active_users" in errors[0][3]
    assert summary.scored == 2


def test_a_batch_the_core_refuses_as_a_whole_rejects_its_rows_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from healthscore import engine
    from healthscore.errors import MalformedInputError

    real = engine.CompiledRuleset.score_arrow

    def refuse_second(self, batch, **kw):  # type: ignore[no-untyped-def]
        if "acct-2" in batch.column("id").to_pylist():
            raise MalformedInputError('malformed input: column "x": refused')
        return real(self, batch, **kw)

    monkeypatch.setattr(engine.CompiledRuleset, "score_arrow", refuse_second)
    write(tmp_path / "in.csv", accounts(6))
    summary = run(tmp_path / "in.csv", tmp_path / "out.parquet", batch_rows=2)
    errors = _errors(tmp_path / "out.parquet")
    assert [(e[1], e[2]) for e in errors] == [(3, "acct-2"), (4, "acct-3")]
    assert all("refused" in e[3] for e in errors)
    assert summary.scored == 4 and summary.rejected_rows == 2


def test_values_that_are_not_utf8_reject_their_rows(tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_bytes(
        b"id,journey_stage,engagement_score\na,adoption,1\nb,\xff\xfe,2\nc\xff,x,3\nd,x,4\n"
    )
    (tmp_path / "in.jsonl").write_bytes(b'{"id": "e"}\n{"id": "f\xff"}\n')
    summary = run(tmp_path, tmp_path / "out.parquet")
    errors = _errors(tmp_path / "out.parquet")
    assert [(e[0], e[1], e[2], e[3]) for e in errors[:2]] == [
        ("in.csv", 2, "b", "journey_stage: not UTF-8 text"),
        ("in.csv", 3, "", "id: not UTF-8 text; id: id is required"),
    ]
    assert (errors[2][0], errors[2][1]) == ("in.jsonl", 2) and "not JSON" in errors[2][3]
    assert summary.scored == 3


def test_csv_booleans_are_true_or_false_as_for_the_score_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ruleset = files.load_ruleset(files.DEFAULT_RULESET)
    ruleset.catalog.attributes.add(name="is_strategic", type=catalog_pb2.ATTRIBUTE_TYPE_BOOL)
    ruleset_file = tmp_path / "ruleset.json"
    ruleset_file.write_text(json_format.MessageToJson(ruleset))
    good = accounts(4)
    spellings = ["TRUE", "false", "yes", "1"]
    rows = [{**row, "is_strategic": s} for row, s in zip(good, spellings, strict=True)]
    source = write(tmp_path / "in.csv", rows)
    run(source, tmp_path / "out.csv", ruleset=rulesets.from_file(ruleset_file))
    reasons = {e[2]: e[3] for e in _errors(tmp_path / "out.csv")}
    assert reasons == {
        "acct-2": "is_strategic: expected true or false, got 'yes'",
        "acct-3": "is_strategic: expected true or false, got '1'",
    }
    # `healthscore score` reads the same file the same way.
    code = cli.main(["score", "--ruleset-file", str(ruleset_file), "--accounts", str(source)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert "in.csv:4.is_strategic: expected true or false, got 'yes'" in err
    assert "in.csv:5.is_strategic: expected true or false, got '1'" in err
    assert "in.csv:2" not in err and "in.csv:3" not in err
