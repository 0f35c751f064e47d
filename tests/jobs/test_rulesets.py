"""The ruleset: from a service's data directory or from a live server, by name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from healthscore import cli
from healthscore.errors import FailedPreconditionError, HealthScoreError, NotFoundError
from healthscore.jobs import rulesets
from healthscore.server.app import App
from tests.e2e.conftest import Server, start_server
from tests.jobs.support import accounts, read_rows, write

pytestmark = pytest.mark.timeout(60)

MD = "models/multidimensional"
NAMES = ["", MD, f"{MD}/versions/1", f"{MD}/versions/2", f"{MD}/draft"]
EXPECTED = {
    "": f"{MD}/versions/1",
    MD: f"{MD}/versions/2",
    f"{MD}/versions/1": f"{MD}/versions/1",
    f"{MD}/versions/2": f"{MD}/versions/2",
    f"{MD}/draft": f"{MD}/draft",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The first start's v1 (active), v2 published with good_min 75, a draft with 80."""
    directory = tmp_path / "data"
    app = App.open(directory)
    try:
        for good_min in (75, 80):
            draft = app.profiles.get_draft(2)
            draft.settings.good_min = good_min
            app.profiles.update_draft(draft, ["settings.good_min"], "test")
            if good_min == 75:
                app.profiles.publish(2, "v2", "", "test")
    finally:
        app.close()
    return directory


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = start_server(data_dir)
    yield running
    running.stop()


@pytest.mark.parametrize("name", NAMES)
def test_the_data_dir_and_the_server_give_the_same_ruleset(
    data_dir: Path, server: Server, name: str
) -> None:
    local = rulesets.from_data_dir(data_dir, name)
    remote = rulesets.from_server(rulesets.ServerAddress(f"127.0.0.1:{server.port}"), name)
    assert local.name == remote.name == EXPECTED[name]
    assert local.model == remote.model == 2
    assert local.ruleset.settings == remote.ruleset.settings
    assert local.ruleset.profiles == remote.ruleset.profiles
    assert list(local.ruleset.catalog.attributes) == list(remote.ruleset.catalog.attributes)
    good_min = {"": 70, MD: 75, f"{MD}/versions/2": 75, f"{MD}/draft": 80}.get(name, 70)
    assert remote.ruleset.settings.good_min == good_min


def test_unknown_names_are_not_found(data_dir: Path, server: Server) -> None:
    address = rulesets.ServerAddress(f"127.0.0.1:{server.port}")
    with pytest.raises(NotFoundError):
        rulesets.from_data_dir(data_dir, f"{MD}/versions/9")
    with pytest.raises(NotFoundError):
        rulesets.from_server(address, f"{MD}/versions/9")
    with pytest.raises(NotFoundError):
        rulesets.from_server(address, "models/account-health")  # no version published


def test_a_draft_that_does_not_validate_is_refused(data_dir: Path) -> None:
    app = App.open(data_dir)
    try:
        draft = app.profiles.get_draft(2)
        draft.profiles[0].metrics[0].weight = 500
        app.profiles.update_draft(draft, ["profiles"], "test")
    finally:
        app.close()
    with pytest.raises(FailedPreconditionError):
        rulesets.from_data_dir(data_dir, f"{MD}/draft")


def test_rescore_with_a_ruleset_fetched_from_a_live_server(
    tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "a.csv", accounts(10))
    monkeypatch.setenv("HEALTHSCORE_TOKEN", "ignored-when-auth-is-off")
    argv = ["rescore", "--input", str(tmp_path / "a.csv"), "--output", str(tmp_path / "o.jsonl")]
    argv += ["--server", f"127.0.0.1:{server.port}", "--ruleset", MD, "--quiet"]
    assert cli.main(argv) == cli.EXIT_OK
    rows = read_rows(tmp_path / "o.jsonl")
    assert {r["version"] for r in rows} == {f"{MD}/versions/2"} and len(rows) == 10


def test_server_errors_are_reported() -> None:
    address = rulesets.ServerAddress("127.0.0.1:1")  # nothing listens there
    with pytest.raises(HealthScoreError, match="UNAVAILABLE"):
        rulesets.from_server(address, "", timeout=2)


def test_an_invalid_ruleset_fails_before_any_output(tmp_path: Path) -> None:
    from healthscore.errors import InvalidRulesetError
    from healthscore.jobs import rescore
    from tests.jobs.support import config, default_ruleset

    write(tmp_path / "a.csv", accounts(3))
    broken = default_ruleset()
    broken.ruleset.settings.good_min = 500
    with pytest.raises(InvalidRulesetError):
        rescore.run_local(config(tmp_path / "a.csv", tmp_path / "out", ruleset=broken), quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]


def test_a_server_with_authentication_takes_the_token_from_the_environment(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from healthscore.server.auth import hash_token
    from healthscore.server.config import ServerConfig
    from healthscore.server.serve import build_server

    token = "hs_rescore-viewer"
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(f"tokens:\n- {{name: jobs, role: viewer, sha256: {hash_token(token)}}}\n")
    app = App.open(data_dir)
    server, port, _ = build_server(ServerConfig(port=0, data_dir=data_dir, tokens=tokens), app)
    server.start()
    try:
        address = f"127.0.0.1:{port}"
        with pytest.raises(HealthScoreError, match="UNAUTHENTICATED"):
            rulesets.from_server(rulesets.ServerAddress(address), "")
        write(tmp_path / "a.csv", accounts(4))
        monkeypatch.setenv("HEALTHSCORE_TOKEN", token)
        argv = ["rescore", "--input", str(tmp_path / "a.csv"), "--server", address, "--quiet"]
        assert cli.main([*argv, "--output", str(tmp_path / "o.csv")]) == cli.EXIT_OK
        assert {r["version"] for r in read_rows(tmp_path / "o.csv")} == {f"{MD}/versions/1"}
        monkeypatch.setenv("HEALTHSCORE_TOKEN", "hs_wrong")
        assert cli.main([*argv, "--output", str(tmp_path / "p.csv")]) == cli.EXIT_ERROR
    finally:
        server.stop(grace=None)
        app.close()
