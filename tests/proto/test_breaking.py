"""`make lint` runs `buf breaking` against proto/baseline.binpb: it must pass on the contract as
it is and fail on a change that would break generated clients."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = Path(sys.executable).parent / "buf"


def breaking(proto: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", str(proto), "--against", str(ROOT / "proto" / "baseline.binpb")],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def proto(tmp_path: Path) -> Path:
    copy = tmp_path / "proto"
    shutil.copytree(ROOT / "proto", copy)
    return copy


def edit(proto: Path, file: str, old: str, new: str) -> None:
    path = proto / "healthscore" / "v1" / file
    text = path.read_text()
    assert old in text, f"{old!r} is no longer in {file}: update this test"
    path.write_text(text.replace(old, new, 1))


def test_the_contract_as_it_is_passes(proto: Path) -> None:
    done = breaking(proto)
    assert done.returncode == 0, done.stdout + done.stderr


def test_adding_a_field_passes(proto: Path) -> None:
    edit(proto, "catalog.proto", "  string etag = 3;", "  string etag = 3;\n  string note = 99;")
    done = breaking(proto)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("catalog.proto", "  string etag = 3;", "  string etag = 9;", 'field "3"'),
        ("catalog.proto", "  string etag = 3;", "  int64 etag = 3;", "type"),
        (
            "scoring_service.proto",
            "  rpc ScoreHierarchy(ScoreHierarchyRequest) returns (ScoreHierarchyResponse);",
            "",
            "ScoreHierarchy",
        ),
    ],
    ids=["renumbered-field", "changed-type", "removed-rpc"],
)
def test_a_breaking_change_fails(proto: Path, file: str, old: str, new: str, message: str) -> None:
    edit(proto, file, old, new)
    done = breaking(proto)
    assert done.returncode != 0
    assert message in done.stdout + done.stderr
