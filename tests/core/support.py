"""Helpers of the engine tests: loading the engine (failing loudly), running either
implementation, and readable protobuf diffs."""

from __future__ import annotations

import difflib

import pytest
from google.protobuf import text_format

from tests import reference


def engine():
    """The `healthscore.engine` module; a missing engine is a test failure, never a skip."""
    try:
        from healthscore import engine as module
    except Exception as exc:
        pytest.fail(f"the engine is missing (healthscore.engine): {exc!r}", pytrace=False)
    return module


def errors():
    try:
        from healthscore import errors as module
    except Exception as exc:
        pytest.fail(f"the engine is missing (healthscore.errors): {exc!r}", pytrace=False)
    return module


def engine_score(ruleset, request):
    return engine().compile_ruleset(ruleset).score(request)


def run(impl: str, ruleset, request):
    """Scores with "reference" or "engine"."""
    if impl == "reference":
        return reference.score(ruleset, request)
    return engine_score(ruleset, request)


def run_roll_up(impl: str, request):
    if impl == "reference":
        return reference.roll_up(request)
    return engine().roll_up_enterprise_health(request)


def text(message) -> str:
    return text_format.MessageToString(message, as_utf8=True)


def proto_diff(expected, actual, expected_name="reference", actual_name="engine") -> str:
    return "\n".join(
        difflib.unified_diff(
            text(expected).splitlines(),
            text(actual).splitlines(),
            expected_name,
            actual_name,
            lineterm="",
            n=6,
        )
    )


def assert_same(expected, actual, context: str = "", names=("reference", "engine")) -> None:
    if expected != actual:
        pytest.fail(
            f"{names[0]} and {names[1]} disagree{context}:\n{proto_diff(expected, actual, *names)}",
            pytrace=False,
        )


def describe_case(ruleset, request) -> str:
    return f"\n--- ruleset ---\n{text(ruleset)}\n--- request ---\n{text(request)}"
