"""Failures as `HealthScoreError` subclasses with their details, bearer tokens on insecure and TLS
channels, and mutual TLS."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from healthscore_client import (
    AbortedError,
    FailedPreconditionError,
    HealthScoreClient,
    HealthScoreError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from healthscore_client.v1 import ruleset_pb2
from tests.client.conftest import TOKENS, Live
from tests.server.conftest import Certs

MD = "multidimensional"


def test_invalid_argument_names_each_field(client: HealthScoreClient) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        client.score_accounts([{"id": "a"}, {"id": ""}])
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.field_violations] == ["accounts[1].id"]
    assert error.field_violations[0].description
    assert (error.reason, error.domain) == ("INVALID_ARGUMENT", "healthscore.v1")


def test_not_found_and_stale_etag(client: HealthScoreClient) -> None:
    with pytest.raises(NotFoundError, match="versions/99"):
        client.get_version(MD, 99)
    with pytest.raises(NotFoundError):
        client.get_profile(MD, "no-such-profile")
    draft = client.get_draft(MD)
    client.update_draft(MD, draft, update_mask=["settings"])
    with pytest.raises(AbortedError) as caught:
        client.update_draft(MD, draft, update_mask=["settings"])  # draft.etag is now stale
    assert caught.value.reason == "STALE_ETAG"


def test_publishing_an_invalid_draft_lists_its_errors(client: HealthScoreClient) -> None:
    bad = ruleset_pb2.Profile(
        name="bad", metrics=[ruleset_pb2.Metric(attribute="engagement_score", weight=100)]
    )
    client.create_profile(MD, bad, position=0)
    assert not client.validate_draft(MD).valid
    with pytest.raises(FailedPreconditionError) as caught:
        client.publish_draft(MD)
    assert caught.value.precondition_violations
    assert all(v.subject and v.description for v in caught.value.precondition_violations)


def test_roles_through_the_token(secured: Live) -> None:
    with secured.client("viewer") as viewer:
        assert viewer.score_accounts([{"id": "a"}]).results
        draft = viewer.get_draft(MD)
        with pytest.raises(PermissionDeniedError, match="editor"):
            viewer.update_draft(MD, draft)
    with secured.client("editor") as editor:
        version = editor.publish_draft(MD, comment="by the editor")
        assert version.creator == "editor"
        with pytest.raises(PermissionDeniedError):
            editor.activate_version(version.name)
    with secured.client("admin") as admin:
        assert admin.activate_version(version.name).actor == "admin"
    with (
        HealthScoreClient(secured.address, token="hs_wrong") as stranger,
        pytest.raises(UnauthenticatedError),
    ):
        stranger.get_catalog()
    with HealthScoreClient(secured.address) as anonymous:
        with pytest.raises(HealthScoreError) as caught:
            anonymous.get_catalog()
        assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_tls_with_a_token_as_call_credentials(
    start_live: Callable[..., Live], certs: Certs, tokens_file: Path
) -> None:
    live = start_live(tls_cert=certs.server_cert, tls_key=certs.server_key, tokens=tokens_file)
    ca = certs.ca.read_bytes()
    with live.client("admin", tls=True, root_certificates=ca) as client:
        assert client.get_active_version().actor == "system"
        version = client.publish_draft(MD)  # a new version: activating the active one is a no-op
        assert client.activate_version(version.name).actor == "admin"
    with (
        HealthScoreClient(live.address, tls=True, root_certificates=ca) as anonymous,
        pytest.raises(UnauthenticatedError),
    ):
        anonymous.get_catalog()
    plain = HealthScoreClient(live.address, token=TOKENS["admin"], max_attempts=1)
    with plain, pytest.raises(UnavailableError):  # an insecure client cannot talk to a TLS port
        plain.get_catalog(timeout=5)


def test_mutual_tls(start_live: Callable[..., Live], certs: Certs) -> None:
    live = start_live(
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_client_ca=certs.ca,
        require_client_cert=True,
    )
    ca = certs.ca.read_bytes()
    with HealthScoreClient(
        live.address,
        root_certificates=ca,
        certificate_chain=certs.client_cert.read_bytes(),
        private_key=certs.client_key.read_bytes(),
    ) as client:
        assert client.get_draft(MD).name == "models/multidimensional/draft"
    with (
        HealthScoreClient(live.address, root_certificates=ca, max_attempts=1) as no_cert,
        pytest.raises(UnavailableError),
    ):
        no_cert.get_draft(MD, timeout=5)
