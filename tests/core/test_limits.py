"""No argument from Python can abort the process or panic the core: impossible sizes and times
are clean exceptions. Every case runs in a child process (an abort would kill pytest), one case
after another, each reporting its outcome on a line of its own: a child that dies names the case
it died in."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from functools import cache

import pytest

# Each case: a name and the statement to run (`engine`, `_core`, `pa` and `rules` in scope).
CASES: dict[str, str] = {
    "cancel_1e300": "engine.CancelToken(1e300)",
    "cancel_max_float": "engine.CancelToken(1.7976931348623157e308)",
    "cancel_past_u64_seconds": "engine.CancelToken(2.0**64)",
    "cancel_inf": "engine.CancelToken(float('inf'))",
    "cancel_minus_inf": "engine.CancelToken(float('-inf'))",
    "cancel_negative": "engine.CancelToken(-1e300)",
    "cancel_nan": "engine.CancelToken(float('nan'))",
    "raw_cancel_1e300": "_core.CancelToken(1e300)",
    "raw_cancel_nan": "_core.CancelToken(float('nan'))",
    "idset_2_33": "engine.IdSet(2**33)",
    "idset_2_62": "engine.IdSet(2**62)",
    "idset_u64_max": "engine.IdSet(2**64 - 1)",
    "idset_2_64": "engine.IdSet(2**64)",
    "idset_negative": "engine.IdSet(-1)",
    "raw_idset_2_33": "_core.IdSet(2**33)",
    "raw_idset_2_62": "_core.IdSet(2**62)",
    # A null array holds no memory whatever its length (`pa.nulls` would fill a bitmap).
    "id_hashes_of_2_40_nulls": "engine.id_hashes(pa.Array.from_buffers(pa.null(), 2**40, [None]))",
    "raw_score_arrow_as_of_2_126": (
        "b = pa.record_batch({'id': pa.array(['a'])}); "
        "_core.compile_ruleset(rules).score_arrow(*b.__arrow_c_array__(), 2**126, 1)"
    ),
    "raw_score_arrow_as_of_minus_2_126": (
        "b = pa.record_batch({'id': pa.array(['a'])}); "
        "_core.compile_ruleset(rules).score_arrow(*b.__arrow_c_array__(), -(2**126), 1)"
    ),
}

_CHILD = textwrap.dedent(
    """
    import json, sys
    import pyarrow as pa
    from healthscore import _core, engine
    from healthscore.files import DEFAULT_RULESET, load_ruleset
    rules = load_ruleset(DEFAULT_RULESET).SerializeToString()
    for name, statement in json.loads(sys.argv[1]).items():
        try:
            exec(statement)
            outcome = "ok"
        except BaseException as exc:
            outcome = ".".join([type(exc).__module__, type(exc).__name__])
            bases = [c.__name__ for c in type(exc).__mro__]
            outcome += " " + ",".join(bases)
        print(json.dumps([name, outcome]), flush=True)
    """
)


@cache
def _outcomes() -> tuple[dict[str, str], int, str]:
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(CASES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen = dict(json.loads(line) for line in child.stdout.splitlines() if line.startswith("["))
    return seen, child.returncode, child.stderr[-2000:]


def _outcome(name: str) -> str:
    seen, code, stderr = _outcomes()
    if name not in seen:
        died_in = next((n for n in CASES if n not in seen), name)
        pytest.fail(f"the child process died (exit {code}) in case {died_in!r}:\n{stderr}")
    return seen[name]


def _is(outcome: str, *names: str) -> bool:
    """Whether the outcome is an exception with one of `names` among its classes."""
    classes = outcome.split(" ")[1].split(",") if " " in outcome else []
    return any(n in classes for n in names)


@pytest.mark.parametrize(
    "name",
    [
        "cancel_1e300",
        "cancel_max_float",
        "cancel_past_u64_seconds",
        "cancel_inf",
        "cancel_minus_inf",
        "cancel_negative",
        "raw_cancel_1e300",
    ],
)
def test_every_timeout_but_nan_makes_a_token(name: str) -> None:
    assert _outcome(name) == "ok"


@pytest.mark.parametrize("name", ["cancel_nan", "raw_cancel_nan"])
def test_a_nan_timeout_is_refused_as_bad_input(name: str) -> None:
    outcome = _outcome(name)
    assert _is(outcome, "MalformedInputError"), outcome
    if not name.startswith("raw"):
        assert _is(outcome, "ValueError"), outcome


@pytest.mark.parametrize(
    "name", ["idset_2_33", "idset_2_62", "idset_u64_max", "raw_idset_2_33", "raw_idset_2_62"]
)
def test_an_impossible_id_set_size_is_a_memory_error(name: str) -> None:
    outcome = _outcome(name)
    # 2^33 ids want a 128 GiB table: more than this machine has, or (overcommitted) mapped lazily.
    if name.endswith("2_33") and outcome == "ok":
        return
    if name.startswith("raw"):
        assert _is(outcome, "ResourceExhaustedError") and _is(outcome, "CoreError"), outcome
    else:
        assert _is(outcome, "AllocationError") and _is(outcome, "MemoryError"), outcome


@pytest.mark.parametrize("name", ["idset_2_64", "idset_negative"])
def test_an_id_set_size_outside_u64_is_an_overflow_error(name: str) -> None:
    assert _is(_outcome(name), "OverflowError"), _outcome(name)


def test_hashing_a_null_array_of_2_40_rows_is_refused_before_any_allocation() -> None:
    outcome = _outcome("id_hashes_of_2_40_nulls")
    assert _is(outcome, "MalformedInputError") and _is(outcome, "ValueError"), outcome


@pytest.mark.parametrize(
    "name", ["raw_score_arrow_as_of_2_126", "raw_score_arrow_as_of_minus_2_126"]
)
def test_an_as_of_no_timestamp_can_hold_is_refused(name: str) -> None:
    outcome = _outcome(name)
    assert _is(outcome, "MalformedInputError"), outcome


def test_a_token_past_the_clock_never_expires_and_scores() -> None:
    """`CancelToken(1e300)` is no deadline: a call with it completes."""
    from healthscore import engine
    from healthscore.files import DEFAULT_RULESET, load_ruleset
    from healthscore_client.v1 import account_pb2, scoring_pb2

    compiled = engine.compile_ruleset(load_ruleset(DEFAULT_RULESET))
    request = scoring_pb2.ScoreAccountsRequest(accounts=[account_pb2.Account(id="a")])
    for timeout in (1e300, float("inf"), 2.0**64):
        out = compiled.score_bytes(request.SerializeToString(), engine.CancelToken(timeout))
        assert scoring_pb2.ScoreAccountsResponse.FromString(out).results[0].account_id == "a"


def test_resource_exhausted_is_its_own_status() -> None:
    """A size the core cannot allocate reaches a caller as RESOURCE_EXHAUSTED, not INTERNAL."""
    from google.rpc import code_pb2

    from healthscore import engine
    from healthscore.errors import AllocationError
    from healthscore.server.status import to_status

    with pytest.raises(AllocationError) as caught:
        engine.IdSet(2**62)
    assert isinstance(caught.value, MemoryError)
    assert to_status(caught.value).code.value[0] == code_pb2.RESOURCE_EXHAUSTED
