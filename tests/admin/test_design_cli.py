"""`healthscore profiles export|import|validate|diff`, `publish`, `activate`, `rollback`,
`versions` and `activations` run in-process against an in-process server: the exact round trip,
every error of a broken file with its line, the diff, tables and JSON, and the exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from healthscore import cli, yamlio
from healthscore.admin import common
from healthscore.server import rpc_log
from healthscore.server.app import App
from healthscore.server.config import ServerConfig
from healthscore.server.serve import build_server
from healthscore_client.v1 import profile_service_pb2
from tests.admin.test_design_yaml import every_feature
from tests.e2e.conftest import Server, start_server
from tests.e2e.support import AH_DRAFT, MD_DRAFT, engagement_category_profile, engagement_profile
from tests.server.conftest import TOKENS
from tests.server.conftest import tokens_file as tokens_file  # a fixture

MD = "multidimensional"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.setenv("COLUMNS", "200")
    rpc_log.configure_logging()  # the server's logs to stderr, not into the CLI's stdout
    served = start_server(tmp_path / "data")
    yield served
    served.stop()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    # Without the in-process server's JSON log lines.
    err = "".join(line for line in err.splitlines(True) if not line.startswith('{"timestamp"'))
    return code, out, err


def on(server: Server | int, *args: str) -> list[str]:
    port = server if isinstance(server, int) else server.port
    return [*args, "--server", f"127.0.0.1:{port}", "--timeout", "10"]


def export(capsys: pytest.CaptureFixture[str], server: Server, model: str = MD) -> str:
    code, out, _ = run(capsys, *on(server, "profiles", "export", "--model", model))
    assert code == 0
    return out


def get_draft(server: Server, model: str = MD) -> profile_service_pb2.Draft:
    return server.profiles.GetDraft(
        profile_service_pb2.GetDraftRequest(name=f"models/{model}/draft")
    )


def test_export_import_export_is_byte_identical_and_the_draft_unchanged(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = export(capsys, server)
    path = tmp_path / "p.yaml"
    path.write_text(text)
    before = get_draft(server)
    code, out, _ = run(capsys, *on(server, "profiles", "import", str(path)))
    assert code == 0 and "unchanged" in out
    assert get_draft(server) == before
    assert export(capsys, server) == text


def test_a_file_can_be_edited_and_imported_again_and_keeps_its_comments(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    good = "good: {attribute: engagement_score, operator: greater_than_or_equal, number: "
    text = export(capsys, server).replace(good + "60}", good + "65}  # stricter, says Ann")
    path.write_text(text)
    code, out, err = run(capsys, *on(server, "profiles", "import", str(path)))
    assert code == 0, err
    assert "p.yaml: etags updated" in out
    first = get_draft(server)
    after = path.read_text()
    assert "# stricter, says Ann" in after
    assert f"draft: {first.etag}" in after
    # Only the etags changed in the file.
    assert [a for a, b in zip(text.splitlines(), after.splitlines(), strict=True) if a != b] == [
        line for line in text.splitlines() if line.startswith("etags:")
    ]
    # A second edit of the same file imports as well.
    path.write_text(after.replace(good + "65}", good + "66}"))
    code, out, err = run(capsys, *on(server, "profiles", "import", str(path)))
    assert code == 0, err
    assert get_draft(server).profiles[0].metrics[0].good.predicate.number == 66
    assert yamlio.load(path.read_text()).draft.etag == get_draft(server).etag
    # A change made by someone else in between still stops the import.
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile())
    )
    path.write_text(path.read_text().replace(good + "66}", good + "67}"))
    code, _, err = run(capsys, *on(server, "profiles", "import", str(path)))
    assert code == common.EXIT_CONFLICT and "export it again" in err


def test_the_help_says_the_server_keeps_no_comments(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("import", "export"):
        with pytest.raises(SystemExit):
            cli.main(["profiles", action, "--help"])
        assert "comments" in " ".join(capsys.readouterr().out.lower().split())


@pytest.mark.parametrize("model", list(yamlio.MODELS))
def test_an_all_features_draft_imports_to_the_identical_draft(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path, model: str
) -> None:
    draft, _ = every_feature()
    current = server.profiles.GetCatalog(profile_service_pb2.GetCatalogRequest(name="catalog"))
    draft.ClearField("etag")
    path = tmp_path / "all.yaml"
    path.write_text(yamlio.dump(yamlio.MODELS[model], draft, current))
    code, _, err = run(capsys, *on(server, "profiles", "import", str(path), "--allow-invalid"))
    assert code == 0, err
    assert "error: all.yaml:" in err  # the errors are reported, and the draft written anyway
    written = get_draft(server, model)
    assert list(written.profiles) == list(draft.profiles)
    assert written.settings == draft.settings
    exported = export(capsys, server, model)
    assert yamlio.load(exported).draft.profiles == draft.profiles
    path.write_text(exported)
    assert run(capsys, *on(server, "profiles", "import", str(path), "--allow-invalid"))[0] == 0
    assert export(capsys, server, model) == exported


BROKEN = """\
model: multidimensional
settings: {poor_max: 40, good_min: high}
catalog:
  dimensions: [{name: usage}]
  attributes:
    - {name: engagement_score, type: number, dimension: usage}
profiles:
  - name: p
    dimensions:
      - {dimension: usage, weight: 100}
    metrics:
      - attribute: engagement_score
        weight: 100
        good: {attribute: engagement_score, operator: at_least_ish, number: 1}
        poor: {attribute: engagement_score, operator: less_than, number: [1]}
    colour: blue
"""


def test_import_reports_every_problem_with_its_line_and_writes_nothing(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "profiles.yaml"
    path.write_text(BROKEN)
    before = get_draft(server)
    code, _, err = run(capsys, *on(server, "profiles", "import", str(path)))
    assert code == common.EXIT_BAD_INPUT
    lines = err.splitlines()
    assert lines[:4] == [
        "profiles.yaml:2: settings.good_min: expected an integer, got text",
        "profiles.yaml:14: profiles[0].metrics[0].good.operator: expected one of: less_than, "
        "less_than_or_equal, greater_than, greater_than_or_equal, equal, not_equal, between, in, "
        "not_in, at_least, at_most, is_true, is_false, within_last_days, more_than_days_ago, "
        "is_empty, is_not_empty",
        "profiles.yaml:15: profiles[0].metrics[0].poor.number: expected a number, got a list",
        "profiles.yaml:16: profiles[0].colour: unknown key; expected one of: name, display_name, "
        "segment, categories, dimensions, metrics",
    ]
    assert lines[4].startswith("error: profiles.yaml: 4 problem(s); nothing was changed")
    assert get_draft(server) == before


def test_semantic_errors_are_shown_at_their_lines_by_validate_and_import(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = export(capsys, server)
    text = text.replace("{dimension: usage, weight: 30}", "{dimension: usage, weight: 31}")
    text = text.replace("text: weekly}", "text: fortnightly}")
    path = tmp_path / "p.yaml"
    path.write_text(text)
    lines = text.splitlines()
    at = {
        "weights": next(i for i, t in enumerate(lines, 1) if t == "    dimensions:"),
        "level": next(i for i, t in enumerate(lines, 1) if "fortnightly" in t),
    }
    for command in (
        ["profiles", "validate", str(path)],
        on(server, "profiles", "import", str(path)),
    ):
        code, _, err = run(capsys, *command)
        assert code == common.EXIT_BAD_INPUT
        assert f"p.yaml:{at['weights']}: profiles[0].dimensions: dimension weights must sum" in err
        assert f"p.yaml:{at['level']}: profiles[0].metrics[1].good.text: " in err
    code, out, _ = run(capsys, "profiles", "validate", str(path), "--output", "json")
    report = json.loads(out)
    assert code == 2 and not report["valid"]
    assert {e["line"] for e in report["errors"]} == set(at.values())


def test_validate_the_servers_draft(server: Server, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *on(server, "profiles", "validate", "--model", MD))
    assert code == 0 and "valid" in out
    bad = engagement_profile("bad")
    bad.dimensions[0].weight = 7
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(parent=MD_DRAFT, profile=bad)
    )
    code, _, err = run(capsys, *on(server, "profiles", "validate", "--model", MD))
    assert code == common.EXIT_BAD_INPUT
    assert "models/multidimensional/draft: profiles[1].dimensions: " in err


def test_stale_etag_exits_4_and_force_overwrites(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(export(capsys, server).replace("number: 60}", "number: 65}"))
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile())
    )
    code, _, err = run(capsys, *on(server, "profiles", "import", str(path)))
    assert code == common.EXIT_CONFLICT and "ABORTED" in err
    code, out, _ = run(capsys, *on(server, "profiles", "import", str(path), "--force"))
    assert code == 0 and "updated the draft (1 profile(s))" in out
    assert [p.name for p in get_draft(server).profiles] == ["default"]


def test_diff_against_the_active_version_a_version_and_a_file(
    server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, *on(server, "profiles", "diff", "--model", MD))
    assert code == 0 and "no differences" in out
    path = tmp_path / "p.yaml"
    edited = export(capsys, server).replace("number: 60}", "number: 65}")
    path.write_text(edited.replace("ignore_missing: true", "ignore_missing: false"))
    code, out, _ = run(
        capsys, *on(server, "profiles", "diff", "--model", MD, "--against", str(path))
    )
    assert code == 1
    assert "~ ignore_missing: true → false" in out
    assert "~ metrics[engagement_score].good.number: 60 → 65" in out
    assert run(capsys, *on(server, "profiles", "import", str(path)))[0] == 0
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(
            parent=MD_DRAFT, profile=engagement_profile(), position=0
        )
    )
    code, out, _ = run(capsys, *on(server, "profiles", "diff", "--model", MD, "--version", "1"))
    assert code == 1
    assert out.startswith("--- models/multidimensional/versions/1 (active)\n+++ models/")
    assert "  + engagement (position 1)\n" in out
    code, out, _ = run(capsys, *on(server, "profiles", "diff", "--model", MD, "--output", "json"))
    data = json.loads(out)
    assert code == 1 and not data["equal"] and data["profiles"]["added"] == ["engagement"]
    assert data["settings"] == [{"path": "ignore_missing", "old": True, "new": False}]
    code, _, err = run(capsys, *on(server, "profiles", "diff", "--model", "account-health"))
    assert code == common.EXIT_NOT_FOUND and "no version to compare with" in err


def test_publish_activate_rollback_versions_and_activations(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(
            parent=MD_DRAFT, profile=engagement_profile(), position=0
        )
    )
    code, out, _ = run(capsys, *on(server, "publish", "--model", MD, "--comment", "engagement"))
    assert code == 0 and out.startswith("published models/multidimensional/versions/2 (")
    code, out, _ = run(capsys, *on(server, "activate", "multidimensional/2", "--comment", "go"))
    assert code == 0
    assert out == (
        "activated models/multidimensional/versions/2 (was models/multidimensional/versions/1)"
        " as activations/2\n"
    )
    code, out, _ = run(capsys, *on(server, "versions", "--model", MD))
    assert code == 0
    assert "│ 2       │ ●      │" in out and "engagement" in out and "first start" in out
    code, out, _ = run(capsys, *on(server, "versions", "--model", MD, "--output", "json"))
    versions = json.loads(out)
    assert [(v["version_number"], v["active"]) for v in versions] == [(2, True), (1, False)]
    assert versions[0]["create_time"].endswith("Z")
    code, out, _ = run(capsys, *on(server, "rollback", "--model", MD))
    assert code == 0 and "activated models/multidimensional/versions/1 (was " in out
    code, out, _ = run(capsys, *on(server, "rollback", "--to", "2", "--output", "json"))
    assert code == 0 and json.loads(out)["version"] == "models/multidimensional/versions/2"
    code, out, _ = run(capsys, *on(server, "activations", "--model", MD))
    assert code == 0
    assert "multidimensional/2 │ multidimensional/1" in out
    assert "rollback from multidimensional/2" in out
    code, out, _ = run(capsys, *on(server, "activations", "--output", "json"))
    trail = json.loads(out)
    assert [a["name"] for a in trail] == [f"activations/{n}" for n in (4, 3, 2, 1)]
    assert trail[2]["comment"] == "go" and trail[3]["previous_version"] == ""
    code, out, _ = run(
        capsys, *on(server, "activations", "--model", "account-health", "--output", "json")
    )
    assert code == 0 and json.loads(out) == []


def _publish_account_health(server: Server) -> None:
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(
            parent=AH_DRAFT, profile=engagement_category_profile()
        )
    )
    server.profiles.PublishDraft(profile_service_pb2.PublishDraftRequest(name=AH_DRAFT))


def test_rollback_after_a_model_switch_activates_the_previous_version(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish_account_health(server)
    assert run(capsys, *on(server, "activate", "account-health/1"))[0] == 0
    code, out, err = run(capsys, *on(server, "rollback"))
    assert code == 0, err
    assert out == (
        "activated models/multidimensional/versions/1 (was models/account-health/versions/1)"
        " as activations/3\n"
    )
    # Back again: the version active before is the account-health one.
    code, out, _ = run(capsys, *on(server, "rollback", "--output", "json"))
    assert code == 0 and json.loads(out)["version"] == "models/account-health/versions/1"
    # --model picks the latest version of that model active before, across the switch.
    code, out, _ = run(capsys, *on(server, "rollback", "--model", MD, "--output", "json"))
    data = json.loads(out)
    assert code == 0 and data["version"] == "models/multidimensional/versions/1"
    assert data["previous_version"] == "models/account-health/versions/1"


def test_activating_the_active_version_records_nothing(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *on(server, "activate", "multidimensional/1"))
    assert code == 0
    assert (
        out == "models/multidimensional/versions/1 is already active (as activations/1); "
        "nothing changed\n"
    )
    trail = server.profiles.ListActivations(profile_service_pb2.ListActivationsRequest())
    assert [a.name for a in trail.activations] == ["activations/1"]
    # Nothing to roll back to: the audit has no row pointing at the active version itself.
    code, _, err = run(capsys, *on(server, "rollback"))
    assert code == common.EXIT_NOT_FOUND and "no version was active before" in err


def test_exit_codes(server: Server, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, *on(server, "activate", "multidimensional/99"))
    assert code == common.EXIT_NOT_FOUND and "NOT_FOUND" in err
    code, _, _ = run(capsys, *on(server, "rollback", "--model", MD))
    assert code == common.EXIT_NOT_FOUND  # no version of it was active before
    code, _, err = run(capsys, *on(server, "rollback", "--model", "account-health"))
    assert code == common.EXIT_NOT_FOUND and "no version of account-health was active" in err
    bad = engagement_profile("bad")
    bad.dimensions[0].weight = 7
    server.profiles.CreateProfile(
        profile_service_pb2.CreateProfileRequest(parent=MD_DRAFT, profile=bad)
    )
    code, _, err = run(capsys, *on(server, "publish", "--model", MD))
    assert code == common.EXIT_BAD_INPUT and "profiles[1].dimensions" in err
    missing = tmp_path / "missing.yaml"
    assert run(capsys, "profiles", "validate", str(missing))[0] == common.EXIT_BAD_INPUT
    with pytest.raises(SystemExit) as usage:
        cli.main(["activate", "multidimensional/zero"])
    assert usage.value.code == common.EXIT_BAD_INPUT
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    code, _, err = run(capsys, *on(free, "versions", "--model", MD), "--timeout", "1")
    assert code == common.EXIT_UNAVAILABLE


@pytest.fixture
def secured(tmp_path: Path, tokens_file: Path) -> Iterator[int]:
    rpc_log.configure_logging()
    app = App.open(tmp_path / "data")
    config = replace(ServerConfig(port=0, data_dir=tmp_path / "data"), tokens=tokens_file)
    server, port, _ = build_server(config, app)
    server.start()
    yield port
    server.stop(None)
    app.close()


def test_roles_viewer_denied_editor_cannot_change_the_catalog(
    secured: int, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def as_role(role: str, *args: str) -> tuple[int, str, str]:
        return run(capsys, *on(secured, *args), "--token", TOKENS[role])

    code, text, _ = as_role("viewer", "profiles", "export", "--model", MD)
    assert code == 0
    path = tmp_path / "p.yaml"
    path.write_text(text.replace("number: 60}", "number: 65}"))
    code, _, err = as_role("viewer", "profiles", "import", str(path))
    assert code == common.EXIT_DENIED and "PERMISSION_DENIED" in err
    code, _, err = as_role("viewer", "activate", "multidimensional/1")
    assert code == common.EXIT_DENIED
    # A new catalog attribute: the editor's draft write is undone when the catalog is refused.
    path.write_text(
        path.read_text().replace(
            "  attributes:\n", "  attributes:\n    - {name: nps, type: number}\n", 1
        )
    )
    draft_before = as_role("editor", "profiles", "export", "--model", MD)[1]
    code, _, err = as_role("editor", "profiles", "import", str(path))
    assert code == common.EXIT_DENIED
    assert "changing the catalog needs an admin token; nothing was changed" in err
    after = as_role("editor", "profiles", "export", "--model", MD)[1]
    assert yamlio.load(after).draft.profiles == yamlio.load(draft_before).draft.profiles
    code, out, err = as_role("admin", "profiles", "import", str(path), "--force")
    assert code == 0, err
    assert "updated the draft (1 profile(s)) and catalog" in out


def test_no_token_is_unauthenticated(secured: int, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *on(secured, "versions", "--model", MD))
    assert code == common.EXIT_DENIED and "UNAUTHENTICATED" in err


def test_type_errors_and_the_engines_errors_are_reported_together(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    example = (
        Path(__file__).resolve().parents[2] / "examples/profiles/multidimensional-scorecard.yaml"
    )
    text = example.read_text().replace(
        "{dimension: financial, weight: 20}", "{dimension: financial, weight: 25}"
    )
    text = text.replace("number: 15}", "number: lots}", 1)
    path = tmp_path / "both.yaml"
    path.write_text(text)
    code, _, err = run(capsys, "profiles", "validate", str(path))
    assert code == common.EXIT_BAD_INPUT
    problems = [line.split(": ", 2)[1] for line in err.splitlines()[:-1]]
    assert problems == [
        "profiles[0].dimensions",
        "profiles[0].metrics[4].good.number",
        "profiles[1].dimensions",
    ]
    assert err.splitlines()[-1] == "error: both.yaml: 3 problem(s)"


def test_the_token_from_a_file_or_the_environment_and_a_warning_for_the_flag(
    secured: int,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # --token puts the secret in every user's `ps`: it still works, with a warning; a file or
    # the environment keeps it out of the command line.
    monkeypatch.delenv("HEALTHSCORE_TOKEN", raising=False)
    monkeypatch.delenv("HEALTHSCORE_TOKEN_FILE", raising=False)
    versions = on(secured, "versions", "--model", MD, "--output", "json")
    code, _, err = run(capsys, *versions)
    assert code == common.EXIT_DENIED  # no token at all
    token_file = tmp_path / "viewer.token"
    token_file.write_text(TOKENS["viewer"] + "\n")
    code, _, err = run(capsys, *versions, "--token-file", str(token_file))
    assert code == 0 and "warning" not in err
    monkeypatch.setenv("HEALTHSCORE_TOKEN_FILE", str(token_file))
    code, _, err = run(capsys, *versions)
    assert code == 0 and "warning" not in err
    monkeypatch.delenv("HEALTHSCORE_TOKEN_FILE")
    monkeypatch.setenv("HEALTHSCORE_TOKEN", TOKENS["viewer"])
    code, _, err = run(capsys, *versions)
    assert code == 0 and "warning" not in err
    code, _, err = run(capsys, *versions, "--token", TOKENS["viewer"])
    assert code == 0 and "warning: --token is visible to every user of this machine (ps)" in err
    code, _, err = run(capsys, *versions, "--token-file", str(tmp_path / "missing"))
    assert code == 2 and "cannot read the token file" in err
