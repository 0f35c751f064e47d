"""Hypothesis strategies: random catalogs, valid rulesets of both models, and accounts for them.

Rulesets are valid by construction (SPEC.md + docs/semantics.md). Accounts are good input (no
wrong kinds, no undeclared levels, no infinities, unique ids) but lean hard on the edges: values
equal to operands and one ulp/nanosecond either side, times exactly N days before as_of, missing
values in every spelling (absent, unset Value, NaN, ""), cancelled accounts, history points at
the exact look-back instant, earlier values of 0 and NaN.

Everything that a ruleset's criteria compare with is recorded in a `_Ctx` while the ruleset is
drawn, so that the accounts can be drawn around those operands.

Generation is the cost of the differential tests, and building a strategy costs Hypothesis more
than drawing from it. So the strategies are built once: constant ones at module level, those that
depend on the drawn catalog or ruleset by `_cached` factories (their arguments are hashable: a
`_Ctx` hashes by identity). The choices, and so the cases, are the same as building them anew.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from hypothesis import strategies as st

from healthscore_client.v1 import (
    account_pb2,
    catalog_pb2,
    criteria_pb2,
    enterprise_pb2,
    health_pb2,
    ruleset_pb2,
    scoring_pb2,
)
from tests.reference.convert import history_value
from tests.reference.model import DAY_NS, I64_MAX, I64_MIN

T = catalog_pb2
O = criteria_pb2  # noqa: E741

DIMENSION_POOL = ["usage", "adoption", "support", "voice", "sentiment", "financial", "engagement"]
TEXT_POOL = ["onboarding", "adoption", "delayed", "blocked", "at risk", "plan in place", "Ünï ✓"]
LEVEL_POOL = ["inactive", "monthly", "weekly", "daily", "none", "low", "high", "critical"]
CATEGORY_POOL = ["Onboarding", "Risk", "Work", "Usage", "Support"]
NICE_NUMBERS = [0.0, -0.0, 1.0, -1.0, 3.0, 10.0, 15.0, 20.0, 50.0, 60.0, 0.1, 2.5, 100.0]
EXTREME_NUMBERS = [1e308, -1e308, 5e-324, -5e-324, 1.7976931348623157e308, 2.0**53 + 1]
NICE_DAYS = [0, 1, 7, 14, 30, 45, 90, 365, -1, -7]
PERIODS = [1, 7, 30, 90]
NICE_PERCENTS = [0.0, 10.0, -10.0, 20.0, 25.0, 50.0, -50.0, 100.0, -100.0, 200.0]
NICE_THEN = [1.0, 2.0, 4.0, -2.0, 10.0, 100.0, 0.1, 3.0, -0.5]

NUMBER_OPS = [
    O.OPERATOR_LESS_THAN,
    O.OPERATOR_LESS_THAN_OR_EQUAL,
    O.OPERATOR_GREATER_THAN,
    O.OPERATOR_GREATER_THAN_OR_EQUAL,
    O.OPERATOR_EQUAL,
    O.OPERATOR_NOT_EQUAL,
]
NS_2000 = 946_684_800 * 10**9
# The lowest instant the random cases use. (I64_MIN itself is a valid TIME too, but the engine
# rejects it: test_differential.py::test_times_at_the_int64_limits keeps that edge under test.)
TIME_MIN = I64_MIN + 1
NS_2100 = 4_102_444_800 * 10**9


@dataclass(eq=False)  # hashable by identity, for `_cached`
class _Ctx:
    """What the drawn ruleset compares with, per attribute."""

    catalog: catalog_pb2.Catalog
    attributes: dict[str, catalog_pb2.Attribute] = field(default_factory=dict)
    numbers: dict[str, list[float]] = field(default_factory=dict)
    days: dict[str, list[int]] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    periods: dict[str, list[int]] = field(default_factory=dict)
    percents: dict[str, list[float]] = field(default_factory=dict)
    changes: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    def note(self, table: dict, name: str, *values) -> None:
        table.setdefault(name, []).extend(values)


# Enough for all the strategies of a few cases (one case's accounts reuse its strategies).
_cached = functools.lru_cache(maxsize=1024)

# Hypothesis's own strategy cache costs more than a draw; these are plain look-ups.
_integers = _cached(st.integers)
_lists = _cached(st.lists)
_permutations = _cached(st.permutations)
_booleans = st.booleans()


def _sampled(values) -> st.SearchStrategy:
    """st.sampled_from(values), built once per pool. Keyed by the reprs too: the cache must not
    take -0.0 for 0.0, or 1 for 1.0."""
    values = tuple(values)
    return _sampled_from(values, tuple(map(repr, values)))


@_cached
def _sampled_from(values: tuple, _reprs: tuple) -> st.SearchStrategy:
    return st.sampled_from(values)


# ---------------------------------------------------------------------------------------------
# Catalogs
# ---------------------------------------------------------------------------------------------

_TYPES = [
    T.ATTRIBUTE_TYPE_NUMBER,
    T.ATTRIBUTE_TYPE_TEXT,
    T.ATTRIBUTE_TYPE_BOOL,
    T.ATTRIBUTE_TYPE_TIME,
    T.ATTRIBUTE_TYPE_ORDINAL,
]
_PREFIX = {
    T.ATTRIBUTE_TYPE_NUMBER: "num",
    T.ATTRIBUTE_TYPE_TEXT: "txt",
    T.ATTRIBUTE_TYPE_BOOL: "flag",
    T.ATTRIBUTE_TYPE_TIME: "time",
    T.ATTRIBUTE_TYPE_ORDINAL: "ord",
}


_DIMENSION_SETS = st.lists(st.sampled_from(DIMENSION_POOL), min_size=1, max_size=3, unique=True)
_DIMENSION_TYPES = st.lists(st.sampled_from(_TYPES), min_size=1, max_size=3)
_SEGMENT_TYPES = st.lists(st.sampled_from(_TYPES), min_size=1, max_size=5, unique=True)
_LEVEL_SETS = st.lists(st.sampled_from(LEVEL_POOL), min_size=2, max_size=5, unique=True)


@_cached
@st.composite
def catalogs(draw) -> catalog_pb2.Catalog:
    """A catalog with 1..3 dimensions, 1..3 attributes of random types under each, and
    1..5 attributes without a dimension (for segments)."""
    dims = draw(_DIMENSION_SETS)
    catalog = catalog_pb2.Catalog()
    for d in dims:
        catalog.dimensions.add(name=d, display_name=d.title())
    specs: list[tuple[int, str]] = []
    for d in dims:
        for t in draw(_DIMENSION_TYPES):
            specs.append((t, d))
    for t in draw(_SEGMENT_TYPES):
        specs.append((t, ""))
    specs = draw(_permutations(tuple(specs)))
    for i, (t, d) in enumerate(specs):
        attribute = catalog.attributes.add(name=f"{_PREFIX[t]}{i}", type=t, dimension=d)
        if draw(_booleans):
            attribute.display_name = f"{_PREFIX[t].title()} {i}"
        if t == T.ATTRIBUTE_TYPE_ORDINAL:
            attribute.ordinal_levels.extend(draw(_LEVEL_SETS))
    return catalog


# ---------------------------------------------------------------------------------------------
# Criteria
# ---------------------------------------------------------------------------------------------

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
_NUMBERS = st.one_of(
    st.sampled_from(NICE_NUMBERS),
    finite_floats,
    st.sampled_from(EXTREME_NUMBERS),
    st.integers(-1000, 1000).map(float),
)
_PERCENTS = st.one_of(st.sampled_from(NICE_PERCENTS), finite_floats)
_DAYS = st.one_of(
    st.sampled_from(NICE_DAYS),
    st.integers(-1000, 40_000),
    st.integers(I64_MIN, I64_MAX),
)
_TEXTS = st.one_of(st.sampled_from(TEXT_POOL), st.text(min_size=1, max_size=4))
_TEXT_SETS = st.lists(_TEXTS, min_size=1, max_size=3, unique=True)
_EMPTINESS_OPS = st.sampled_from([O.OPERATOR_IS_EMPTY, O.OPERATOR_IS_NOT_EMPTY])
_NUMBER_OPS = st.sampled_from(NUMBER_OPS)
_TIME_OPS = st.sampled_from(
    [*NUMBER_OPS, O.OPERATOR_WITHIN_LAST_DAYS, O.OPERATOR_MORE_THAN_DAYS_AGO]
)
_EQUALITY_OPS = st.sampled_from([O.OPERATOR_EQUAL, O.OPERATOR_NOT_EQUAL])
_SET_OPS = st.sampled_from([O.OPERATOR_IN, O.OPERATOR_NOT_IN])
_ORDINAL_OPS = st.sampled_from(
    [O.OPERATOR_EQUAL, O.OPERATOR_NOT_EQUAL, O.OPERATOR_AT_LEAST, O.OPERATOR_AT_MOST]
)
_BOOL_OPS = st.sampled_from([O.OPERATOR_IS_TRUE, O.OPERATOR_IS_FALSE])
_PERIODS = st.sampled_from(PERIODS)


@_cached
@st.composite
def predicates(draw, ctx: _Ctx, name: str) -> criteria_pb2.Predicate:
    """A predicate on attribute `name` whose operator and operand fit its type."""
    attribute = ctx.attributes[name]
    t = attribute.type
    p = criteria_pb2.Predicate(attribute=name)
    if draw(_integers(0, 9)) == 0:
        p.operator = draw(_EMPTINESS_OPS)
        return p
    if t == T.ATTRIBUTE_TYPE_NUMBER:
        if draw(_integers(0, 3)) == 0:  # change in
            p.change_period_days = draw(_PERIODS)
            ctx.note(ctx.periods, name, p.change_period_days)
            operands = _PERCENTS
        else:
            operands = _NUMBERS
        table = ctx.percents if p.change_period_days else ctx.numbers
        if draw(_integers(0, 6)) == 0:
            p.operator = O.OPERATOR_BETWEEN
            low, high = sorted([draw(operands), draw(operands)])
            if draw(_booleans):
                high = low
            p.number_range.low, p.number_range.high = low, high
            bounds = [low, high]
        else:
            p.operator = draw(_NUMBER_OPS)
            p.number = draw(operands)
            bounds = [p.number]
        ctx.note(table, name, *bounds)
        if p.change_period_days:
            ctx.note(ctx.changes, name, *((p.change_period_days, b) for b in bounds))
    elif t == T.ATTRIBUTE_TYPE_TIME:
        choice = draw(_integers(0, 8))
        if choice == 0:
            p.operator = O.OPERATOR_BETWEEN
            low, high = sorted([draw(_DAYS), draw(_DAYS)])
            p.day_range.low, p.day_range.high = low, high
            ctx.note(ctx.days, name, low, high)
        else:
            p.operator = draw(_TIME_OPS)
            p.days = draw(_DAYS)
            ctx.note(ctx.days, name, p.days)
    elif t == T.ATTRIBUTE_TYPE_TEXT:
        if draw(_booleans):
            p.operator = draw(_EQUALITY_OPS)
            p.text = draw(_TEXTS)
            ctx.note(ctx.texts, name, p.text)
        else:
            p.operator = draw(_SET_OPS)
            values = draw(_TEXT_SETS)
            p.text_set.values.extend(values)
            ctx.note(ctx.texts, name, *values)
    elif t == T.ATTRIBUTE_TYPE_ORDINAL:
        levels = _sampled(attribute.ordinal_levels)
        if draw(_integers(0, 2)) == 0:
            p.operator = draw(_SET_OPS)
            p.text_set.values.extend(draw(_lists(levels, min_size=1, max_size=3, unique=True)))
        else:
            p.operator = draw(_ORDINAL_OPS)
            p.text = draw(levels)
    elif t == T.ATTRIBUTE_TYPE_BOOL:
        p.operator = draw(_BOOL_OPS)
    else:  # pragma: no cover
        raise AssertionError(t)
    return p


_COMBINATIONS = st.sampled_from(["all", "any", "negation"])


@_cached
@st.composite
def criteria(draw, ctx: _Ctx, names: tuple[str, ...], depth: int = 0, max_depth: int = 3):
    """A criterion over the attributes `names`: a predicate, or all/any/negation of criteria."""
    if depth >= max_depth or draw(_integers(0, 9)) < 6:
        return criteria_pb2.Criterion(predicate=draw(predicates(ctx, draw(_sampled(names)))))
    kind = draw(_COMBINATIONS)
    if kind == "negation":
        return criteria_pb2.Criterion(negation=draw(criteria(ctx, names, depth + 1, max_depth)))
    children = draw(_lists(criteria(ctx, names, depth + 1, max_depth), max_size=3))
    criterion = criteria_pb2.Criterion()
    getattr(criterion, kind).of.extend(children)
    if not children:
        getattr(criterion, kind).SetInParent()
    return criterion


def nested(criterion: criteria_pb2.Criterion, levels: int, kind: str = "negation"):
    """`criterion` wrapped so that the result is `levels` levels deep in total."""
    out = criterion
    for _ in range(levels - 1):
        wrapper = criteria_pb2.Criterion()
        if kind == "negation":
            wrapper.negation.CopyFrom(out)
        else:
            getattr(wrapper, kind).of.append(out)
        out = wrapper
    return out


# ---------------------------------------------------------------------------------------------
# Rulesets
# ---------------------------------------------------------------------------------------------


# weight patterns whose redistribution rounds halves (50/30/20 without 20: 62.5/37.5 -> 63/38)
WEIGHT_PATTERNS = {
    2: [[1, 99], [50, 50], [0, 100], [25, 75]],
    3: [[60, 20, 20], [50, 30, 20], [1, 7, 92], [25, 25, 50], [0, 50, 50], [10, 10, 80]],
    4: [[25, 25, 25, 25], [10, 30, 30, 30], [0, 0, 50, 50], [5, 15, 20, 60]],
}

_WEIGHT_PATTERNS = {k: st.sampled_from(patterns) for k, patterns in WEIGHT_PATTERNS.items()}


@_cached
@st.composite
def weights(draw, k: int) -> list[int]:
    """k integer weights 0..100 summing to 100 (zeros allowed)."""
    if k == 1:
        return [100]
    pattern = draw(_integers(0, 6))
    if pattern == 0:
        base, rest = divmod(100, k)
        out = [base + (1 if i < rest else 0) for i in range(k)]
    elif pattern <= 2:
        out = [100] + [0] * (k - 1)
    elif pattern <= 4 and k in WEIGHT_PATTERNS:
        out = list(draw(_WEIGHT_PATTERNS[k]))
    else:
        cuts = sorted(draw(_lists(_integers(0, 100), min_size=k - 1, max_size=k - 1)))
        out = [b - a for a, b in zip([0, *cuts], [*cuts, 100], strict=True)]
    return draw(_permutations(tuple(out)))


@_cached
@st.composite
def segments(draw, ctx: _Ctx, names: tuple[str, ...]):
    """None (unset: default profile), an empty `all` (default profile), or a filter."""
    choice = draw(_integers(0, 5))
    if choice == 0:
        return None
    if choice == 1:
        c = criteria_pb2.Criterion()
        c.all.SetInParent()
        return c
    return draw(criteria(ctx, names))


_CATEGORY_SETS = st.lists(st.sampled_from(CATEGORY_POOL), min_size=1, max_size=3, unique=True)


@_cached
@st.composite
def _account_health_profile(draw, ctx: _Ctx, name: str, names: tuple[str, ...]):
    profile = ruleset_pb2.Profile(name=name)
    for category in draw(_CATEGORY_SETS):
        c = profile.categories.add(name=category)
        c.good.extend(draw(_lists(criteria(ctx, names), max_size=3)))
        c.poor.extend(draw(_lists(criteria(ctx, names), max_size=3)))
    return profile


@_cached
@st.composite
def _metric_criterion(draw, ctx: _Ctx, own: str, names: tuple[str, ...]):
    choice = draw(_integers(0, 9))
    if choice < 6:
        return criteria_pb2.Criterion(predicate=draw(predicates(ctx, own)))
    if choice < 9:
        return draw(criteria(ctx, (own,), max_depth=2))
    return draw(criteria(ctx, names, max_depth=2))


@_cached
@st.composite
def _multidimensional_profile(draw, ctx: _Ctx, name: str, names: tuple[str, ...]):
    profile = ruleset_pb2.Profile(name=name)
    by_dimension: dict[str, list[str]] = {}
    for a in ctx.catalog.attributes:
        if a.dimension:
            by_dimension.setdefault(a.dimension, []).append(a.name)
    dims = draw(_lists(_sampled(sorted(by_dimension)), min_size=1, max_size=3, unique=True))
    for d, w in zip(dims, draw(weights(len(dims))), strict=True):
        profile.dimensions.add(dimension=d, weight=w)
    metrics = []
    for d in dims:
        chosen = draw(_lists(_sampled(by_dimension[d]), min_size=1, unique=True))
        metrics.extend(zip(chosen, draw(weights(len(chosen))), strict=True))
    for attribute, w in draw(_permutations(tuple(metrics))):
        m = profile.metrics.add(attribute=attribute, weight=w)
        m.good.CopyFrom(draw(_metric_criterion(ctx, attribute, names)))
        m.poor.CopyFrom(draw(_metric_criterion(ctx, attribute, names)))
    return profile


_POOR_MAXES = st.one_of(st.sampled_from([0, 50, 40, 49]), st.integers(0, 50))
_GOOD_MINS = st.one_of(st.sampled_from([55, 100, 70, 56]), st.integers(55, 100))
_ENTERPRISE_METHODS = st.sampled_from(list(ruleset_pb2.EnterpriseMethod.values()))


@_cached
@st.composite
def model_settings(draw) -> ruleset_pb2.ModelSettings:
    s = ruleset_pb2.ModelSettings()
    if draw(_booleans):
        s.poor_max = draw(_POOR_MAXES)
    if draw(_booleans):
        s.good_min = draw(_GOOD_MINS)
    s.ignore_missing = draw(_integers(0, 2)) > 0
    if draw(_booleans):
        e = s.enterprise
        e.method = draw(_ENTERPRISE_METHODS)
        if draw(_booleans):
            e.poor_share_percent = draw(_integers(0, 100))
    return s


_MODELS = st.sampled_from(
    [ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH, ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL]
)
_VERSIONS = st.sampled_from(["", "multidimensional/draft", "account_health/versions/3"])


@_cached
@st.composite
def rulesets_with_ctx(draw, model: int | None = None) -> tuple[ruleset_pb2.Ruleset, _Ctx]:
    catalog = draw(catalogs())
    ctx = _Ctx(catalog=catalog, attributes={a.name: a for a in catalog.attributes})
    names = tuple(ctx.attributes)
    if model is None:
        model = draw(_MODELS)
    ruleset = ruleset_pb2.Ruleset(version=draw(_VERSIONS), model=model, catalog=catalog)
    if draw(_integers(0, 3)) > 0:
        ruleset.settings.CopyFrom(draw(model_settings()))
    for i in range(draw(_integers(1, 4))):
        name = draw(_sampled([f"p{i}", f"profile {i}", f"Prófile-{i}"]))
        if model == ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH:
            profile = draw(_account_health_profile(ctx, name, names))
        else:
            profile = draw(_multidimensional_profile(ctx, name, names))
        segment = draw(segments(ctx, names))
        if segment is not None:
            profile.segment.CopyFrom(segment)
        ruleset.profiles.append(profile)
    return ruleset, ctx


def rulesets(model: int | None = None):
    return rulesets_with_ctx(model).map(lambda rc: rc[0])


# ---------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------


def ns_to_timestamp(ns: int, ts) -> None:
    ts.seconds, ts.nanos = divmod(ns, 10**9)


@_cached
def as_ofs(micros: bool = False):
    """An evaluation instant, mostly 2000..2100, sometimes anywhere in 64-bit nanoseconds."""
    ns = st.one_of(
        st.integers(NS_2000, NS_2100),
        st.integers(NS_2000 // 10**9, NS_2100 // 10**9).map(lambda s: s * 10**9),
        st.integers(TIME_MIN + 400 * DAY_NS, I64_MAX - 400 * DAY_NS),
        st.sampled_from([TIME_MIN, I64_MAX, 0]),
    )
    if micros:
        # datetime carries microseconds and years 1..9999
        ns = ns.map(lambda x: x - x % 1000).filter(lambda x: x >= TIME_MIN)
    return ns


def _in_i64(ns: int) -> bool:
    return TIME_MIN <= ns <= I64_MAX


_NUMBER_VALUES = st.one_of(st.sampled_from(NICE_NUMBERS + NICE_THEN), finite_floats)


@_cached
@st.composite
def _number_value(draw, ctx: _Ctx, name: str) -> float:
    pool = list(ctx.numbers.get(name, []))
    for then in NICE_THEN:
        for pct in ctx.percents.get(name, [])[:4]:
            pool.append(then + abs(then) * pct / 100.0)
    choice = draw(_integers(0, 5))
    if pool and choice <= 2:
        x = draw(_sampled(pool))
        if choice == 1:
            x = math.nextafter(x, math.inf)
        elif choice == 2:
            x = math.nextafter(x, -math.inf)
        if math.isfinite(x):
            return x
    return draw(_NUMBER_VALUES)


_NEAR_INSTANT = st.sampled_from([0, 0, 1, -1, 10**9, -(10**9)])


@_cached
def _times_around(as_of: int):
    return st.one_of(
        st.integers(max(TIME_MIN, as_of - 400 * DAY_NS), min(I64_MAX, as_of + 10 * DAY_NS)),
        st.integers(TIME_MIN, I64_MAX),
    )


@_cached
@st.composite
def _time_value(draw, ctx: _Ctx, name: str, as_of: int) -> int:
    if ctx.days.get(name) and draw(_integers(0, 3)) > 0:
        n = draw(_sampled(ctx.days[name]))
        ns = as_of - n * DAY_NS + draw(_NEAR_INSTANT)
        if _in_i64(ns):
            return ns
    return draw(_times_around(as_of))


_HISTORY_DELTAS = st.lists(
    st.sampled_from([0, 1, -1, -DAY_NS, DAY_NS, -7 * DAY_NS]), min_size=1, max_size=3, unique=True
)
_HISTORY_VALUES = st.one_of(st.sampled_from([*NICE_THEN, 0.0, -0.0, math.nan]), finite_floats)


@_cached
@st.composite
def _history(draw, ctx: _Ctx, name: str, as_of: int) -> account_pb2.NumberHistory:
    history = account_pb2.NumberHistory()
    instants: set[int] = set()
    for period in ctx.periods.get(name, []) or [draw(_PERIODS)]:
        instant = as_of - period * DAY_NS
        for delta in draw(_HISTORY_DELTAS):
            t = instant + delta
            if _in_i64(t) and t not in instants:
                instants.add(t)
                value = draw(_HISTORY_VALUES)
                point = history.points.add(value=value)
                ns_to_timestamp(t, point.time)
    return history


@_cached
def _account_texts(pool: tuple[str, ...]):
    return st.one_of(_sampled(pool), st.text(max_size=3))


@_cached
@st.composite
def attribute_values(draw, ctx: _Ctx, name: str, as_of: int):
    """A Value for attribute `name` (None: leave the attribute absent)."""
    attribute = ctx.attributes[name]
    t = attribute.type
    choice = draw(_integers(0, 11))
    if choice == 0:
        return None
    if choice == 1:
        return account_pb2.Value()  # no kind: no value
    if choice == 2 and t == T.ATTRIBUTE_TYPE_NUMBER:
        return account_pb2.Value(number_value=math.nan)
    if choice == 2 and t in (T.ATTRIBUTE_TYPE_TEXT, T.ATTRIBUTE_TYPE_ORDINAL):
        return account_pb2.Value(text_value="")
    if t == T.ATTRIBUTE_TYPE_NUMBER:
        return account_pb2.Value(number_value=draw(_number_value(ctx, name)))
    if t == T.ATTRIBUTE_TYPE_TEXT:
        text = draw(_account_texts((*ctx.texts.get(name, []), *TEXT_POOL)))
        return account_pb2.Value(text_value=text)
    if t == T.ATTRIBUTE_TYPE_ORDINAL:
        return account_pb2.Value(text_value=draw(_sampled(attribute.ordinal_levels)))
    if t == T.ATTRIBUTE_TYPE_BOOL:
        return account_pb2.Value(bool_value=draw(_booleans))
    if t == T.ATTRIBUTE_TYPE_TIME:
        value = account_pb2.Value()
        ns_to_timestamp(draw(_time_value(ctx, name, as_of)), value.time_value)
        return value
    raise AssertionError(t)  # pragma: no cover


_ACCOUNT_IDS = st.one_of(
    st.sampled_from(["a", "b", "acct-1", "Ünï"]), st.text(min_size=1, max_size=5)
)
_STATUSES = st.sampled_from(
    [account_pb2.ACCOUNT_STATUS_UNSPECIFIED] * 4
    + [account_pb2.ACCOUNT_STATUS_ACTIVE] * 3
    + [account_pb2.ACCOUNT_STATUS_CANCELLED]
)
_CONTRACT_VALUES = st.integers(-(10**6), 10**12)
_MISSING = st.sampled_from([None, account_pb2.Value()])  # (copied into the account)


@st.composite
def accounts(draw, ctx: _Ctx, as_of: int, min_size: int = 1, max_size: int = 8):
    ids = draw(_lists(_ACCOUNT_IDS, min_size=min_size, max_size=max_size, unique=True))
    parents = _sampled([*ids, "elsewhere"])
    out = []
    for account_id in ids:
        a = account_pb2.Account(id=account_id)
        a.status = draw(_STATUSES)
        if draw(_booleans):
            a.parent_id = draw(parents)
        if draw(_booleans):
            a.contract_value = draw(_CONTRACT_VALUES)
        sparse = draw(_integers(0, 2)) == 0  # many values missing
        for name, attribute in ctx.attributes.items():
            value = draw(attribute_values(ctx, name, as_of))
            if sparse and draw(_booleans):
                value = draw(_MISSING)
            if value is not None:
                a.attributes[name].CopyFrom(value)
            if (
                attribute.type == T.ATTRIBUTE_TYPE_NUMBER
                and (name in ctx.periods or draw(_integers(0, 9)) == 0)
                and draw(_integers(0, 5)) > 0
            ):
                a.history[name].CopyFrom(draw(_history(ctx, name, as_of)))
                if name in ctx.changes and draw(_integers(0, 2)) > 0:
                    # a current value whose change against the earlier one hits an operand
                    period, pct = draw(_sampled(ctx.changes[name]))
                    then = history_value(a, name, period, as_of)
                    if then:
                        v = then + abs(then) * pct / 100.0
                        v = draw(
                            _sampled(
                                [v, v, math.nextafter(v, math.inf), math.nextafter(v, -math.inf)]
                            )
                        )
                        if math.isfinite(v):
                            a.attributes[name].number_value = v
        if draw(_integers(0, 9)) == 0:  # names the catalog does not know are ignored
            a.attributes["not_in_catalog"].text_value = "ignored"
            a.attributes["also_unknown"].number_value = math.inf
            a.history["not_in_catalog"].points.add(value=math.inf)
        out.append(a)
    return out


_VIEWS = st.sampled_from(list(scoring_pb2.ScoreView.values()))


@st.composite
def scoring_cases(draw, model: int | None = None, micros: bool = False):
    """(ruleset, row-form request with 1..8 accounts and an explicit as_of)."""
    ruleset, ctx = draw(rulesets_with_ctx(model))
    as_of = draw(as_ofs(micros))
    request = scoring_pb2.ScoreAccountsRequest(view=draw(_VIEWS))
    ns_to_timestamp(as_of, request.as_of)
    request.accounts.extend(draw(accounts(ctx, as_of)))
    return ruleset, request


# ---------------------------------------------------------------------------------------------
# Enterprise roll-up
# ---------------------------------------------------------------------------------------------


@st.composite
def roll_up_requests(draw) -> enterprise_pb2.RollUpEnterpriseHealthRequest:
    model = draw(
        st.sampled_from(
            [ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH, ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL]
        )
    )
    request = enterprise_pb2.RollUpEnterpriseHealthRequest(model=model)
    if draw(st.booleans()):
        s = request.settings
        s.method = draw(st.sampled_from(list(ruleset_pb2.EnterpriseMethod.values())))
        if draw(st.booleans()):
            s.poor_share_percent = draw(
                st.one_of(st.sampled_from([0, 50, 100]), st.integers(0, 100))
            )
        if draw(st.booleans()):
            s.good_share_percent = draw(
                st.one_of(st.sampled_from([0, 50, 100]), st.integers(0, 100))
            )
    known = [
        health_pb2.HEALTH_RANK_GOOD,
        health_pb2.HEALTH_RANK_AVERAGE,
        health_pb2.HEALTH_RANK_POOR,
    ]
    ranks = [*known, *known, health_pb2.HEALTH_RANK_UNKNOWN, health_pb2.HEALTH_RANK_UNSPECIFIED]
    for p in range(draw(st.integers(0, 4))):
        parent = request.parents.add(parent_id=f"parent-{p}")
        for c in range(draw(st.integers(0, 7))):
            child = parent.children.add(
                account_id=f"child-{p}-{c}", rank=draw(st.sampled_from(ranks))
            )
            if model == ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL and child.rank in known:
                child.score = draw(
                    st.one_of(st.sampled_from([0, 40, 50, 60, 100]), st.integers(0, 100))
                )
            if draw(st.integers(0, 3)) > 0:
                child.contract_value = draw(
                    st.one_of(
                        st.sampled_from([0, -1, 1, 100, 250_000]),
                        st.integers(-(10**12), 10**15),
                    )
                )
    return request


def examples(deep: int) -> int:
    """max_examples for a property test whose full budget is `deep`: all of it under
    HYPOTHESIS_PROFILE=deep (`make test-deep`, before a release), a tenth under `ci` (`make test`,
    what CI runs: the same derandomized cases every run), a fortieth locally; at least 30."""
    import os

    divisor = {"deep": 1, "ci": 10}.get(os.environ.get("HYPOTHESIS_PROFILE", ""), 40)
    return max(deep // divisor, 30)
