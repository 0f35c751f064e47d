"""Replicas on one PostgreSQL database (`healthscore serve --database-url`): an activation made on
one replica is what every other one scores with within a second (LISTEN/NOTIFY), and a replica
that loses its database leaves the rotation (health NOT_SERVING) and comes back by itself."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from healthscore_client.v1 import profile_service_pb2 as pb
from healthscore_client.v1 import profile_service_pb2_grpc, scoring_service_pb2_grpc
from tests.e2e.support import MD_DRAFT, accounts_request, engagement_profile
from tests.postgres import fresh_database, running_server
from tests.server.test_process import HEALTHSCORE, Process, health_status

# The requirement: an activation reaches every replica within one second.
PROPAGATION_SECONDS = 1.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def replica(data_dir: Path, url: str, *, flag: bool = True) -> Process:
    """A replica on `url`, given by the flag or by HEALTHSCORE_DATABASE_URL."""
    argv = [*HEALTHSCORE, "serve", "--port", "0", "--data-dir", str(data_dir)]
    if flag:
        return Process([*argv, "--database-url", url])
    return Process(argv, {"HEALTHSCORE_DATABASE_URL": url})


def served_ruleset(scoring: scoring_service_pb2_grpc.ScoringServiceStub) -> str:
    response = scoring.ScoreAccounts(accounts_request(a=50), timeout=10)
    assert len(response.results) == 1
    name: str = response.ruleset
    return name


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.mark.timeout(180)
def test_an_activation_reaches_the_other_replica_within_a_second(
    tmp_path: Path, processes: list[Process], database_url: str
) -> None:
    first = replica(tmp_path / "a", database_url)
    processes.append(first)
    first_port = first.wait_for("server_started", timeout=60)["port"]
    second = replica(tmp_path / "b", database_url, flag=False)
    processes.append(second)
    second_port = second.wait_for("server_started", timeout=60)["port"]

    with (
        grpc.insecure_channel(f"127.0.0.1:{first_port}") as a,
        grpc.insecure_channel(f"127.0.0.1:{second_port}") as b,
    ):
        profiles_a = profile_service_pb2_grpc.ProfileServiceStub(a)
        profiles_b = profile_service_pb2_grpc.ProfileServiceStub(b)
        scoring_b = scoring_service_pb2_grpc.ScoringServiceStub(b)
        # One service: the first start initialized the database once; both see the same state.
        initial = profiles_a.GetActiveVersion(pb.GetActiveVersionRequest()).version
        assert profiles_b.GetActiveVersion(pb.GetActiveVersionRequest()).version == initial
        assert served_ruleset(scoring_b) == initial

        # Edits on one replica, etags honoured on the other.
        draft = profiles_a.CreateProfile(
            pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), position=0)
        )
        assert profiles_b.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).etag == draft.etag
        published = profiles_b.PublishDraft(
            pb.PublishDraftRequest(name=MD_DRAFT, etag=draft.etag)
        ).name
        assert published != initial
        # A write on B makes A's etag stale: ABORTED on A, whichever replica a client reaches.
        newer = profiles_b.CreateProfile(
            pb.CreateProfileRequest(
                parent=MD_DRAFT, profile=engagement_profile("other"), etag=draft.etag
            )
        )
        with pytest.raises(grpc.RpcError) as stale:
            profiles_a.CreateProfile(
                pb.CreateProfileRequest(
                    parent=MD_DRAFT, profile=engagement_profile("third"), etag=draft.etag
                )
            )
        assert stale.value.code() == grpc.StatusCode.ABORTED
        assert profiles_a.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).etag == newer.etag

        delays = []
        for round_ in range(6):
            target = published if round_ % 2 == 0 else initial
            profiles_a.ActivateVersion(pb.ActivateVersionRequest(name=target, comment="switch"))
            activated = time.monotonic()
            while served_ruleset(scoring_b) != target:
                elapsed = time.monotonic() - activated
                assert elapsed < PROPAGATION_SECONDS, (
                    f"round {round_}: the other replica still scores with the previous version "
                    f"{elapsed:.2f} s after the activation"
                )
                time.sleep(0.01)
            delays.append(time.monotonic() - activated)
        print(
            "activation -> other replica scoring with it:"
            f" median {statistics.median(delays):.3f} s, max {max(delays):.3f} s"
            f" over {len(delays)} activations"
        )
    assert first.stop() == 0
    assert second.stop() == 0


@pytest.mark.timeout(240)
def test_a_replica_that_loses_the_database_stops_serving_and_recovers(
    tmp_path: Path, processes: list[Process]
) -> None:
    with running_server() as postgres, fresh_database(postgres.url) as url:
        process = replica(tmp_path / "a", url)
        processes.append(process)
        port = process.wait_for("server_started", timeout=60)["port"]
        assert health_status(port) == SERVING

        postgres.stop()
        assert wait_for(lambda: health_status(port) == NOT_SERVING, timeout=15), (
            "still SERVING without its database"
        )
        assert health_status(port, "healthscore.v1.ScoringService") == NOT_SERVING
        process.wait_for("database_unreachable")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            # Still scores with the version it has; what needs the database is UNAVAILABLE (the
            # code clients retry), not an internal error.
            scoring = scoring_service_pb2_grpc.ScoringServiceStub(channel)
            assert served_ruleset(scoring) == "models/multidimensional/versions/1"
            profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
            with pytest.raises(grpc.RpcError) as lost:
                profiles.ListVersions(
                    pb.ListVersionsRequest(parent="models/multidimensional"), timeout=30
                )
            assert lost.value.code() == grpc.StatusCode.UNAVAILABLE

        postgres.start()
        assert wait_for(lambda: health_status(port) == SERVING, timeout=30), (
            "did not come back once the database was back"
        )
        process.wait_for("database_reachable")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            profiles = profile_service_pb2_grpc.ProfileServiceStub(channel)
            # The pool replaced the connections the restart broke: store calls work again.
            versions = profiles.ListVersions(
                pb.ListVersionsRequest(parent="models/multidimensional"), timeout=30
            )
            assert len(versions.versions) == 1
        assert process.stop() == 0
