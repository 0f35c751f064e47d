"""Atheris harness for the service's request path: arbitrary bytes into the ScoringService
handlers (as gRPC hands them over, undecoded), the engine's byte entry points and ruleset
compilation. Every outcome must be a response or a clean status; a Python exception escaping a
handler, an INTERNAL/UNKNOWN status, or a crash of the core is a finding.

Brief run (`make test`, via tests/fuzz/test_request_path.py): 2,000 inputs from the seeds.
Long run (`make fuzz-python`; see README "Fuzzing"):

    .venv/bin/python tests/fuzz/request_path.py --write-seeds fuzz-corpus/python
    .venv/bin/python tests/fuzz/request_path.py -max_total_time=3600 -rss_limit_mb=4096 \\
        -artifact_prefix=fuzz-findings/ fuzz-corpus/python

The first byte picks the entry point; the rest is its input.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["healthscore"]):
    from healthscore import engine
    from healthscore.errors import EngineError, HealthScoreError
    from healthscore.server import scoring_servicer
    from healthscore.server.app import App

import grpc
from google.rpc import code_pb2, status_pb2

from healthscore.files import DEFAULT_RULESET, load_ruleset
from healthscore_client.v1 import (
    account_pb2,
    enterprise_pb2,
    scoring_pb2,
    scoring_service_pb2,
)

# A status a caller may get for bad bytes; INTERNAL and UNKNOWN are bugs.
CLEAN = {
    code_pb2.INVALID_ARGUMENT,
    code_pb2.NOT_FOUND,
    code_pb2.FAILED_PRECONDITION,
    code_pb2.RESOURCE_EXHAUSTED,
    code_pb2.DEADLINE_EXCEEDED,
    code_pb2.CANCELLED,
}
# What `time_remaining()` answers, picked by the selector byte: no deadline, a normal one, one
# past the clock's range, one already passed.
DEADLINES: list[float | None] = [None, 30.0, 1e300, -1.0]


class _Aborted(Exception):
    """What grpc's `abort_with_status` raises."""


class FakeContext:
    """The part of `grpc.ServicerContext` the handlers use."""

    def __init__(self, remaining: float | None) -> None:
        self._remaining = remaining
        self.status: grpc.Status | None = None

    def time_remaining(self) -> float | None:
        return self._remaining

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return True

    def is_active(self) -> bool:
        return self.status is None

    def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise _Aborted

    def code(self) -> Any:
        return None if self.status is None else self.status.code


_DATA = Path(tempfile.mkdtemp(prefix="healthscore-fuzz-"))
_APP = App.open(_DATA)
_SERVICER = scoring_servicer.ScoringServicer(_APP.registry)


def _call(
    handler: Callable[[Any, FakeContext], Any], request: Any, remaining: float | None
) -> None:
    context = FakeContext(remaining)
    try:
        result = handler(request, context)
        if isinstance(result, Iterator):
            for _ in result:
                pass
    except _Aborted:
        status = context.status
        assert status is not None
        detail = status_pb2.Status.FromString(
            dict(status.trailing_metadata)["grpc-status-details-bin"]
        )
        if detail.code not in CLEAN:
            raise AssertionError(f"status {detail.code}: {detail.message}") from None


def _engine(data: bytes) -> None:
    """The engine's byte entry points; only `HealthScoreError`s other than `EngineError`."""
    for call in (
        lambda: engine.compile_ruleset(data),
        lambda: engine.request_options(data),
        lambda: engine.retag_results(data, 2),
        lambda: engine.roll_up_enterprise_health(
            enterprise_pb2.RollUpEnterpriseHealthRequest.FromString(data)
        ),
    ):
        try:
            call()
        except EngineError:
            raise
        except HealthScoreError:
            pass
        except Exception as exc:  # protobuf's DecodeError for roll_up's own decoding
            if type(exc).__name__ != "DecodeError":
                raise


def _split(body: bytes) -> list[bytes]:
    """Up to three stream messages."""
    if not body:
        return [b""]
    parts = body[0] % 3 + 1
    size = max(1, len(body[1:]) // parts)
    return [body[1 + i * size : 1 + (i + 1) * size] for i in range(parts)]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    selector, body = data[0], data[1:]
    remaining = DEADLINES[(selector >> 3) % len(DEADLINES)]
    method = selector % 5
    if method == 0:
        _call(_SERVICER.ScoreAccounts, body, remaining)
    elif method == 1:
        _call(_SERVICER.StreamScoreAccounts, iter(_split(body)), remaining)
    elif method == 2:
        _call(_SERVICER.PreviewDraft, body, remaining)
    elif method == 3:
        _call(_SERVICER.ScoreHierarchy, body, remaining)
    else:
        _engine(body)


def seeds() -> list[bytes]:
    """Valid inputs of every entry point, to start from."""
    ruleset = load_ruleset(DEFAULT_RULESET)
    accounts = [
        account_pb2.Account(
            id=f"a{i}",
            parent_id="p" if i else "",
            attributes={
                "engagement_score": account_pb2.Value(number_value=float(i * 30)),
                "usage_frequency": account_pb2.Value(text_value="weekly"),
                "csm_risk": account_pb2.Value(text_value="low"),
            },
        )
        for i in range(3)
    ]
    score = scoring_pb2.ScoreAccountsRequest(
        accounts=accounts, view=scoring_pb2.SCORE_VIEW_DIMENSIONS, include_other_model=True
    )
    preview = scoring_service_pb2.PreviewDraftRequest(
        ruleset="models/multidimensional/draft", accounts=accounts
    )
    hierarchy = scoring_service_pb2.ScoreHierarchyRequest(accounts=accounts)
    roll_up = enterprise_pb2.RollUpEnterpriseHealthRequest(
        model=2,
        parents=[
            enterprise_pb2.ParentChildren(
                parent_id="p",
                children=[enterprise_pb2.ChildHealth(account_id="c", rank=1, score=80)],
            )
        ],
    )
    return [
        b"\x00" + score.SerializeToString(),
        b"\x09" + score.SerializeToString(),
        b"\x01\x01" + score.SerializeToString() * 2,
        b"\x02" + preview.SerializeToString(),
        b"\x03" + hierarchy.SerializeToString(),
        b"\x04" + ruleset.SerializeToString(),
        b"\x04" + roll_up.SerializeToString(),
    ]


def write_seeds(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds()):
        (directory / f"seed-{i:02d}").write_bytes(seed)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write-seeds"]:
        write_seeds(Path(sys.argv[2]))
        sys.exit(0)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
