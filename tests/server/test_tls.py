"""TLS settings that would not do what they say are refused at start: client certificates
"optional" (grpcio can only require them, or not ask), an expired or not yet valid server
certificate; one about to expire is warned about."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from healthscore.errors import InvalidInputError
from healthscore.server.config import ServerConfig
from tests.server.conftest import Certs, Running


def certificate(
    tmp_path: Path, not_before: dt.datetime, not_after: dt.datetime
) -> tuple[Path, Path]:
    """A self-signed certificate for localhost valid from `not_before` to `not_after`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


NOW = dt.datetime.now(dt.UTC)


def test_a_client_ca_without_requiring_client_certificates_is_refused(certs: Certs) -> None:
    # The log said client certificates were "optional", but the server never asked for one:
    # a presented certificate was never checked.
    config = ServerConfig(
        tls_cert=certs.server_cert, tls_key=certs.server_key, tls_client_ca=certs.ca
    )
    with pytest.raises(InvalidInputError) as caught:
        config.check()
    assert [v.path for v in caught.value.violations] == ["tls_client_ca"]
    assert "--require-client-cert" in str(caught.value)


@pytest.mark.parametrize(
    ("not_before", "not_after", "message"),
    [
        (NOW - dt.timedelta(days=30), NOW - dt.timedelta(days=1), "expired on"),
        (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=30), "not valid before"),
    ],
    ids=["expired", "not-yet-valid"],
)
def test_a_server_certificate_outside_its_validity_is_refused(
    start: Callable[..., Running],
    tmp_path: Path,
    not_before: dt.datetime,
    not_after: dt.datetime,
    message: str,
) -> None:
    cert, key = certificate(tmp_path, not_before, not_after)
    with pytest.raises(InvalidInputError, match=message) as caught:
        start(tls_cert=cert, tls_key=key)
    assert str(cert) in str(caught.value)
    assert [v.path for v in caught.value.violations] == ["tls_cert"]


def test_a_server_certificate_expiring_soon_is_warned_about(
    start: Callable[..., Running], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = certificate(tmp_path, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=5))
    start(tls_cert=cert, tls_key=key)  # serves
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [warning] = [line for line in lines if line["event"] == "tls_certificate_expiring"]
    assert warning["level"] == "warning"
    assert warning["file"] == str(cert) and warning["days_left"] in (4, 5)


def test_a_certificate_valid_for_long_gets_no_warning(
    start: Callable[..., Running], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = certificate(tmp_path, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=365))
    start(tls_cert=cert, tls_key=key)
    assert "tls_certificate_expiring" not in capsys.readouterr().err
