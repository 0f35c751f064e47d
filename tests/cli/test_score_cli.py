"""`healthscore score` offline (`--local`: the embedded default ruleset, or `--ruleset-file`): files
in, results out as a table or one JSON document, exit codes scripts rely on. Scoring on a server is
tested in tests/admin/test_scoring.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from healthscore import cli, engine, files
from healthscore.errors import MalformedInputError
from healthscore_client.v1 import scoring_pb2

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
AS_OF = "2026-11-01T00:00:00Z"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[Any], str]:
    """Runs `score --output json` offline; the results printed, and stderr."""
    code = cli.main(["score", *args, "--output", "json"])
    out, err = capsys.readouterr()
    return code, json.loads(out)["results"] if out else [], err


def test_scores_the_examples_with_the_default_ruleset(capsys: pytest.CaptureFixture[str]) -> None:
    code, results, _ = run(
        capsys, "--local", "--accounts", str(EXAMPLES / "accounts.jsonl"), "--as-of", AS_OF
    )
    assert code == cli.EXIT_OK
    by_id = {r["account_id"]: r for r in results}
    assert len(results) == 6
    assert by_id["acme"]["rank"] == "HEALTH_RANK_GOOD"
    assert by_id["initech"]["rank"] == "HEALTH_RANK_POOR"
    assert by_id["hooli"]["unknown_reason"] == "UNKNOWN_REASON_CANCELLED"
    # The CLI prints what the engine computes for the same request.
    ruleset = files.load_ruleset(files.DEFAULT_RULESET)
    request = scoring_pb2.ScoreAccountsRequest(
        accounts=files.load_accounts(EXAMPLES / "accounts.jsonl", ruleset)
    )
    request.as_of.FromJsonString(AS_OF)
    expected = engine.compile_ruleset(ruleset).score(request)
    assert [r["score"] for r in results if "score" in r] == [
        r.score for r in expected.results if r.HasField("score")
    ]


def test_csv_and_json_lines_give_the_same_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        '{"id": "a", "engagement_score": 70, "usage_frequency": "weekly", "csm_risk": ""}\n'
        '{"id": "b", "engagement_score": 5, "last_touch": "2026-09-01T00:00:00Z"}\n'
    )
    csv = tmp_path / "a.csv"
    csv.write_text(
        "id,engagement_score,usage_frequency,csm_risk,last_touch\n"
        "a,70,weekly,,\n"
        "b,5,,,2026-09-01T00:00:00Z\n"
    )
    args = ["--local", "--as-of", AS_OF, "--view", "full"]
    _, from_jsonl, _ = run(capsys, *args, "--accounts", str(jsonl))
    _, from_csv, _ = run(capsys, *args, "--accounts", str(csv))
    assert from_jsonl == from_csv
    assert len(from_csv) == 2


def test_bad_values_exit_2_naming_every_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = tmp_path / "bad.jsonl"
    accounts.write_text(
        '{"id": "a", "engagement_score": "lots"}\n{"id": "b", "last_touch": 17, "status": "x"}\n'
    )
    code, results, err = run(capsys, "--local", "--accounts", str(accounts))
    assert code == cli.EXIT_BAD_INPUT
    assert results == []
    assert "bad.jsonl:1.engagement_score" in err
    assert "bad.jsonl:2.last_touch" in err
    assert "bad.jsonl:2.status" in err


def test_an_invalid_ruleset_exits_2_with_field_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ruleset = tmp_path / "r.yaml"
    text = files.DEFAULT_RULESET.read_text().replace("weight: 30", "weight: 31", 1)
    ruleset.write_text(text)
    code, _, err = run(
        capsys, "--ruleset-file", str(ruleset), "--accounts", str(EXAMPLES / "accounts.jsonl")
    )
    assert code == cli.EXIT_BAD_INPUT
    assert "profiles[0].dimensions" in err


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [("r.yaml", "profiles: [unclosed", "not valid yaml"), ("r.json", "{", "not valid json")],
)
def test_a_ruleset_file_that_does_not_parse_is_named_with_its_format(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(MalformedInputError, match=f"{name}: {says}: "):
        files.load_ruleset(tmp_path / name)


def test_a_ruleset_file_given_as_a_server_ruleset_exits_2_before_connecting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # `--ruleset` names a ruleset on a server; a file is `--ruleset-file` (no server is running).
    code, _, err = run(
        capsys,
        "--ruleset",
        str(files.DEFAULT_RULESET),
        "--accounts",
        str(EXAMPLES / "accounts.jsonl"),
    )
    assert code == cli.EXIT_BAD_INPUT
    assert "--ruleset-file" in err


def test_the_table_shows_profile_score_and_rank(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(
        [
            "score",
            "--ruleset-file",
            str(files.DEFAULT_RULESET),
            "--accounts",
            str(EXAMPLES / "accounts.jsonl"),
            "--as-of",
            AS_OF,
        ]
    )
    out = capsys.readouterr().out
    assert code == cli.EXIT_OK
    assert "multidimensional/default" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert rows["acme"].split("│")[-2].strip() == "good"
    assert rows["initech"].split("│")[-2].strip() == "poor"
    assert rows["hooli"].split("│")[-2].strip() == "unknown (cancelled)"


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "healthscore.cli", *args]


def _no_columns() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    # `healthscore score ... | head -1`: the reader goes away after one line.
    accounts = tmp_path / "many.jsonl"
    accounts.write_text(
        "".join(f'{{"id": "account-{i}", "engagement_score": {i % 100}}}\n' for i in range(3000))
    )
    # Many writes: the tables of --explain, one per account; the JSON document.
    for output in ("--explain", "--output=json"):
        process = subprocess.Popen(
            _cli("score", "--local", "--accounts", str(accounts), output),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        process.stdout.readline()
        process.stdout.close()
        err = process.stderr.read().decode()
        code = process.wait(timeout=60)
        assert err == "", output
        assert code == cli.EXIT_BROKEN_PIPE, output


def test_piped_tables_are_not_cut_at_80_columns(tmp_path: Path) -> None:
    long_id = "an-account-with-a-rather-long-identifier-" + "x" * 60
    accounts = tmp_path / "long.jsonl"
    accounts.write_text(json.dumps({"id": long_id, "engagement_score": 90}) + "\n")
    done = subprocess.run(
        _cli("score", "--local", "--accounts", str(accounts), "--as-of", AS_OF),
        capture_output=True,
        text=True,
        env=_no_columns(),
        timeout=60,
        check=True,
    )
    rows = [line for line in done.stdout.splitlines() if long_id in line]
    assert len(rows) == 1, done.stdout
    assert "good" in rows[0] and len(rows[0]) > 80
