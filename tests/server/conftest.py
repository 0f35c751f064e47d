"""In-process servers on port 0 built by `build_server` over `FakeApp`, tokens for each role, and
throwaway TLS certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health

from healthscore.server.auth import hash_token
from healthscore.server.config import ServerConfig
from healthscore.server.rpc_log import configure_logging
from healthscore.server.serve import build_server
from tests.server.fake_app import FakeApp

TOKENS = {"viewer": "hs_viewer-token", "editor": "hs_editor-token", "admin": "hs_admin-token"}


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    """One token per role; each entry is named after its role (`viewer`, `editor`, `admin`)."""
    path = tmp_path / "tokens.yaml"
    entries = [{"name": r, "role": r, "sha256": hash_token(t)} for r, t in TOKENS.items()]
    path.write_text(yaml.safe_dump({"tokens": entries}))
    return path


@dataclass
class Running:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    app: FakeApp
    channel: grpc.Channel

    def unary(self, method: str, request: bytes = b"", **kwargs: Any) -> bytes:
        response: bytes = self.channel.unary_unary(method)(request, timeout=10, **kwargs)
        return response


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """`start(**config_fields)`: a started server over `FakeApp` with an insecure channel to it
    (TLS tests make their own channels)."""
    configure_logging()
    running: list[Running] = []

    def _start(**fields: Any) -> Running:
        config = replace(ServerConfig(port=0, data_dir=tmp_path / "data"), **fields)
        app = FakeApp.open(config.data_dir)
        server, port, health_servicer = build_server(config, app)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        running.append(Running(server, port, health_servicer, app, channel))
        return running[-1]

    yield _start
    for r in running:
        r.channel.close()
        r.server.stop(None)


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate,
    both signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    def write_cert(cert: x509.Certificate, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("healthscore test CA"))
        .issuer_name(name("healthscore test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(common: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> Any:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf(
        "localhost",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client_cert, client_key = leaf("scoring-job", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return Certs(
        ca=write_cert(ca, out / "ca.pem"),
        server_cert=write_cert(server_cert, out / "server.pem"),
        server_key=write_key(server_key, out / "server.key"),
        client_cert=write_cert(client_cert, out / "client.pem"),
        client_key=write_key(client_key, out / "client.key"),
    )
