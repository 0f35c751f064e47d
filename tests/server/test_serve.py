"""`build_server` and `ServerConfig`: health, reflection, TLS with and without client
certificates, message-size limits, binding, and configuration from flags and environment."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from healthscore.errors import InvalidInputError
from healthscore.server.config import ENV_VARS, MIB, ServerConfig, config_from
from healthscore.server.serve import build_server
from tests.server.conftest import TOKENS, Certs, Running, bearer
from tests.server.fake_app import SCORE, SERVICES, FakeApp

pytestmark = pytest.mark.timeout(60)

HEALTH = "grpc.health.v1.Health"


def check(channel: grpc.Channel, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    status: int = health_pb2_grpc.HealthStub(channel).Check(request, timeout=10).status
    return status


def test_every_service_is_serving(start: Callable[..., Running]) -> None:
    running = start()
    for service in ["", *SERVICES, HEALTH, reflection.SERVICE_NAME]:
        assert check(running.channel, service) == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as caught:
        check(running.channel, "healthscore.v1.NoSuchService")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_graceful_shutdown_turns_health_not_serving(start: Callable[..., Running]) -> None:
    running = start()
    running.health.enter_graceful_shutdown()
    for service in ["", *SERVICES]:
        assert check(running.channel, service) == health_pb2.HealthCheckResponse.NOT_SERVING


def test_reflection_lists_the_services_and_describes_them(
    start: Callable[..., Running], tokens_file: Path
) -> None:
    running = start(tokens=tokens_file)  # reflection needs no token even with auth on
    database = ProtoReflectionDescriptorDatabase(running.channel)
    assert set(database.get_services()) == {*SERVICES, HEALTH, reflection.SERVICE_NAME}
    scoring = database.FindFileContainingSymbol("healthscore.v1.ScoringService")
    assert scoring.package == "healthscore.v1"


def test_tls_serves_only_tls_clients(start: Callable[..., Running], certs: Certs) -> None:
    running = start(tls_cert=certs.server_cert, tls_key=certs.server_key)
    credentials = grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes())
    with grpc.secure_channel(f"localhost:{running.port}", credentials) as channel:
        assert check(channel, "") == health_pb2.HealthCheckResponse.SERVING
        assert channel.unary_unary(SCORE)(b"", timeout=10)
    with pytest.raises(grpc.RpcError) as caught:
        check(running.channel, "")  # plaintext
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_tls_with_required_client_certificates(
    start: Callable[..., Running], certs: Certs, tokens_file: Path
) -> None:
    running = start(
        tokens=tokens_file,
        tls_cert=certs.server_cert,
        tls_key=certs.server_key,
        tls_client_ca=certs.ca,
        require_client_cert=True,
    )
    ca = certs.ca.read_bytes()
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=certs.client_key.read_bytes(),
        certificate_chain=certs.client_cert.read_bytes(),
    )
    with grpc.secure_channel(f"localhost:{running.port}", with_cert) as channel:
        # Client certificates and tokens together: both are checked.
        assert channel.unary_unary(SCORE)(b"", metadata=bearer(TOKENS["viewer"]), timeout=10)
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary(SCORE)(b"", timeout=10)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    without_cert = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(f"localhost:{running.port}", without_cert) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            check(channel, "")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_messages_over_the_limit_are_refused(start: Callable[..., Running]) -> None:
    running = start(max_message_bytes=4096)
    assert running.unary(SCORE, b"x" * 1000)
    with pytest.raises(grpc.RpcError) as caught:
        running.unary(SCORE, b"x" * 10_000)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_the_default_limit_is_64_mib_both_ways() -> None:
    assert ServerConfig().max_message_bytes == 64 * MIB


def test_a_taken_port_is_an_error(start: Callable[..., Running], tmp_path: Path) -> None:
    running = start()
    with pytest.raises(OSError, match=f"127.0.0.1:{running.port}"):
        build_server(ServerConfig(port=running.port), FakeApp(tmp_path))


def test_ipv6_loopback(start: Callable[..., Running]) -> None:
    try:
        running = start(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with grpc.insecure_channel(f"[::1]:{running.port}") as channel:
        assert check(channel, "") == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com", ""])
def test_non_loopback_without_tokens_is_refused(host: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="authentication off"):
        ServerConfig(host=host).check()
    with pytest.raises(InvalidInputError):
        build_server(ServerConfig(host=host, port=0), FakeApp(tmp_path))
    ServerConfig(host=host, tokens=tmp_path / "tokens.yaml").check()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_without_tokens_is_allowed(host: str) -> None:
    ServerConfig(host=host).check()


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"port": 70000}, "port"),
        ({"tls_cert": Path("c.pem")}, "tls_cert"),
        ({"tls_key": Path("k.pem")}, "tls_cert"),
        ({"tls_client_ca": Path("ca.pem")}, "tls_client_ca"),
        ({"require_client_cert": True}, "require_client_cert"),
        ({"max_message_bytes": 0}, "max_message_bytes"),
        ({"grace_seconds": -1.0}, "grace_seconds"),
        ({"threads": 0}, "threads"),
    ],
)
def test_inconsistent_settings_are_refused(fields: dict[str, object], path: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ServerConfig(**fields).check()  # type: ignore[arg-type]
    assert [v.path for v in caught.value.violations] == [path]


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    environ = {
        "HEALTHSCORE_PORT": "6000",
        "HEALTHSCORE_DATA_DIR": "/srv/hs",
        "HEALTHSCORE_TOKENS": "/etc/hs/tokens.yaml",
        "HEALTHSCORE_HOST": "0.0.0.0",
        "HEALTHSCORE_REQUIRE_CLIENT_CERT": "false",
        "HEALTHSCORE_GRACE_SECONDS": "2.5",
        "HEALTHSCORE_MAX_MESSAGE_BYTES": "1024",
    }
    config = config_from({"port": 7000, "data_dir": None}, environ)
    assert config.port == 7000
    assert config.data_dir == Path("/srv/hs")
    assert config.tokens == Path("/etc/hs/tokens.yaml")
    assert config.host == "0.0.0.0"
    assert config.grace_seconds == 2.5 and config.max_message_bytes == 1024
    assert config.require_client_cert is False
    assert config_from({}, {}) == ServerConfig()


def test_every_setting_has_an_environment_variable() -> None:
    assert ENV_VARS["tls_cert"] == "HEALTHSCORE_TLS_CERT"
    assert set(ENV_VARS.values()) == {
        "HEALTHSCORE_" + name
        for name in [
            "HOST", "PORT", "DATA_DIR", "TOKENS", "TLS_CERT", "TLS_KEY", "TLS_CLIENT_CA",
            "REQUIRE_CLIENT_CERT", "MAX_MESSAGE_BYTES", "DRAIN_SECONDS", "GRACE_SECONDS",
            "RPC_THREADS", "WORKERS", "HISTORY_URI", "SNAPSHOT_TIME", "SNAPSHOT_ZONE",
            "HISTORY_RETENTION_DAYS", "MAX_CALLS_PER_CALLER", "MAX_STREAMS_PER_CALLER",
            "STREAM_IDLE_SECONDS", "MAX_CONNECTION_AGE_SECONDS", "HANDSHAKE_TIMEOUT_SECONDS",
            "DATABASE_URL",
        ]
    }  # fmt: skip


def test_the_core_thread_variable_does_not_size_the_rpc_pool() -> None:
    """HEALTHSCORE_THREADS is the Rust core's thread count; the handler threads have their own."""
    assert config_from({}, {"HEALTHSCORE_THREADS": "3"}).threads == ServerConfig().threads
    assert config_from({}, {"HEALTHSCORE_RPC_THREADS": "3"}).threads == 3


@pytest.mark.parametrize(
    ("var", "value"),
    [("HEALTHSCORE_PORT", "http"), ("HEALTHSCORE_REQUIRE_CLIENT_CERT", "maybe")],
)
def test_bad_environment_values_name_the_variable(var: str, value: str) -> None:
    with pytest.raises(InvalidInputError, match=f"{var}='{value}'"):
        config_from({}, {var: value})
