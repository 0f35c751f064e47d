"""How the admin commands print a server error: each violation under the message, and the
server's last entry counting the violations it did not list (no field) as a line of its own."""

from __future__ import annotations

import grpc
import pytest

from healthscore.admin import common
from healthscore_client.errors import FieldViolation, InvalidArgumentError


def test_the_count_of_unlisted_violations_prints_without_a_field(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = InvalidArgumentError(
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid profiles",
        field_violations=[
            FieldViolation("draft.profiles[0].name", "required"),
            FieldViolation("", "and 399 more violation(s), not listed"),
        ],
    )
    common.report(error)
    assert capsys.readouterr().err.splitlines() == [
        "error: INVALID_ARGUMENT: invalid profiles",
        "  draft.profiles[0].name: required",
        "  and 399 more violation(s), not listed",
    ]
