"""`healthscore tokens add` and `healthscore serve`'s refusals to start, with the CLI's exit
codes (0 success, 2 bad input, 1 other errors). Serving itself: tests/server/test_process.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from healthscore import cli
from healthscore.server.auth import Authenticator, hash_token
from healthscore.server.context import Identity, Role


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_tokens_add_prints_the_token_once_and_stores_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.yaml"
    code, out, err = run(
        capsys, "tokens", "add", "--file", str(path), "--name", "ci", "--role", "editor"
    )
    assert code == cli.EXIT_OK
    token = out.strip()
    assert (
        out == token + "\n"
    )  # stdout is the token alone, for `TOKEN=$(healthscore tokens add ...)`
    assert "'ci' (editor)" in err
    assert token not in path.read_text()
    assert yaml.safe_load(path.read_text())["tokens"] == [
        {"name": "ci", "role": "editor", "sha256": hash_token(token)}
    ]
    code, out, _ = run(
        capsys, "tokens", "add", "--file", str(path), "--name", "ops", "--role", "admin"
    )
    assert code == cli.EXIT_OK
    auth = Authenticator.from_file(path)
    assert auth.identify([f"Bearer {token}"]) == Identity("ci", Role.EDITOR)
    assert auth.identify([f"Bearer {out.strip()}"]) == Identity("ops", Role.ADMIN)


def test_tokens_add_refuses_a_taken_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.yaml"
    args = ("tokens", "add", "--file", str(path), "--name", "ci", "--role", "viewer")
    assert run(capsys, *args)[0] == cli.EXIT_OK
    code, out, err = run(capsys, *args)
    assert (code, out) == (cli.EXIT_BAD_INPUT, "")
    assert "'ci' exists already" in err


def test_tokens_add_refuses_a_broken_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens: [{name: a, role: root, sha256: 00}]\n")
    code, out, err = run(
        capsys, "tokens", "add", "--file", str(path), "--name", "b", "--role", "viewer"
    )
    assert (code, out) == (cli.EXIT_BAD_INPUT, "")
    assert "tokens[0] (a): role must be one of viewer, editor, admin" in err


def test_tokens_add_needs_a_known_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["tokens", "add", "--file", str(tmp_path / "t"), "--name", "a", "--role", "root"])
    assert caught.value.code == 2
    assert "invalid choice: 'root'" in capsys.readouterr().err


def test_serve_refuses_a_public_address_without_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d"))
    assert code == cli.EXIT_BAD_INPUT
    assert "refusing to listen on 0.0.0.0 with authentication off" in err
    assert not (tmp_path / "d").exists()  # refused before anything was created


def test_serve_refuses_a_broken_tokens_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text("tokens: [{name: a, role: admin, sha256: 00}]\n")
    code, _, err = run(
        capsys, "serve", "--port", "0", "--data-dir", str(tmp_path / "d"), "--tokens", str(tokens)
    )
    assert code == cli.EXIT_BAD_INPUT
    assert "tokens[0] (a): sha256 must be 64 lowercase hex digits" in err
    assert not (tmp_path / "d").exists()


def test_serve_refuses_half_a_tls_setup(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "serve", "--port", "0", "--tls-cert", str(tmp_path / "c.pem"))
    assert code == cli.EXIT_BAD_INPUT
    assert "TLS needs both a certificate and a key" in err
