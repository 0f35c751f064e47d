"""The PostgreSQL the tests use: a configured server that cannot be reached fails the tests; it
never turns them into skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.postgres import URL_ENV

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_an_unreachable_configured_server_fails_the_tests():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:xdist",
            "-p",
            "no:cacheprovider",
            "tests/store/test_store.py::test_an_empty_store_has_nothing",
        ],
        cwd=REPO,
        env={**os.environ, URL_ENV: "postgresql://postgres@127.0.0.1:1/postgres"},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    assert f"{URL_ENV} is set but the server is unreachable" in result.stdout
    assert "1 passed, 1 error" in result.stdout  # SQLite ran; PostgreSQL failed, not skipped
    assert "skipped" not in result.stdout
