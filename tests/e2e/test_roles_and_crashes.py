"""The real services behind authentication (each role against real methods, the caller as
author), and `healthscore serve` killed inside a publish or an activation: after a restart the
state is entirely before or entirely after."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from healthscore.server.app import App
from healthscore.server.config import ServerConfig
from healthscore.server.serve import build_server
from healthscore_client.v1 import profile_service_pb2 as pb
from healthscore_client.v1 import profile_service_pb2_grpc, scoring_service_pb2_grpc
from tests.e2e.support import MD_DRAFT, accounts_request, engagement_profile, rpc_error
from tests.server.conftest import TOKENS, bearer
from tests.server.test_process import HEALTHSCORE, Process


@pytest.fixture
def secured(tmp_path: Path, tokens_file: Path):
    app = App.open(tmp_path / "data")
    config = replace(ServerConfig(port=0, data_dir=tmp_path / "data"), tokens=tokens_file)
    server, port, _ = build_server(config, app)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield (
        profile_service_pb2_grpc.ProfileServiceStub(channel),
        scoring_service_pb2_grpc.ScoringServiceStub(channel),
    )
    channel.close()
    server.stop(None)
    app.close()


def test_roles_against_the_real_services(secured) -> None:
    profiles, scoring = secured
    viewer, editor, admin = (bearer(TOKENS[r]) for r in ("viewer", "editor", "admin"))
    assert scoring.ScoreAccounts(accounts_request(a=1), metadata=viewer).results
    assert profiles.GetDraft(pb.GetDraftRequest(name=MD_DRAFT), metadata=viewer).profiles
    create = pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), position=0)
    denied = rpc_error(lambda: profiles.CreateProfile(create, metadata=viewer))
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rpc_error(lambda: profiles.CreateProfile(create)).code() == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    draft = profiles.CreateProfile(create, metadata=editor)
    assert draft.updater == "editor"
    version = profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT), metadata=editor)
    assert version.creator == "editor"
    activate = pb.ActivateVersionRequest(name=version.name)
    assert rpc_error(lambda: profiles.ActivateVersion(activate, metadata=editor)).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert profiles.ActivateVersion(activate, metadata=admin).actor == "admin"
    catalog = profiles.GetCatalog(pb.GetCatalogRequest(name="catalog"), metadata=viewer)
    update = pb.UpdateCatalogRequest(catalog=catalog)
    assert rpc_error(lambda: profiles.UpdateCatalog(update, metadata=editor)).code() == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    assert profiles.UpdateCatalog(update, metadata=admin).etag != catalog.etag


def _serve(data_dir: Path, crash: str | None = None) -> Process:
    env = {"HEALTHSCORE_STORE_CRASH": crash} if crash else {}
    return Process([*HEALTHSCORE, "serve", "--port", "0", "--data-dir", str(data_dir)], env)


def _stubs(process: Process):
    port = process.wait_for("server_started")["port"]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return channel, profile_service_pb2_grpc.ProfileServiceStub(channel)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("moment", ["before_commit", "after_commit"])
@pytest.mark.parametrize("write", ["publish", "activate"])
def test_kill_9_inside_a_write_leaves_all_or_nothing(
    tmp_path: Path,
    processes: list[Process],
    write: str,
    moment: str,
) -> None:
    data = tmp_path / "data"
    first = _serve(data)
    processes.append(first)
    channel, profiles = _stubs(first)
    profiles.CreateProfile(
        pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), position=0)
    )
    published = profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT)).name
    channel.close()
    assert first.stop() == 0

    crashing = _serve(data, crash=f"{write}:{moment}")
    processes.append(crashing)
    channel, profiles = _stubs(crashing)
    error = rpc_error(
        lambda: (
            profiles.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT), timeout=30)
            if write == "publish"
            else profiles.ActivateVersion(pb.ActivateVersionRequest(name=published), timeout=30)
        )
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # the server died inside the write
    assert crashing.popen.wait(timeout=30) == -9
    channel.close()

    restarted = _serve(data)
    processes.append(restarted)
    channel, profiles = _stubs(restarted)
    versions = profiles.ListVersions(pb.ListVersionsRequest(parent="models/multidimensional"))
    active = profiles.GetActiveVersion(pb.GetActiveVersionRequest()).version
    committed = moment == "after_commit"
    if write == "publish":
        numbers = [v.version_number for v in versions.versions]
        assert numbers == ([3, 2, 1] if committed else [2, 1])
        if committed:  # the version is whole: its ruleset scores
            request = accounts_request(a=50)
            request.ruleset = "models/multidimensional/versions/3"
            scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
            assert scoring.ScoreAccounts(request).results[0].profile == "engagement"
    else:
        assert active == (published if committed else "models/multidimensional/versions/1")
        trail = profiles.ListActivations(pb.ListActivationsRequest()).activations
        assert len(trail) == (2 if committed else 1)
    channel.close()
