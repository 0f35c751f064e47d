"""Differential tests: the Rust engine against the pure-Python reference, on every field of every
result, over generated rulesets and accounts (tests/strategies.py).

Case budget (HYPOTHESIS_PROFILE=ci): 7 000 Account Health + 9 500 Multidimensional row-form
cases, 2 500 columnar and 1 500 Arrow cases (20 500 generated ruleset + request cases), plus
3 000 enterprise roll-ups. Locally each runs a fortieth of that.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthscore.v1 import ruleset_pb2, scoring_pb2
from tests import reference, strategies
from tests.core import support
from tests.core.builders import (
    TIME,
    O,
    account,
    attr,
    catalog,
    category,
    days,
    pred,
    profile,
    request,
    ruleset,
    when,
)
from tests.core.wire import reencode
from tests.reference.convert import expected_arrow_rows, to_arrow, to_columns
from tests.reference.model import I64_MAX, I64_MIN, timestamp_ns

AH = ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH
MD = ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL


@pytest.fixture(scope="session")
def eng():
    return support.engine()


def _check_rows(eng, ruleset, request):
    expected = reference.score(ruleset, request)
    try:
        rules = eng.compile_ruleset(ruleset)
        actual = rules.score(request)
    except Exception as exc:
        pytest.fail(
            f"engine raised {exc!r} on a valid case:{support.describe_case(ruleset, request)}"
        )
    support.assert_same(expected, actual, support.describe_case(ruleset, request))
    # the bytes entry point gives the same bytes' worth of results
    from_bytes = scoring_pb2.ScoreAccountsResponse.FromString(
        rules.score_bytes(request.SerializeToString())
    )
    support.assert_same(
        expected, from_bytes, " (score_bytes)" + support.describe_case(ruleset, request)
    )


@settings(max_examples=strategies.examples(7_000))
@given(case=strategies.scoring_cases(model=AH))
def test_account_health_rows(eng, differential_cases, case):
    ruleset, request = case
    differential_cases["account health (rows)"] = (
        differential_cases.get("account health (rows)", 0) + 1
    )
    _check_rows(eng, ruleset, request)


@settings(max_examples=strategies.examples(9_500))
@given(case=strategies.scoring_cases(model=MD))
def test_multidimensional_rows(eng, differential_cases, case):
    ruleset, request = case
    differential_cases["multidimensional (rows)"] = (
        differential_cases.get("multidimensional (rows)", 0) + 1
    )
    _check_rows(eng, ruleset, request)


@settings(max_examples=strategies.examples(2_500))
@given(
    case=strategies.scoring_cases(),
    sentinels=st.booleans(),
    always_bitmap=st.booleans(),
    extra=st.booleans(),
    data=st.data(),
)
def test_columnar_equals_rows(eng, differential_cases, case, sentinels, always_bitmap, extra, data):
    """The same accounts in columnar form give the same results as in row form."""
    ruleset, request = case
    differential_cases["columnar vs rows"] = differential_cases.get("columnar vs rows", 0) + 1
    order = data.draw(st.permutations(range(len(ruleset.catalog.attributes))), label="order")
    columnar = scoring_pb2.ScoreAccountsRequest(as_of=request.as_of, view=request.view)
    columnar.account_columns.CopyFrom(
        to_columns(
            ruleset,
            request.accounts,
            timestamp_ns(request.as_of),
            sentinels=sentinels,
            always_bitmap=always_bitmap,
            order=order,
            extra_columns=extra,
        )
    )
    expected = reference.score(ruleset, request)
    # the reference's own columnar reading agrees with its row reading
    support.assert_same(
        expected,
        reference.score(ruleset, columnar),
        " (reference rows vs reference columns)" + support.describe_case(ruleset, columnar),
        names=("reference rows", "reference columns"),
    )
    try:
        actual = eng.compile_ruleset(ruleset).score(columnar)
    except Exception as exc:
        pytest.fail(
            f"engine raised {exc!r} on a valid case:{support.describe_case(ruleset, columnar)}"
        )
    support.assert_same(
        expected,
        actual,
        " (columnar)" + support.describe_case(ruleset, columnar),
        names=("reference rows", "engine columns"),
    )


def _as_of_datetime(ns: int) -> datetime.datetime:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return epoch + datetime.timedelta(microseconds=ns // 1000)


def _arrow_diff(expected_rows, batch, groups: set[str]) -> list[str]:
    """`groups`: the ruleset's dimension and category names."""
    actual_rows = batch.to_pylist()
    problems = []
    if len(actual_rows) != len(expected_rows):
        return [f"{len(actual_rows)} rows for {len(expected_rows)} accounts"]
    for i, (want, got) in enumerate(zip(expected_rows, actual_rows, strict=True)):
        for column, value in want.items():
            if column not in got:
                problems.append(f"row {i}: column {column!r} missing (want {value!r})")
            elif got[column] != value:
                problems.append(f"row {i}: {column} = {got[column]!r}, want {value!r}")
        for column, value in got.items():
            is_dimension = column.rsplit(".", 1)[0] in groups
            if column not in want and is_dimension and value is not None:
                problems.append(f"row {i}: {column} = {value!r}, want null (not its profile)")
    return problems


@settings(max_examples=strategies.examples(1_500))
@given(case=strategies.scoring_cases(micros=True))
def test_arrow_equals_proto(eng, differential_cases, case):
    """The Arrow bulk path gives the proto path's results (as the documented columns)."""
    ruleset, request = case
    differential_cases["arrow vs proto"] = differential_cases.get("arrow vs proto", 0) + 1
    as_of_ns = timestamp_ns(request.as_of)
    batch = to_arrow(ruleset, request.accounts, as_of_ns)
    expected = expected_arrow_rows(reference.score(ruleset, request), request.view)
    try:
        out = eng.compile_ruleset(ruleset).score_arrow(
            batch,
            as_of=_as_of_datetime(as_of_ns),
            view=request.view or scoring_pb2.SCORE_VIEW_BASIC,
        )
    except Exception as exc:
        pytest.fail(
            f"engine raised {exc!r} on a valid case:{support.describe_case(ruleset, request)}"
        )
    groups = {d.dimension for p in ruleset.profiles for d in p.dimensions}
    groups |= {c.name for p in ruleset.profiles for c in p.categories}
    problems = _arrow_diff(expected, out, groups)
    if problems:
        pytest.fail(
            "Arrow path disagrees with the reference:\n"
            + "\n".join(problems)
            + f"\n--- batch ---\n{batch.to_pylist()}"
            + support.describe_case(ruleset, request),
            pytrace=False,
        )


@settings(max_examples=strategies.examples(3_000))
@given(request=strategies.roll_up_requests())
def test_roll_up(eng, differential_cases, request):
    differential_cases["enterprise roll-up"] = differential_cases.get("enterprise roll-up", 0) + 1
    expected = reference.roll_up(request)
    try:
        actual = eng.roll_up_enterprise_health(request)
    except Exception as exc:
        pytest.fail(f"engine raised {exc!r} on a valid roll-up:\n{support.text(request)}")
    support.assert_same(expected, actual, f" (roll-up)\n--- request ---\n{support.text(request)}")


# --- the reference alone: it must handle every generated case (no engine needed) ---


@settings(max_examples=strategies.examples(2_000))
@given(case=strategies.scoring_cases(), sentinels=st.booleans())
def test_reference_handles_generated_cases(case, sentinels):
    """The reference scores every generated case, the same in row and in columnar form."""
    ruleset, request = case
    response = reference.score(ruleset, request)
    assert [r.account_id for r in response.results] == [a.id for a in request.accounts]
    columnar = scoring_pb2.ScoreAccountsRequest(as_of=request.as_of, view=request.view)
    columnar.account_columns.CopyFrom(
        to_columns(ruleset, request.accounts, timestamp_ns(request.as_of), sentinels=sentinels)
    )
    support.assert_same(
        response,
        reference.score(ruleset, columnar),
        support.describe_case(ruleset, columnar),
        names=("reference rows", "reference columns"),
    )


# --- fixed edge cases --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "instant",
    [I64_MIN, I64_MIN + 1, -9_223_372_036 * 10**9 - 1, I64_MAX],
    ids=["int64-min", "int64-min+1", "below-first-whole-second", "int64-max"],
)
def test_times_at_the_int64_limits(eng, instant):
    """Every instant that 64-bit nanoseconds hold is a valid TIME (years 1677..2262), as_of too."""
    cat = catalog(attr("t", TIME))
    crit = [pred("t", O.OPERATOR_WITHIN_LAST_DAYS, days(0)), pred("t", O.OPERATOR_IS_NOT_EMPTY)]
    rules = ruleset(AH, cat, profile("p", categories=[category("C", good=crit)]))
    req = request(account("a", t=when(instant)), view=scoring_pb2.SCORE_VIEW_FULL, as_of_ns=instant)
    expected = reference.score(rules, req)
    try:
        actual = eng.compile_ruleset(rules).score(req)
    except Exception as exc:
        pytest.fail(f"engine raised {exc!r} on a valid case:{support.describe_case(rules, req)}")
    support.assert_same(expected, actual, support.describe_case(rules, req))


@settings(max_examples=strategies.examples(2_000))
@given(case=strategies.scoring_cases(), rnd=st.randoms(use_true_random=False))
def test_equivalent_wire_bytes(eng, differential_cases, case, rnd):
    """score_bytes on re-encoded requests (fields reordered, unknown fields, explicit defaults,
    repeated singular fields, split sub-messages, packed/unpacked) means what protobuf says."""
    ruleset, request = case
    differential_cases["wire re-encodings"] = differential_cases.get("wire re-encodings", 0) + 1
    data = reencode(request, rnd)
    parsed = scoring_pb2.ScoreAccountsRequest.FromString(data)
    parsed.DiscardUnknownFields()
    assert parsed == request, "the re-encoder changed the message"
    expected = reference.score(ruleset, parsed)
    try:
        actual = scoring_pb2.ScoreAccountsResponse.FromString(
            eng.compile_ruleset(ruleset).score_bytes(data)
        )
    except Exception as exc:
        case = support.describe_case(ruleset, request)
        pytest.fail(f"engine raised {exc!r} on valid bytes {data!r}:{case}")
    support.assert_same(
        expected, actual, f" (bytes {data!r})" + support.describe_case(ruleset, request)
    )


@settings(max_examples=strategies.examples(1_000))
@given(case=strategies.scoring_cases(), rnd=st.randoms(use_true_random=False), data=st.data())
def test_equivalent_wire_bytes_columnar_and_ruleset(eng, differential_cases, case, rnd, data):
    """The same for columnar requests and for the ruleset bytes given to compile_ruleset."""
    ruleset, request = case
    differential_cases["wire re-encodings"] = differential_cases.get("wire re-encodings", 0) + 1
    columnar = scoring_pb2.ScoreAccountsRequest(as_of=request.as_of, view=request.view)
    columnar.account_columns.CopyFrom(
        to_columns(
            ruleset,
            request.accounts,
            timestamp_ns(request.as_of),
            sentinels=data.draw(st.booleans()),
        )
    )
    request_bytes = reencode(columnar, rnd)
    ruleset_bytes = reencode(ruleset, rnd)
    for message, raw in ((columnar, request_bytes), (ruleset, ruleset_bytes)):
        parsed = type(message).FromString(raw)
        parsed.DiscardUnknownFields()
        assert parsed == message, "the re-encoder changed the message"
    expected = reference.score(ruleset, request)
    try:
        actual = scoring_pb2.ScoreAccountsResponse.FromString(
            eng.compile_ruleset(ruleset_bytes).score_bytes(request_bytes)
        )
    except Exception as exc:
        pytest.fail(
            f"engine raised {exc!r} on valid bytes:{support.describe_case(ruleset, columnar)}"
        )
    support.assert_same(expected, actual, support.describe_case(ruleset, columnar))
