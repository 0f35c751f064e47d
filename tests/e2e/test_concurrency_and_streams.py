"""Several clients at once: etag-guarded edits lose no update, activations switch atomically
under scoring load, and streams score batch by batch on one version."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest

from healthscore_client.v1 import profile_service_pb2 as pb
from healthscore_client.v1 import scoring_pb2
from tests.e2e.conftest import Server
from tests.e2e.support import MD_DRAFT, accounts_request, engagement_profile


@pytest.mark.timeout(120)
def test_concurrent_etag_edits_never_lose_an_update(served: Server) -> None:
    """Each client adds its own profiles with read-modify-write on the etag, retrying on
    ABORTED; every profile ends up in the draft exactly once."""
    clients, per_client = 4, 5
    aborted = 0
    lock = threading.Lock()

    def client(c: int) -> None:
        nonlocal aborted
        for k in range(per_client):
            while True:
                draft = served.profiles.GetDraft(pb.GetDraftRequest(name=MD_DRAFT))
                try:
                    served.profiles.CreateProfile(
                        pb.CreateProfileRequest(
                            parent=MD_DRAFT,
                            profile=engagement_profile(f"c{c}-{k}"),
                            etag=draft.etag,
                        )
                    )
                    break
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.ABORTED
                    with lock:
                        aborted += 1

    with futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    names = [p.name for p in served.profiles.GetDraft(pb.GetDraftRequest(name=MD_DRAFT)).profiles]
    expected = {f"c{c}-{k}" for c in range(clients) for k in range(per_client)}
    assert sorted(n for n in names if n != "default") == sorted(expected)


@pytest.mark.timeout(120)
def test_activations_switch_atomically_under_scoring_load(served: Server) -> None:
    p = served.profiles
    p.CreateProfile(
        pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), position=0)
    )
    v2 = p.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT)).name
    v1 = "models/multidimensional/versions/1"
    request = accounts_request(**{f"a{i}": float(i % 100) for i in range(200)})
    stop = threading.Event()
    seen: set[str] = set()

    def score() -> None:
        while not stop.is_set():
            response = served.scoring.ScoreAccounts(request)
            # One response, one version: every result carries the response's version.
            assert {r.ruleset_version for r in response.results} == {response.ruleset}
            expected_profile = "engagement" if response.ruleset == v2 else "default"
            assert {r.profile for r in response.results} == {expected_profile}
            seen.add(response.ruleset)

    with futures.ThreadPoolExecutor(3) as pool:
        scorers = [pool.submit(score) for _ in range(3)]
        for i in range(10):
            p.ActivateVersion(pb.ActivateVersionRequest(name=v2 if i % 2 == 0 else v1))
        stop.set()
        for f in scorers:
            f.result()
    assert p.GetActiveVersion(pb.GetActiveVersionRequest()).version == v1
    assert len(p.ListActivations(pb.ListActivationsRequest(page_size=100)).activations) == 11
    assert seen <= {v1, v2}


def test_stream_scores_each_batch_in_order_on_one_version(served: Server) -> None:
    p = served.profiles
    p.CreateProfile(
        pb.CreateProfileRequest(parent=MD_DRAFT, profile=engagement_profile(), position=0)
    )
    v2 = p.PublishDraft(pb.PublishDraftRequest(name=MD_DRAFT)).name
    activated = threading.Event()

    def batches():
        for b in range(5):
            yield accounts_request(**{f"b{b}-{i}": 50.0 for i in range(b + 1)})
            if b == 1:
                # Switch versions mid-stream: the stream keeps the one it started with.
                p.ActivateVersion(pb.ActivateVersionRequest(name=v2))
                activated.set()

    responses = list(served.scoring.StreamScoreAccounts(batches()))
    assert activated.is_set()
    assert [len(r.results) for r in responses] == [1, 2, 3, 4, 5]
    assert [r.results[0].account_id for r in responses] == [f"b{b}-0" for b in range(5)]
    assert {r.ruleset for r in responses} == {"models/multidimensional/versions/1"}
    # A new stream starts on the newly active version.
    again = list(served.scoring.StreamScoreAccounts(iter([accounts_request(x=50)])))
    assert again[0].ruleset == v2


def test_stream_reports_a_bad_batch_with_its_field(served: Server) -> None:
    bad = scoring_pb2.ScoreAccountsRequest()
    bad.accounts.add(id="")
    with pytest.raises(grpc.RpcError) as info:
        list(served.scoring.StreamScoreAccounts(iter([accounts_request(a=1), bad])))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
