"""Differential tests: the Rust engine against the pure-Python reference, on every field of every
result, over generated rulesets and accounts (tests/strategies.py).

Full budget (HYPOTHESIS_PROFILE=deep, `make test-deep`): 6 000 Account Health + 8 000
Multidimensional row-form cases, 2 000 columnar, 1 500 Arrow and 3 000 wire re-encodings
(generated ruleset + request cases), plus 1 500 enterprise roll-ups: about 22 000, printed in the
"differential cases" summary.
`make test` (HYPOTHESIS_PROFILE=ci) runs a tenth of each, locally a fortieth (at least 30).
"""

from __future__ import annotations

import datetime
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthscore_client.v1 import health_pb2 as H
from healthscore_client.v1 import scoring_pb2
from tests import reference, strategies
from tests.core import support
from tests.core.builders import (
    AH,
    MD,
    NAN,
    NUMBER,
    TIME,
    O,
    account,
    ago,
    attr,
    catalog,
    category,
    days,
    metric,
    pred,
    profile,
    request,
    ruleset,
    when,
)
from tests.core.wire import reencode
from tests.reference.convert import expected_arrow_rows, to_arrow, to_columns
from tests.reference.model import I64_MAX, I64_MIN, timestamp_ns

GOOD, AVERAGE = H.HEALTH_RANK_GOOD, H.HEALTH_RANK_AVERAGE


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


@settings(max_examples=strategies.examples(6_000))
@given(case=strategies.scoring_cases(model=AH))
def test_account_health_rows(eng, differential_cases, case):
    ruleset, request = case
    differential_cases["account health (rows)"] = (
        differential_cases.get("account health (rows)", 0) + 1
    )
    _check_rows(eng, ruleset, request)


@settings(max_examples=strategies.examples(8_000))
@given(case=strategies.scoring_cases(model=MD))
def test_multidimensional_rows(eng, differential_cases, case):
    ruleset, request = case
    differential_cases["multidimensional (rows)"] = (
        differential_cases.get("multidimensional (rows)", 0) + 1
    )
    _check_rows(eng, ruleset, request)


@settings(max_examples=strategies.examples(2_000))
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


@settings(max_examples=strategies.examples(1_500))
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


@settings(max_examples=strategies.examples(500))
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
    [I64_MIN + 1, -9_223_372_036 * 10**9 - 1, I64_MAX],
    ids=["int64-min+1", "below-first-whole-second", "int64-max"],
)
def test_times_at_the_int64_limits(eng, instant):
    """Every instant in (-2^63, 2^63) nanoseconds is a valid TIME (1677..2262), as_of too."""
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
@given(case=strategies.scoring_cases(), seed=st.integers(0, 2**32 - 1))
def test_equivalent_wire_bytes(eng, differential_cases, case, seed):
    """score_bytes on re-encoded requests (fields reordered, unknown fields, explicit defaults,
    repeated singular fields, split sub-messages, packed/unpacked) means what protobuf says."""
    ruleset, request = case
    differential_cases["wire re-encodings"] = differential_cases.get("wire re-encodings", 0) + 1
    rnd = random.Random(seed)  # (st.randoms() would make every choice a Hypothesis draw: slow)
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
@given(case=strategies.scoring_cases(), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_equivalent_wire_bytes_columnar_and_ruleset(eng, differential_cases, case, seed, data):
    """The same for columnar requests and for the ruleset bytes given to compile_ruleset."""
    ruleset, request = case
    differential_cases["wire re-encodings"] = differential_cases.get("wire re-encodings", 0) + 1
    rnd = random.Random(seed)  # (st.randoms() would make every choice a Hypothesis draw: slow)
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


def _both(eng, rules, req):
    """The reference's response, after checking that the engine's is the same."""
    expected = reference.score(rules, req)
    try:
        actual = eng.compile_ruleset(rules).score(req)
    except Exception as exc:
        pytest.fail(f"engine raised {exc!r} on a valid case:{support.describe_case(rules, req)}")
    support.assert_same(expected, actual, support.describe_case(rules, req))
    return expected


def _change_rules(op, operand, period=7):
    cat = catalog(attr("n", NUMBER))
    crit = [pred("n", op, operand, change=period)]
    return ruleset(AH, cat, profile("p", categories=[category("C", good=crit)]))


def _with_history(a, *points):
    for t_ns, value in points:
        point = a.history["n"].points.add(value=value)
        point.time.seconds, point.time.nanos = divmod(t_ns, 10**9)
    return a


def test_change_in_look_back_edges(eng):
    rules = _change_rules(O.OPERATOR_EQUAL, 50)
    cases = [
        ("at-the-instant", [(ago(7), 2.0)], GOOD),
        ("one-ns-after", [(ago(7) + 1, 2.0)], AVERAGE),
        ("one-ns-before", [(ago(7) - 1, 2.0)], GOOD),
        ("latest-is-nan", [(ago(9), 2.0), (ago(8), NAN)], AVERAGE),
        ("latest-wins", [(ago(9), 1.0), (ago(8), 2.0), (ago(1), 100.0)], GOOD),
        ("then-zero", [(ago(8), 0.0)], AVERAGE),
        ("then-negative-zero", [(ago(8), -0.0)], AVERAGE),
        ("unordered", [(ago(1), 5.0), (ago(30), 1.0), (ago(8), 2.0)], GOOD),
    ]
    req = request(
        *(_with_history(account(name, n=3.0), *points) for name, points, _ in cases),
        view=scoring_pb2.SCORE_VIEW_FULL,
    )
    results = _both(eng, rules, req).results
    assert [r.rank for r in results] == [rank for *_, rank in cases]


def test_change_in_overflowing_to_infinity(eng):
    rules = _change_rules(O.OPERATOR_GREATER_THAN, 1e300)
    req = request(_with_history(account("a", n=1e308), (ago(8), -1e308)))
    assert _both(eng, rules, req).results[0].rank == GOOD  # (2e308 -> inf) / 1e308 * 100


@pytest.mark.parametrize(
    ("op", "n", "rank"),
    [
        (O.OPERATOR_LESS_THAN, I64_MAX, GOOD),
        (O.OPERATOR_GREATER_THAN, I64_MIN, GOOD),
        (O.OPERATOR_MORE_THAN_DAYS_AGO, I64_MIN, GOOD),
        (O.OPERATOR_WITHIN_LAST_DAYS, I64_MIN, AVERAGE),
        (O.OPERATOR_EQUAL, I64_MAX, AVERAGE),
    ],
)
def test_extreme_day_operands(eng, op, n, rank):
    cat = catalog(attr("t", TIME))
    crit = [pred("t", op, days(n))]
    rules = ruleset(AH, cat, profile("p", categories=[category("C", good=crit)]))
    req = request(account("far-past", t=when(I64_MIN + 1)), account("far-future", t=when(I64_MAX)))
    assert [r.rank for r in _both(eng, rules, req).results] == [rank, rank]


def test_remaining_weights_zero(eng):
    """A dimension whose non-ignored metrics weigh 0 is ignored; account dimensions whose
    non-ignored weights sum to 0 give NO_DATA (the 0-weight dimension keeps its score)."""
    cat = catalog(
        attr("u1", NUMBER, "usage"),
        attr("u2", NUMBER, "usage"),
        attr("s1", NUMBER, "support"),
        dimensions=["usage", "support"],
    )
    metrics = [
        metric(n, w, pred(n, O.OPERATOR_GREATER_THAN, 1), pred(n, O.OPERATOR_LESS_THAN, 0))
        for n, w in (("u1", 100), ("u2", 0), ("s1", 100))
    ]
    p = profile("p", dimensions=[("usage", 100), ("support", 0)], metrics=metrics)
    rules = ruleset(MD, cat, p, ignore_missing=True)
    req = request(
        account("a", u2=5, s1=5), account("b", u1=5, s1=-1), view=scoring_pb2.SCORE_VIEW_FULL
    )
    a, b = _both(eng, rules, req).results
    assert a.unknown_reason == H.UNKNOWN_REASON_NO_DATA and a.profile == "p"
    assert [d.ignored for d in a.dimensions] == [True, False]
    assert a.dimensions[1].score == 100 and a.dimensions[1].effective_weight == 0
    assert [m.outcome for m in a.dimensions[0].metrics] == [
        H.METRIC_OUTCOME_IGNORED,
        H.METRIC_OUTCOME_GOOD,
    ]
    assert (b.score, b.rank) == (100, GOOD)
    assert [d.effective_weight for d in b.dimensions] == [100, 0]
