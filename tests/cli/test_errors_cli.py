"""No raw traceback reaches a user of the CLI: an unexpected error is one `error:` line and exit
1; `HEALTHSCORE_TRACEBACK=1` shows the traceback for a bug report."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthscore import cli
from healthscore.server import auth


def boom(*args: object, **kwargs: object) -> str:
    raise KeyError("tokens")  # a bug: nothing the CLI expects


def test_an_unexpected_error_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HEALTHSCORE_TRACEBACK", raising=False)
    monkeypatch.setattr(auth, "add_token", boom)
    argv = ["tokens", "add", "--file", str(tmp_path / "t.yaml"), "--name", "a", "--role", "admin"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: unexpected KeyError: 'tokens'")
    assert "HEALTHSCORE_TRACEBACK=1" in lines[0]


def test_the_traceback_on_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEALTHSCORE_TRACEBACK", "1")
    monkeypatch.setattr(auth, "add_token", boom)
    argv = ["tokens", "add", "--file", str(tmp_path / "t.yaml"), "--name", "a", "--role", "admin"]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "KeyError: 'tokens'" in err


def test_ctrl_c_is_exit_130_without_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.delenv("HEALTHSCORE_TRACEBACK", raising=False)
    monkeypatch.setattr(auth, "add_token", interrupted)
    argv = ["tokens", "add", "--file", str(tmp_path / "t.yaml"), "--name", "a", "--role", "admin"]
    assert cli.main(argv) == 130
    assert "Traceback" not in capsys.readouterr().err
