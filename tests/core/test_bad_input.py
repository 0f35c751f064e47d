"""Bad input: each case raises the documented exception, with a message naming the path; every
violation is listed, not just the first. (Engine only: the reference does not validate.)"""

from __future__ import annotations

import math

import pytest

from healthscore_client.v1 import enterprise_pb2, health_pb2, scoring_pb2
from tests.core import support
from tests.core.builders import (
    AH,
    MD,
    NUMBER,
    ORDINAL,
    TEXT,
    TIME,
    O,
    account,
    attr,
    catalog,
    category,
    metric,
    pred,
    profile,
    request,
    ruleset,
)
from tests.core.wire import varint
from tests.strategies import nested


@pytest.fixture(scope="module")
def errors():
    return support.errors()


@pytest.fixture(scope="module")
def engine():
    return support.engine()


def _catalog():
    return catalog(
        attr("logins", NUMBER, "usage"),
        attr("stage", TEXT),
        attr("risk", ORDINAL, levels=["none", "low", "high"]),
        attr("last_touch", TIME),
        dimensions=["usage"],
    )


def _rules(*criteria_):
    c = category("C", good=list(criteria_) or [pred("logins", O.OPERATOR_GREATER_THAN, 3)])
    return ruleset(AH, _catalog(), profile("p", categories=[c]))


def _paths(exc_info):
    return [v.path for v in exc_info.value.violations]


def _raises_naming(error_type, fn, *paths):
    with pytest.raises(error_type) as info:
        fn()
    message = str(info.value)
    for path in paths:
        assert path in _paths(info), (path, _paths(info))
        assert path in message, (path, message)
    return info


# --- malformed bytes and absurd sizes ----------------------------------------------------------


def test_malformed_ruleset_bytes(engine, errors):
    with pytest.raises(errors.MalformedInputError):
        engine.compile_ruleset(b"\xff\xff\xff\xff")


def test_malformed_request_bytes(engine, errors):
    rules = engine.compile_ruleset(_rules())
    with pytest.raises(errors.MalformedInputError):
        rules.score_bytes(b"\x0a\x05abc")  # a length-delimited field that runs past the end


@pytest.mark.parametrize("declared", [2**31, 2**62, 2**64 - 1])
def test_huge_declared_length_is_malformed_not_an_allocation(engine, errors, declared):
    rules = engine.compile_ruleset(_rules())
    with pytest.raises(errors.MalformedInputError):
        rules.score_bytes(b"\x0a" + varint(declared) + b"\x0a\x01a")
    with pytest.raises(errors.MalformedInputError):
        engine.compile_ruleset(b"\x2a" + varint(declared))


def test_errors_are_value_errors(errors):
    assert issubclass(errors.InvalidInputError, ValueError)
    for name in ("InvalidRulesetError", "InvalidAccountsError", "MalformedInputError"):
        assert issubclass(getattr(errors, name), errors.InvalidInputError)


# --- ruleset violations ------------------------------------------------------------------------


def test_unknown_attribute_in_a_criterion(engine, errors):
    rules = _rules(pred("no_such_attribute", O.OPERATOR_GREATER_THAN, 1))
    info = _raises_naming(errors.InvalidRulesetError, lambda: engine.compile_ruleset(rules))
    assert any(p.startswith("profiles[0].categories[0].good[0]") for p in _paths(info)), _paths(
        info
    )
    assert "no_such_attribute" in str(info.value)


@pytest.mark.parametrize(
    "criterion",
    [
        pytest.param(pred("logins", O.OPERATOR_GREATER_THAN, "three"), id="number-with-text"),
        pytest.param(pred("stage", O.OPERATOR_GREATER_THAN, 3), id="text-with-less-than"),
        pytest.param(pred("stage", O.OPERATOR_IS_TRUE), id="text-is-true"),
        pytest.param(pred("risk", O.OPERATOR_EQUAL, "extreme"), id="undeclared-level-operand"),
        pytest.param(pred("last_touch", O.OPERATOR_LESS_THAN, 3.0), id="time-with-number"),
        pytest.param(pred("logins", O.OPERATOR_GREATER_THAN, math.inf), id="infinite-operand"),
        pytest.param(pred("logins", O.OPERATOR_GREATER_THAN, math.nan), id="nan-operand"),
        pytest.param(pred("stage", O.OPERATOR_GREATER_THAN, 3, change=7), id="change-in-on-text"),
        pytest.param(pred("logins", O.OPERATOR_UNSPECIFIED, 3), id="no-operator"),
        pytest.param(pred("logins", O.OPERATOR_BETWEEN, ("range", 5, 1)), id="reversed-range"),
    ],
)
def test_operand_type_mismatch(engine, errors, criterion):
    info = _raises_naming(
        errors.InvalidRulesetError, lambda: engine.compile_ruleset(_rules(criterion))
    )
    assert any(p.startswith("profiles[0].categories[0].good[0]") for p in _paths(info)), _paths(
        info
    )


def test_criteria_nested_32_deep_are_fine_33_are_not(engine, errors):
    leaf = pred("logins", O.OPERATOR_GREATER_THAN, 3)
    engine.compile_ruleset(_rules(nested(leaf, 32)))
    engine.compile_ruleset(_rules(nested(leaf, 32, kind="all")))
    info = _raises_naming(
        errors.InvalidRulesetError, lambda: engine.compile_ruleset(_rules(nested(leaf, 33)))
    )
    assert any(p.startswith("profiles[0].categories[0].good[0]") for p in _paths(info)), _paths(
        info
    )


def _field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def test_criteria_nested_beyond_the_decoder_limit_are_malformed(engine, errors):
    # Python's protobuf refuses to build this message, so its bytes are put together by hand:
    # Ruleset.profiles[0].categories[0].good[0] = 200 nested negations.
    criterion = nested(pred("logins", O.OPERATOR_GREATER_THAN, 3), 200).SerializeToString()
    category_bytes = _field(1, b"C") + _field(2, criterion)
    profile_bytes = _field(1, b"p") + _field(4, category_bytes)
    base = _rules()
    base.ClearField("profiles")
    data = base.SerializeToString() + _field(5, profile_bytes)
    with pytest.raises(errors.MalformedInputError):
        engine.compile_ruleset(data)


def test_every_ruleset_violation_is_listed(engine, errors):
    rules = _rules(
        pred("nope", O.OPERATOR_GREATER_THAN, 1),
        pred("logins", O.OPERATOR_GREATER_THAN, "x"),
        pred("risk", O.OPERATOR_AT_LEAST, "extreme"),
    )
    rules.settings.poor_max = 60
    info = _raises_naming(
        errors.InvalidRulesetError, lambda: engine.compile_ruleset(rules), "settings.poor_max"
    )
    for k in range(3):
        assert any(p.startswith(f"profiles[0].categories[0].good[{k}]") for p in _paths(info)), (
            _paths(info)
        )


def test_duplicate_profile_names(engine, errors):
    rules = _rules()
    rules.profiles.append(rules.profiles[0])
    _raises_naming(
        errors.InvalidRulesetError, lambda: engine.compile_ruleset(rules), "profiles[1].name"
    )


def test_missing_model(engine, errors):
    rules = _rules()
    rules.model = 0
    _raises_naming(errors.InvalidRulesetError, lambda: engine.compile_ruleset(rules), "model")


def test_multidimensional_metric_without_criteria(engine, errors):
    cat = catalog(attr("logins", NUMBER, "usage"), dimensions=["usage"])
    m = metric(
        "logins",
        100,
        pred("logins", O.OPERATOR_GREATER_THAN, 1),
        pred("logins", O.OPERATOR_LESS_THAN, 0),
    )
    m.ClearField("poor")
    rules = ruleset(MD, cat, profile("p", dimensions=[("usage", 100)], metrics=[m]))
    info = _raises_naming(errors.InvalidRulesetError, lambda: engine.compile_ruleset(rules))
    assert any(p.startswith("profiles[0].metrics[0].poor") for p in _paths(info)), _paths(info)


# --- account violations ------------------------------------------------------------------------


def _score(engine, req):
    return engine.compile_ruleset(_rules()).score(req)


def test_account_value_type_mismatches_are_all_listed(engine, errors):
    req = request(
        account("ok", logins=3),
        account("a1", logins="three"),
        account("a2", stage=5.0),
        account("a3", risk=True),
        account("a4", last_touch=1.0),
    )
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, req),
        'accounts[1].attributes["logins"]',
        'accounts[2].attributes["stage"]',
        'accounts[3].attributes["risk"]',
        'accounts[4].attributes["last_touch"]',
    )


def test_nan_is_no_value_not_an_error(engine):
    result = _score(engine, request(account("a", logins=math.nan))).results[0]
    assert result.rank == health_pb2.HEALTH_RANK_AVERAGE


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinity_is_an_error(engine, errors, value):
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, request(account("a"), account("b", logins=value))),
        'accounts[1].attributes["logins"]',
    )


def test_undeclared_ordinal_level(engine, errors):
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, request(account("a", risk="extreme"))),
        'accounts[0].attributes["risk"]',
    )


def test_duplicate_and_empty_ids(engine, errors):
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, request(account("a"), account("b"), account("a"), account(""))),
        "accounts[2].id",
        "accounts[3].id",
    )


def test_unknown_attribute_names_are_ignored(engine):
    a = account("a", logins=5)
    a.attributes["not_in_catalog"].number_value = math.inf
    a.attributes["other"].text_value = "x"
    assert _score(engine, request(a)).results[0].rank == health_pb2.HEALTH_RANK_GOOD


def test_time_outside_64_bit_nanoseconds(engine, errors):
    a = account("a")
    a.attributes["last_touch"].time_value.seconds = 253_402_300_000  # year 10000-ish: past 2262
    b = account("b")
    b.attributes["last_touch"].time_value.seconds = -10_000_000_000  # before 1678
    c = account("c")  # exactly -2^63 ns: reserved as the engine's no-value marker
    c.attributes["last_touch"].time_value.seconds = -9_223_372_037
    c.attributes["last_touch"].time_value.nanos = 145_224_192
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, request(a, b, c)),
        'accounts[0].attributes["last_touch"]',
        'accounts[1].attributes["last_touch"]',
        'accounts[2].attributes["last_touch"]',
    )


def test_bad_history(engine, errors):
    a = account("a", logins=3)
    p = a.history["logins"].points.add(value=1.0)
    p.time.seconds = 1_700_000_000
    p = a.history["logins"].points.add(value=2.0)
    p.time.seconds = 1_700_000_000  # the same instant twice
    b = account("b")
    b.history["stage"].points.add(value=1.0)  # history of a non-NUMBER attribute
    c = account("c")
    c.history["logins"].points.add(value=math.inf)
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, request(a, b, c)),
        'accounts[2].history["logins"].points[0]',
    )
    info = _raises_naming(errors.InvalidAccountsError, lambda: _score(engine, request(a, b, c)))
    paths = _paths(info)
    assert any(p.startswith('accounts[0].history["logins"]') for p in paths), paths
    assert any(p.startswith('accounts[1].history["stage"]') for p in paths), paths


def _columnar_request(n=3):
    req = scoring_pb2.ScoreAccountsRequest()
    req.as_of.seconds = 1_717_200_000
    req.account_columns.ids.extend(f"a{i}" for i in range(n))
    return req


def test_columnar_wrong_kind_and_length(engine, errors):
    req = _columnar_request()
    cols = req.account_columns
    cols.columns.add(attribute="stage").texts.values.extend(["x", "y", "z"])
    cols.columns.add(attribute="logins").texts.values.extend(["1", "2", "3"])  # wrong kind
    cols.columns.add(attribute="risk").texts.values.extend(["none"])  # wrong length
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, req),
        "account_columns.columns[1]",
        "account_columns.columns[2]",
    )


def test_columnar_infinite_value(engine, errors):
    req = _columnar_request(20)
    cols = req.account_columns
    cols.columns.add(attribute="stage").texts.values.extend(["x"] * 20)
    cols.columns.add(attribute="risk").texts.values.extend(["none"] * 20)
    values = [1.0] * 20
    values[17] = math.inf
    cols.columns.add(attribute="logins").numbers.values.extend(values)
    _raises_naming(
        errors.InvalidAccountsError,
        lambda: _score(engine, req),
        "account_columns.columns[2].numbers.values[17]",
    )


def test_unset_as_of_defaults_to_now(engine):
    req = request(account("a", logins=5))
    req.ClearField("as_of")  # default: now
    assert _score(engine, req).results[0].rank == health_pb2.HEALTH_RANK_GOOD


# --- enterprise roll-up -------------------------------------------------------------------------


def test_roll_up_known_child_without_score(engine, errors):
    req = enterprise_pb2.RollUpEnterpriseHealthRequest(model=MD)
    parent = req.parents.add(parent_id="p")
    parent.children.add(account_id="c0", rank=health_pb2.HEALTH_RANK_GOOD, score=90)
    parent.children.add(account_id="c1", rank=health_pb2.HEALTH_RANK_POOR)
    with pytest.raises(errors.InvalidInputError) as info:
        engine.roll_up_enterprise_health(req)
    assert "parents[0].children[1]" in str(info.value)


def test_roll_up_weight_overflow(engine, errors):
    req = enterprise_pb2.RollUpEnterpriseHealthRequest(model=AH)
    req.settings.method = 2  # CONTRACT_VALUE
    parent = req.parents.add(parent_id="p")
    for i in range(3):
        parent.children.add(
            account_id=f"c{i}", rank=health_pb2.HEALTH_RANK_GOOD, contract_value=2**62
        )
    with pytest.raises(errors.InvalidInputError) as info:
        engine.roll_up_enterprise_health(req)
    assert "parents[0]" in str(info.value)


def test_duplicate_catalog_names(engine, errors):
    rules = _rules()
    rules.catalog.attributes.add(name="stage", type=TEXT)
    rules.catalog.dimensions.add(name="usage")
    _raises_naming(
        errors.InvalidRulesetError,
        lambda: engine.compile_ruleset(rules),
        "catalog.attributes[4].name",
        "catalog.dimensions[1].name",
    )


def test_columnar_duplicate_ids(engine, errors):
    req = _columnar_request(3)
    req.account_columns.ids[2] = "a0"
    _raises_naming(
        errors.InvalidAccountsError, lambda: _score(engine, req), "account_columns.ids[2]"
    )


def test_rows_and_columns_together(engine, errors):
    req = _columnar_request(1)
    req.accounts.add(id="x")
    with pytest.raises(errors.InvalidAccountsError):
        _score(engine, req)
