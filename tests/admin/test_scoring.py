"""`healthscore score | preview | hierarchy` against an in-process server: tables and JSON, the
explanation's numbers (effective weights as SPEC §5 redistributes them), the preview's numbers
against PreviewDraft's, the hierarchy tree, and the exit codes scripts rely on."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import field_mask_pb2, json_format

from healthscore import cli, files
from healthscore.admin import common
from healthscore.server import rpc_log
from healthscore_client.v1 import (
    health_pb2,
    profile_service_pb2,
    ruleset_pb2,
    scoring_pb2,
    scoring_service_pb2,
)
from tests.e2e.conftest import Server, start_server
from tests.e2e.support import AH_DRAFT, MD_DRAFT, engagement_category_profile, engagement_profile

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
ACCOUNTS = EXAMPLES / "accounts.jsonl"
AS_OF = "2026-11-01T00:00:00Z"
ACTIVE = "models/multidimensional/versions/1"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    # Wide tables: rich wraps at the terminal width, 80 columns when not a terminal.
    monkeypatch.setenv("COLUMNS", "220")
    # The server's RPC log lines go to stderr, as in production (unconfigured, structlog prints
    # to stdout, where the command's output is).
    rpc_log.configure_logging()
    served = start_server(tmp_path / "data")
    yield served
    served.stop()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def on(server: Server, *args: str) -> list[str]:
    return [*args, "--server", f"127.0.0.1:{server.port}", "--timeout", "10"]


def as_dict(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data


def request_of(path: Path, view: int = 0) -> scoring_pb2.ScoreAccountsRequest:
    ruleset = files.load_ruleset(files.DEFAULT_RULESET)
    request = scoring_pb2.ScoreAccountsRequest(
        accounts=files.load_accounts(path, ruleset), view=view
    )
    request.as_of.FromJsonString(AS_OF)
    return request


def row(text: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is `first`."""
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in:\n{text}")


def round_half_up(x: Fraction) -> int:
    return int(x + Fraction(1, 2)) if x >= 0 else -int(-x + Fraction(1, 2))


# --- score ---------------------------------------------------------------------------------------


def test_score_prints_a_table_with_profile_score_and_rank(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *on(server, "score", "--accounts", str(ACCOUNTS), "--as-of", AS_OF))
    assert code == common.EXIT_OK
    expected = server.scoring.ScoreAccounts(request_of(ACCOUNTS))
    assert ACTIVE in out
    for result in expected.results:
        cells = row(out, result.account_id)
        rank = health_pb2.HealthRank.Name(result.rank).removeprefix("HEALTH_RANK_")
        assert cells[1] == (result.profile or "-")
        if result.HasField("score"):
            assert cells[2] == str(result.score)
        assert cells[-1].startswith(rank.lower())
    assert row(out, "hooli")[-1] == "unknown (cancelled)"


def test_score_json_is_the_servers_results(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        *on(server, "score", "--accounts", str(ACCOUNTS), "--as-of", AS_OF),
        "--view",
        "dimensions",
        "--output",
        "json",
    )
    assert code == common.EXIT_OK
    document = json.loads(out)
    expected = server.scoring.ScoreAccounts(request_of(ACCOUNTS, scoring_pb2.SCORE_VIEW_DIMENSIONS))
    assert document == {
        "ruleset": ACTIVE,
        "results": [as_dict(r) for r in expected.results],
    }


def test_offline_and_server_scores_agree(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    # Version 1 is the embedded default ruleset: --local computes the same numbers in-process.
    args = ["score", "--accounts", str(ACCOUNTS), "--as-of", AS_OF, "--view", "full"]
    _, remote, _ = run(capsys, *on(server, *args), "--output", "json")
    code, local, _ = run(capsys, *args, "--local", "--output", "json")
    assert code == common.EXIT_OK
    remote_doc, local_doc = json.loads(remote), json.loads(local)
    assert local_doc["ruleset"] == "multidimensional/default"
    for doc in (remote_doc, local_doc):
        for result in doc["results"]:
            result.pop("ruleset_version")
    assert remote_doc["results"] == local_doc["results"]


def test_ruleset_shorthands_and_names(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    for name, used in [
        ("draft", MD_DRAFT),
        ("1", ACTIVE),
        ("models/multidimensional", ACTIVE),
        (ACTIVE, ACTIVE),
    ]:
        code, out, _ = run(
            capsys,
            *on(server, "score", "--accounts", str(ACCOUNTS), "--ruleset", name),
            "--output",
            "json",
        )
        assert code == common.EXIT_OK, name
        assert json.loads(out)["ruleset"] == used


def test_explain_shows_each_metric_with_its_effective_weight(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    args = on(server, "score", "--accounts", str(ACCOUNTS), "--as-of", AS_OF, "--explain")
    code, table, _ = run(capsys, *args)
    assert code == common.EXIT_OK
    code, out, _ = run(capsys, *args, "--output", "json")
    assert code == common.EXIT_OK
    document = json.loads(out)
    expected = server.scoring.ScoreAccounts(request_of(ACCOUNTS, scoring_pb2.SCORE_VIEW_FULL))
    assert document["results"] == [as_dict(r) for r in expected.results]

    # The effective weights are SPEC §5's redistribution of the profile's weights.
    profile = files.load_ruleset(files.DEFAULT_RULESET).profiles[0]
    configured = {m.attribute: m.weight for m in profile.metrics}
    dimension_weights = {d.dimension: d.weight for d in profile.dimensions}
    umbrella = next(r for r in expected.results if r.account_id == "umbrella")
    kept_dimensions = [d for d in umbrella.dimensions if not d.ignored]
    assert any(d.ignored for d in umbrella.dimensions), "umbrella lacks data: some ignored"
    total = sum(dimension_weights[d.dimension] for d in kept_dimensions)
    for dimension in umbrella.dimensions:
        kept = [m for m in dimension.metrics if m.outcome != 4]  # METRIC_OUTCOME_IGNORED
        metric_total = sum(configured[m.attribute] for m in kept)
        for metric in dimension.metrics:
            want = (
                round_half_up(Fraction(configured[metric.attribute] * 100, metric_total))
                if metric in kept
                else 0
            )
            assert metric.effective_weight == want
        want_dimension = (
            0
            if dimension.ignored
            else round_half_up(Fraction(dimension_weights[dimension.dimension] * 100, total))
        )
        assert dimension.effective_weight == want_dimension
    # ... and the table shows those numbers, the value sent, and why a metric is left out.
    explained = table[table.index("umbrella  profile default") :]
    for dimension in umbrella.dimensions:
        cells = row(explained, dimension.dimension)
        assert f"{dimension.effective_weight}%" in cells
        if dimension.ignored:
            assert "every metric ignored" in cells
        for metric in dimension.metrics:
            cells = row(explained, metric.attribute)
            assert f"{metric.effective_weight}%" in cells
            if metric.outcome == 4:
                assert cells[1:3] == ["no value", "ignored"]
                assert cells[-1] == "weight redistributed"
    assert row(explained, "engagement_score")[1:4] == ["64", "good", "100"]
    # The account score from the rounded dimension scores and effective weights (SPEC §5).
    for result in expected.results:
        kept = [d for d in result.dimensions if not d.ignored]
        if not result.HasField("score"):
            continue
        weight = sum(d.effective_weight for d in kept)
        assert result.score == round_half_up(
            Fraction(sum(d.score * d.effective_weight for d in kept), weight)
        )
        terms = " + ".join(f"{d.score}*{d.effective_weight}" for d in kept)
        assert f"score = round(({terms}) / {weight}) = {result.score}" in table
    # A poor metric names the criterion that held; an average one the good one that failed.
    initech = table[table.index("initech  profile default") :]
    assert row(initech, "engagement_score")[-1] == "poor held: metrics[0].poor"
    globex = table[table.index("globex  profile default") :]
    assert row(globex, "engagement_score")[-1] == "good failed: metrics[0].good"


def test_explain_a_missing_value_scored_average_when_ignore_missing_is_off(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.profiles.UpdateDraft(
        profile_service_pb2.UpdateDraftRequest(
            draft=profile_service_pb2.Draft(
                name=MD_DRAFT, settings=ruleset_pb2.ModelSettings(ignore_missing=False)
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["settings.ignore_missing"]),
        )
    )
    args = ["score", "--accounts", str(ACCOUNTS), "--as-of", AS_OF, "--ruleset", "draft"]
    code, out, _ = run(capsys, *on(server, *args, "--explain"))
    assert code == common.EXIT_OK
    umbrella = out[out.index("umbrella  profile default") :]
    assert row(umbrella, "active_users")[1:] == [
        "no value",
        "average",
        "60",
        "40%",
        "no value: average (ignore missing is off)",
    ]


def test_explain_an_account_health_result_names_the_criteria(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(
            parent=AH_DRAFT, profile=engagement_category_profile()
        )
    )
    accounts = tmp_path / "a.csv"
    accounts.write_text("id,engagement_score\nlow,10\nmid,50\nhigh,90\n")
    args = on(server, "score", "--accounts", str(accounts), "--ruleset", AH_DRAFT, "--explain")
    code, out, _ = run(capsys, *args)
    assert code == common.EXIT_OK
    assert f"Health ({AH_DRAFT})" in out
    low = out[out.index("low  profile engagement-rules  poor") :]
    assert row(low, "usage")[1:] == [
        "poor",
        "poor held: categories[0].poor[0]",
    ]
    mid = out[out.index("mid  profile engagement-rules  average") :]
    assert row(mid, "usage")[1:] == [
        "average",
        "good failed: categories[0].good[0]",
    ]
    high = out[out.index("high  profile engagement-rules  good") :]
    assert row(high, "usage")[1:] == ["good"]


def test_score_offline_with_a_ruleset_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys,
        "score",
        "--ruleset-file",
        str(files.DEFAULT_RULESET),
        "--accounts",
        str(ACCOUNTS),
        "--as-of",
        AS_OF,
    )
    assert code == common.EXIT_OK
    assert row(out, "acme")[-1] == "good"
    assert row(out, "initech")[-1] == "poor"


def test_score_offline_with_an_exported_draft_file(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What `profiles export` writes (etags, short enum words, its header) is a ruleset file too.
    code, exported, _ = run(
        capsys, *on(server, "profiles", "export", "--model", "multidimensional")
    )
    assert code == 0 and "etags:" in exported
    path = tmp_path / "exported.yaml"
    path.write_text(exported)
    args = ["--accounts", str(ACCOUNTS), "--as-of", AS_OF, "--output", "json"]
    code, offline, err = run(capsys, "score", "--ruleset-file", str(path), *args)
    assert code == common.EXIT_OK, err
    code, online, _ = run(capsys, *on(server, "score", *args))
    assert code == common.EXIT_OK
    scores = [(r["account_id"], r.get("score"), r["rank"]) for r in json.loads(offline)["results"]]
    assert scores == [
        (r["account_id"], r.get("score"), r["rank"]) for r in json.loads(online)["results"]
    ]
    # A broken export is reported with its line.
    path.write_text(exported.replace("type: number", "type: numbr", 1))
    code, _, err = run(capsys, "score", "--ruleset-file", str(path), *args)
    assert code == common.EXIT_BAD_INPUT
    assert re.search(r"exported\.yaml:\d+: catalog\.attributes\[0\]\.type: expected one of", err)


def test_a_draft_that_does_not_validate_exits_2_as_the_help_says(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = engagement_profile("bad")
    bad.dimensions[0].weight = 7
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(parent=MD_DRAFT, profile=bad)
    )
    for command in (
        ["score", "--ruleset", "models/multidimensional/draft"],
        ["score", "--ruleset", "draft"],
        ["preview", "--model", "multidimensional"],
        ["hierarchy", "--ruleset", "models/multidimensional/draft"],
    ):
        code, out, err = run(capsys, *on(server, *command, "--accounts", str(ACCOUNTS)))
        assert code == common.EXIT_BAD_INPUT, (command, err)
        assert out == "" and "profiles[1].dimensions" in err
        with pytest.raises(SystemExit):
            cli.main([command[0], "--help"])
        help_text = " ".join(capsys.readouterr().out.split())
        assert "ruleset that does not validate)" in help_text


# --- exit codes ----------------------------------------------------------------------------------


def test_a_bad_accounts_file_exits_2_naming_every_field(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "engagement_score": "lots"}\n{"id": "b", "last_touch": 17}\n')
    for command in (["score"], ["preview", "--model", "multidimensional"], ["hierarchy"]):
        code, out, err = run(capsys, *on(server, *command, "--accounts", str(bad)))
        assert code == common.EXIT_BAD_INPUT, command
        assert out == ""
        assert "bad.jsonl:1.engagement_score" in err and "bad.jsonl:2.last_touch" in err
    code, _, err = run(capsys, *on(server, "score", "--accounts", str(tmp_path / "none.csv")))
    assert code == common.EXIT_BAD_INPUT
    assert "no such accounts file" in err
    # `--ruleset` names a server ruleset; a file goes to --ruleset-file.
    args = ["score", "--accounts", str(ACCOUNTS), "--ruleset", str(files.DEFAULT_RULESET)]
    code, _, err = run(capsys, *on(server, *args))
    assert code == common.EXIT_BAD_INPUT
    assert "--ruleset-file" in err


def test_an_unknown_version_exits_3(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["score", "--ruleset", "models/multidimensional/versions/9"],
        ["score", "--ruleset", "9"],
        ["preview", "--model", "multidimensional", "--version", "9"],
        ["hierarchy", "--ruleset", "models/multidimensional/versions/9"],
    ):
        code, out, err = run(capsys, *on(server, *command, "--accounts", str(ACCOUNTS)))
        assert code == common.EXIT_NOT_FOUND, command
        assert out == ""
        assert "error: NOT_FOUND" in err


def test_no_server_exits_6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"127.0.0.1:{port}"  # closed: nothing listens there
    for command in (["score"], ["preview", "--model", "multidimensional"], ["hierarchy"]):
        code, out, err = run(
            capsys,
            *command,
            "--accounts",
            str(ACCOUNTS),
            "--server",
            address,
            "--timeout",
            "2",
        )
        assert code == common.EXIT_UNAVAILABLE, command
        assert out == ""
        assert "error: UNAVAILABLE" in err or "error: DEADLINE_EXCEEDED" in err
    # A file that is not JSON Lines is bad input, server or not.
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a"}\n{"id": \n')
    code, _, err = run(capsys, "score", "--accounts", str(broken), "--server", address)
    assert code == common.EXIT_BAD_INPUT
    assert "broken.jsonl:2: not JSON" in err


# --- preview -------------------------------------------------------------------------------------


def engagement_first(server: Server) -> None:
    """A draft that differs from version 1: an engagement-only profile ahead of the default."""
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(
            parent=MD_DRAFT, profile=engagement_profile("engagement-only"), position=0
        )
    )


def preview_response(server: Server) -> scoring_service_pb2.PreviewDraftResponse:
    request = scoring_service_pb2.PreviewDraftRequest(
        ruleset=MD_DRAFT, accounts=request_of(ACCOUNTS).accounts
    )
    request.as_of.FromJsonString(AS_OF)
    response: scoring_service_pb2.PreviewDraftResponse = server.scoring.PreviewDraft(request)
    return response


def test_preview_json_is_the_preview_draft_response(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    engagement_first(server)
    args = ["preview", "--model", "multidimensional", "--accounts", str(ACCOUNTS)]
    code, out, _ = run(capsys, *on(server, *args, "--as-of", AS_OF), "--output", "json")
    assert code == common.EXIT_OK
    assert json.loads(out) == as_dict(preview_response(server))


def test_preview_tables_show_both_rulesets_and_the_rank_changes(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    engagement_first(server)
    args = ["preview", "--model", "multidimensional", "--accounts", str(ACCOUNTS)]
    code, out, _ = run(capsys, *on(server, *args, "--as-of", AS_OF))
    assert code == common.EXIT_OK
    expected = preview_response(server)
    base, new = expected.baseline, expected.preview
    assert MD_DRAFT in out and ACTIVE in out
    assert row(out, "accounts")[1:3] == [str(base.account_count), str(new.account_count)]
    average = row(out, "average score")
    assert average[1:3] == [f"{base.average_score:.1f}", f"{new.average_score:.1f}"]
    assert average[3] == f"{new.average_score - base.average_score:+.1f}"
    for summary in new.ranks:
        name = health_pb2.HealthRank.Name(summary.rank).removeprefix("HEALTH_RANK_")
        cells = row(out, name.lower())
        major, minor = divmod(summary.contract_value, 100)
        assert cells[2] == f"{summary.account_count}  ({major:,}.{minor:02d})"
    for profile in new.profiles:
        cells = row(out, profile.profile)
        average_text = f"{profile.average_score:.1f}" if profile.HasField("average_score") else "-"
        assert cells[-1] == f"{len(profile.account_ids)}  avg {average_text}"
    assert row(out, "engagement-only")[1] == "-"  # the new profile: not in the baseline
    for dimension in new.dimensions:
        average_text = (
            f"{dimension.average_score:.1f}" if dimension.HasField("average_score") else "-"
        )
        counts = {r.rank: r.account_count for r in dimension.ranks}
        spread = "/".join(str(counts.get(rank, 0)) for rank in (1, 2, 3, 4))
        assert row(out, dimension.dimension)[-1] == f"avg {average_text}  {spread}"
    assert expected.rank_changes, "the engagement-only profile changes some ranks"
    for change in expected.rank_changes:
        cells = row(out, change.account_id)
        preview_rank = health_pb2.HealthRank.Name(change.preview_rank)
        assert cells[-1].endswith(preview_rank.removeprefix("HEALTH_RANK_").lower())
        if change.HasField("preview_score"):
            assert cells[-1].startswith(str(change.preview_score))


# --- hierarchy -----------------------------------------------------------------------------------

HIERARCHY = [
    {"id": "stark", "engagement_score": 90, "usage_frequency": "daily"},
    {"id": "stark-europe", "parent_id": "stark", "engagement_score": 5},
    {"id": "stark-berlin", "parent_id": "stark-europe", "engagement_score": 2},
    {"id": "stark-paris", "parent_id": "stark-europe", "engagement_score": 95},
    {"id": "stark-us", "parent_id": "stark", "engagement_score": 4, "csm_risk": "critical"},
    {"id": "wayne-asia", "parent_id": "wayne", "engagement_score": 80},
]


@pytest.fixture
def hierarchy_file(tmp_path: Path) -> Path:
    path = tmp_path / "hierarchy.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in HIERARCHY))
    return path


def hierarchy_response(
    server: Server, path: Path, view: int = 0
) -> scoring_service_pb2.ScoreHierarchyResponse:
    request = scoring_service_pb2.ScoreHierarchyRequest(
        accounts=request_of(path).accounts, view=view
    )
    request.as_of.FromJsonString(AS_OF)
    response: scoring_service_pb2.ScoreHierarchyResponse = server.scoring.ScoreHierarchy(request)
    return response


def test_hierarchy_json_is_the_score_hierarchy_response(
    server: Server, hierarchy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["hierarchy", "--accounts", str(hierarchy_file), "--as-of", AS_OF]
    code, out, _ = run(capsys, *on(server, *args), "--view", "dimensions", "--output", "json")
    assert code == common.EXIT_OK
    expected = hierarchy_response(server, hierarchy_file, scoring_pb2.SCORE_VIEW_DIMENSIONS)
    assert json.loads(out) == as_dict(expected)
    assert expected.detached_account_ids == ["wayne-asia"]


def test_hierarchy_tree(
    server: Server, hierarchy_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["hierarchy", "--accounts", str(hierarchy_file), "--as-of", AS_OF]
    code, out, _ = run(capsys, *on(server, *args))
    assert code == common.EXIT_OK
    expected = hierarchy_response(server, hierarchy_file)
    lines = out.splitlines()
    assert ACTIVE in lines[0]

    def line(account_id: str) -> tuple[int, str]:
        for text in lines:
            match = re.search(rf"(\S+)?\s*\b{re.escape(account_id)}  own ", text)
            if match:
                return text.index(account_id), text
        raise AssertionError(f"{account_id} not in the tree:\n{out}")

    # Children are indented under their parents; detached accounts are roots.
    depth = {a: line(a)[0] for a in ("stark", "stark-europe", "stark-berlin", "wayne-asia")}
    assert depth["stark"] < depth["stark-europe"] < depth["stark-berlin"]
    assert depth["wayne-asia"] == depth["stark"]
    assert line("stark-paris")[0] == depth["stark-berlin"]
    for result in expected.results:
        text = line(result.account_id)[1]
        rank = health_pb2.HealthRank.Name(result.rank).removeprefix("HEALTH_RANK_")
        own = f"own {result.score} {rank.lower()}" if result.HasField("score") else rank.lower()
        assert own in text
    for parent in expected.enterprise:
        text = line(parent.account_id)[1]
        rank = health_pb2.HealthRank.Name(parent.rank).removeprefix("HEALTH_RANK_")
        assert f"enterprise {parent.score} {rank.lower()}" in text
        if parent.pulled_down_by:
            assert f"pulled down by {', '.join(parent.pulled_down_by)}" in text
    assert [e.account_id for e in expected.enterprise] == ["stark-europe", "stark"]
    assert "detached: parent wayne not given" in line("wayne-asia")[1]
    assert (
        "Detached (parent not among the accounts, scored as roots): wayne-asia (parent wayne)"
        in out
    )
