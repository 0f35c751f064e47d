"""`--database-url` is optional: without it nothing PostgreSQL is imported, so a server without
the `postgres` extra installed runs on SQLite; with it but without the driver, a clear error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from healthscore.errors import InvalidInputError
from healthscore.server import app as app_module

REPO = Path(__file__).resolve().parents[2]

# psycopg made unimportable, as on a machine without the extra.
_WITHOUT_PSYCOPG = """
import sys
from pathlib import Path
sys.modules["psycopg"] = None
sys.modules["psycopg_pool"] = None
from healthscore import cli
from healthscore.server.app import App
app = App.open(Path(sys.argv[1]))
assert app.registry.active().name == "models/multidimensional/versions/1"
app.close()
assert "healthscore.store.postgres" not in sys.modules
print("ok")
"""


@pytest.mark.timeout(120)
def test_a_server_without_the_postgres_driver_runs_on_sqlite(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_PSYCOPG, str(tmp_path / "data")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_database_url_without_the_driver_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "healthscore.store.postgres", raising=False)
    with pytest.raises(InvalidInputError, match=r"pip install 'healthscore\[postgres\]'"):
        app_module.App.open(tmp_path / "data", database_url="postgresql://localhost/x")
