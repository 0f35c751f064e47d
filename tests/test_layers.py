"""The layers import one way: the wire (`server`) and the command line (`cli`, `admin`) sit on
the domain, the jobs, the history and the store, never the reverse (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "service" / "healthscore"
INNER = ["domain", "store", "jobs", "history", "engine.py", "errors.py", "files.py"]
OUTER = ("healthscore.server", "healthscore.admin", "healthscore.cli")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("inner", INNER)
def test_inner_layers_never_import_the_wire_or_the_command_line(inner: str) -> None:
    root = PACKAGE / inner
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    assert files, f"{root} has no Python files"
    leaks = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in files
        for line, name in _imports(path)
        if name.startswith(OUTER)
    ]
    assert not leaks, "\n".join(leaks)
