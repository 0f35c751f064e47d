"""Reference scoring: SPEC.md §1-§5 and docs/semantics.md, as plainly as possible.

Arithmetic: NUMBER comparisons and the "change in" percentage use Python floats (IEEE-754
doubles, exactly like the spec says); TIME uses integer nanoseconds; every score and weight
computation uses Python integers (exact), with `round_half_up`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from healthscore_client.v1 import (
    account_pb2,
    catalog_pb2,
    criteria_pb2,
    health_pb2,
    ruleset_pb2,
    scoring_pb2,
)

DAY_NS = 86_400 * 10**9
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

DEFAULT_POOR_MAX = 40
DEFAULT_GOOD_MIN = 70

T = catalog_pb2  # attribute types
O = criteria_pb2  # operators  # noqa: E741
H = health_pb2


class ReferenceUnsupported(Exception):
    """The reference was given input it does not handle (invalid ruleset or bad accounts)."""


def round_half_up(numerator: int, denominator: int) -> int:
    """round(n/d) half up, for n >= 0 and d > 0: floor((2n + d) / (2d))."""
    if numerator < 0 or denominator <= 0:
        raise ReferenceUnsupported(f"round_half_up({numerator}, {denominator}) out of domain")
    return (2 * numerator + denominator) // (2 * denominator)


def timestamp_ns(ts) -> int:
    return ts.seconds * 10**9 + ts.nanos


# ---------------------------------------------------------------------------------------------
# Account data: one account's values, already decoded, with "no value" as None.
# ---------------------------------------------------------------------------------------------


@dataclass
class AccountData:
    account_id: str
    cancelled: bool
    # attribute name -> python value (float, str, bool, int nanoseconds) or None (no value)
    values: dict[str, object] = field(default_factory=dict)
    # (attribute, period_days) -> the earlier value, or None (no earlier value)
    lookback: Callable[[str, int], float | None] = lambda _a, _p: None

    def value(self, name: str) -> object:
        return self.values.get(name)


class Catalog:
    def __init__(self, catalog: catalog_pb2.Catalog):
        self.attributes: dict[str, catalog_pb2.Attribute] = {}
        for attribute in catalog.attributes:
            if attribute.name in self.attributes:
                raise ReferenceUnsupported(f"duplicate catalog attribute {attribute.name!r}")
            self.attributes[attribute.name] = attribute

    def attribute(self, name: str) -> catalog_pb2.Attribute:
        try:
            return self.attributes[name]
        except KeyError:
            raise ReferenceUnsupported(f"unknown attribute {name!r}") from None

    def level_index(self, attribute: catalog_pb2.Attribute, level: str) -> int:
        levels = list(attribute.ordinal_levels)
        if level not in levels:
            raise ReferenceUnsupported(f"undeclared level {level!r} of {attribute.name!r}")
        return levels.index(level)


def _number(x: float, where: str) -> float | None:
    if math.isnan(x):
        return None
    if math.isinf(x):
        raise ReferenceUnsupported(f"{where}: infinite number")
    return x


def _time(ns: int, where: str) -> int:
    if not I64_MIN <= ns <= I64_MAX:
        raise ReferenceUnsupported(f"{where}: time outside 64-bit nanoseconds")
    return ns


def _decode_value(catalog: Catalog, attribute, value: account_pb2.Value, where: str) -> object:
    """Decodes one row-form Value of a catalog attribute; None means no value."""
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    t = attribute.type
    if t == T.ATTRIBUTE_TYPE_NUMBER and kind == "number_value":
        return _number(value.number_value, where)
    if t == T.ATTRIBUTE_TYPE_TEXT and kind == "text_value":
        return value.text_value or None
    if t == T.ATTRIBUTE_TYPE_ORDINAL and kind == "text_value":
        if value.text_value == "":
            return None
        catalog.level_index(attribute, value.text_value)  # raises when undeclared
        return value.text_value
    if t == T.ATTRIBUTE_TYPE_BOOL and kind == "bool_value":
        return value.bool_value
    if t == T.ATTRIBUTE_TYPE_TIME and kind == "time_value":
        return _time(timestamp_ns(value.time_value), where)
    raise ReferenceUnsupported(f"{where}: {kind} does not fit {T.AttributeType.Name(t)}")


def _row_accounts(catalog: Catalog, accounts, as_of_ns: int) -> list[AccountData]:
    out: list[AccountData] = []
    seen: set[str] = set()
    for i, account in enumerate(accounts):
        if not account.id or account.id in seen:
            raise ReferenceUnsupported(f"accounts[{i}].id: empty or duplicate")
        seen.add(account.id)
        values: dict[str, object] = {}
        for name, value in account.attributes.items():
            if name in catalog.attributes:
                where = f'accounts[{i}].attributes["{name}"]'
                values[name] = _decode_value(catalog, catalog.attributes[name], value, where)
        histories: dict[str, list[tuple[int, float | None]]] = {}
        for name, history in account.history.items():
            if name not in catalog.attributes:
                continue
            if catalog.attributes[name].type != T.ATTRIBUTE_TYPE_NUMBER:
                raise ReferenceUnsupported(f'accounts[{i}].history["{name}"]: not a NUMBER')
            points = []
            for k, point in enumerate(history.points):
                where = f'accounts[{i}].history["{name}"].points[{k}]'
                points.append((_time(timestamp_ns(point.time), where), _number(point.value, where)))
            if len({t for t, _ in points}) != len(points):
                raise ReferenceUnsupported(f'accounts[{i}].history["{name}"]: duplicate instant')
            histories[name] = points

        def lookback(name: str, period: int, histories=histories) -> float | None:
            instant = as_of_ns - period * DAY_NS
            earlier = [(t, v) for t, v in histories.get(name, []) if t <= instant]
            if not earlier:
                return None
            return max(earlier, key=lambda tv: tv[0])[1]  # NaN already mapped to None

        status = account.status
        if status not in (
            account_pb2.ACCOUNT_STATUS_UNSPECIFIED,
            account_pb2.ACCOUNT_STATUS_ACTIVE,
            account_pb2.ACCOUNT_STATUS_CANCELLED,
        ):
            raise ReferenceUnsupported(f"accounts[{i}].status: {status}")
        out.append(
            AccountData(
                account_id=account.id,
                cancelled=status == account_pb2.ACCOUNT_STATUS_CANCELLED,
                values=values,
                lookback=lookback,
            )
        )
    return out


def _valid(bitmap: bytes, i: int, n: int, where: str) -> bool:
    if not bitmap:
        return True
    if len(bitmap) * 8 < n:
        raise ReferenceUnsupported(f"{where}.validity: too short")
    return bool((bitmap[i // 8] >> (i % 8)) & 1)


_COLUMN_KIND = {
    T.ATTRIBUTE_TYPE_NUMBER: "numbers",
    T.ATTRIBUTE_TYPE_TEXT: "texts",
    T.ATTRIBUTE_TYPE_ORDINAL: "texts",
    T.ATTRIBUTE_TYPE_BOOL: "bools",
    T.ATTRIBUTE_TYPE_TIME: "times",
}


def _columnar_accounts(
    catalog: Catalog, cols: account_pb2.AccountColumns, as_of_ns: int
) -> list[AccountData]:
    n = len(cols.ids)
    ids = list(cols.ids)
    for i, account_id in enumerate(ids):
        if not account_id or account_id in ids[:i]:
            raise ReferenceUnsupported(f"account_columns.ids[{i}]: empty or duplicate")
    if cols.statuses and len(cols.statuses) != n:
        raise ReferenceUnsupported("account_columns.statuses: wrong length")
    values: list[dict[str, object]] = [{} for _ in range(n)]
    seen: set[str] = set()
    for c, column in enumerate(cols.columns):
        where = f"account_columns.columns[{c}]"
        if column.attribute not in catalog.attributes:
            continue
        if column.attribute in seen:
            raise ReferenceUnsupported(f"{where}: duplicate column {column.attribute!r}")
        seen.add(column.attribute)
        attribute = catalog.attributes[column.attribute]
        kind = column.WhichOneof("values")
        if kind != _COLUMN_KIND.get(attribute.type):
            raise ReferenceUnsupported(f"{where}: {kind} does not fit the attribute")
        if kind == "times":
            raw = list(column.times.unix_nanos)
        else:
            raw = list(getattr(column, kind).values)
        if len(raw) != n:
            raise ReferenceUnsupported(f"{where}: {len(raw)} values for {n} accounts")
        for i, x in enumerate(raw):
            w = f"{where}.{kind}.values[{i}]"
            if not _valid(column.validity, i, n, where):
                v = None
            elif kind == "numbers":
                v = _number(x, w)
            elif kind == "texts":
                v = x or None
                if v is not None and attribute.type == T.ATTRIBUTE_TYPE_ORDINAL:
                    catalog.level_index(attribute, v)
            elif kind == "times":
                v = x
            else:
                v = x
            values[i][column.attribute] = v
    lookbacks: dict[tuple[str, int], list[float | None]] = {}
    for c, lb in enumerate(cols.lookbacks):
        where = f"account_columns.lookbacks[{c}]"
        if lb.attribute not in catalog.attributes:
            continue
        if lb.period_days <= 0:
            raise ReferenceUnsupported(f"{where}.period_days: not positive")
        if catalog.attributes[lb.attribute].type != T.ATTRIBUTE_TYPE_NUMBER:
            raise ReferenceUnsupported(f"{where}: not a NUMBER attribute")
        key = (lb.attribute, lb.period_days)
        if key in lookbacks:
            raise ReferenceUnsupported(f"{where}: duplicate look-back column")
        if len(lb.values) != n:
            raise ReferenceUnsupported(f"{where}: wrong length")
        lookbacks[key] = [
            _number(x, f"{where}.values[{i}]") if _valid(lb.validity, i, n, where) else None
            for i, x in enumerate(lb.values)
        ]
    out = []
    for i in range(n):
        status = cols.statuses[i] if cols.statuses else account_pb2.ACCOUNT_STATUS_UNSPECIFIED

        def lookback(name: str, period: int, i=i) -> float | None:
            column = lookbacks.get((name, period))
            return None if column is None else column[i]

        out.append(
            AccountData(
                account_id=ids[i],
                cancelled=status == account_pb2.ACCOUNT_STATUS_CANCELLED,
                values=values[i],
                lookback=lookback,
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Criteria
# ---------------------------------------------------------------------------------------------

_NUMBER_OPS = {
    O.OPERATOR_LESS_THAN: lambda a, b: a < b,
    O.OPERATOR_LESS_THAN_OR_EQUAL: lambda a, b: a <= b,
    O.OPERATOR_GREATER_THAN: lambda a, b: a > b,
    O.OPERATOR_GREATER_THAN_OR_EQUAL: lambda a, b: a >= b,
    O.OPERATOR_EQUAL: lambda a, b: a == b,
    O.OPERATOR_NOT_EQUAL: lambda a, b: a != b,
}


class Evaluator:
    def __init__(self, catalog: Catalog, as_of_ns: int):
        self.catalog = catalog
        self.as_of_ns = as_of_ns

    def holds(self, criterion: criteria_pb2.Criterion, account: AccountData, depth=1) -> bool:
        if depth > 32:
            raise ReferenceUnsupported("criterion nested deeper than 32")
        kind = criterion.WhichOneof("kind")
        if kind == "predicate":
            return self.predicate(criterion.predicate, account)
        if kind == "all":
            return all(self.holds(c, account, depth + 1) for c in criterion.all.of)
        if kind == "any":
            return any(self.holds(c, account, depth + 1) for c in criterion.any.of)
        if kind == "negation":
            return not self.holds(criterion.negation, account, depth + 1)
        raise ReferenceUnsupported("criterion without a kind")

    def predicate(self, p: criteria_pb2.Predicate, account: AccountData) -> bool:
        attribute = self.catalog.attribute(p.attribute)
        op = p.operator
        operand = p.WhichOneof("operand")
        value = account.value(p.attribute)
        if p.change_period_days < 0:
            raise ReferenceUnsupported("negative change_period_days")
        if op in (O.OPERATOR_IS_EMPTY, O.OPERATOR_IS_NOT_EMPTY):
            if operand is not None or p.change_period_days:
                raise ReferenceUnsupported("IS_EMPTY/IS_NOT_EMPTY with an operand or change")
            return (value is None) == (op == O.OPERATOR_IS_EMPTY)
        t = attribute.type
        if p.change_period_days > 0:
            if t != T.ATTRIBUTE_TYPE_NUMBER:
                raise ReferenceUnsupported("change in on a non-NUMBER attribute")
            if value is None:
                return False
            then = account.lookback(p.attribute, p.change_period_days)
            if then is None or then == 0:
                return False
            pct = (value - then) / abs(then) * 100.0
            return self._compare_number(p, pct)
        if value is None:
            return False
        if t == T.ATTRIBUTE_TYPE_NUMBER:
            return self._compare_number(p, value)
        if t == T.ATTRIBUTE_TYPE_TIME:
            return self._compare_time(p, value)
        if t == T.ATTRIBUTE_TYPE_TEXT:
            return self._compare_text(p, value)
        if t == T.ATTRIBUTE_TYPE_ORDINAL:
            return self._compare_ordinal(p, attribute, value)
        if t == T.ATTRIBUTE_TYPE_BOOL:
            if operand is not None:
                raise ReferenceUnsupported("BOOL predicate with an operand")
            if op == O.OPERATOR_IS_TRUE:
                return value is True
            if op == O.OPERATOR_IS_FALSE:
                return value is False
        raise ReferenceUnsupported(f"operator {O.Operator.Name(op)} on {T.AttributeType.Name(t)}")

    @staticmethod
    def _need(p, operand: str) -> None:
        if p.WhichOneof("operand") != operand:
            raise ReferenceUnsupported(f"{O.Operator.Name(p.operator)} needs operand {operand}")

    def _compare_number(self, p, x: float) -> bool:
        if p.operator in _NUMBER_OPS:
            self._need(p, "number")
            return _NUMBER_OPS[p.operator](x, p.number)
        if p.operator == O.OPERATOR_BETWEEN:
            self._need(p, "number_range")
            return p.number_range.low <= x <= p.number_range.high
        raise ReferenceUnsupported(f"operator {O.Operator.Name(p.operator)} on a number")

    def _compare_time(self, p, t_ns: int) -> bool:
        d = self.as_of_ns - t_ns  # exact integer nanoseconds since t
        op = p.operator
        if op in _NUMBER_OPS:
            self._need(p, "days")
            return _NUMBER_OPS[op](d, p.days * DAY_NS)
        if op == O.OPERATOR_BETWEEN:
            self._need(p, "day_range")
            return p.day_range.low * DAY_NS <= d <= p.day_range.high * DAY_NS
        if op == O.OPERATOR_WITHIN_LAST_DAYS:
            self._need(p, "days")
            return d <= p.days * DAY_NS
        if op == O.OPERATOR_MORE_THAN_DAYS_AGO:
            self._need(p, "days")
            return d > p.days * DAY_NS
        raise ReferenceUnsupported(f"operator {O.Operator.Name(op)} on TIME")

    def _compare_text(self, p, s: str) -> bool:
        op = p.operator
        if op in (O.OPERATOR_EQUAL, O.OPERATOR_NOT_EQUAL):
            self._need(p, "text")
            return (s == p.text) == (op == O.OPERATOR_EQUAL)
        if op in (O.OPERATOR_IN, O.OPERATOR_NOT_IN):
            self._need(p, "text_set")
            return (s in p.text_set.values) == (op == O.OPERATOR_IN)
        raise ReferenceUnsupported(f"operator {O.Operator.Name(op)} on TEXT")

    def _compare_ordinal(self, p, attribute, level: str) -> bool:
        op = p.operator
        index = self.catalog.level_index(attribute, level)
        if op in (O.OPERATOR_IN, O.OPERATOR_NOT_IN):
            self._need(p, "text_set")
            for operand_level in p.text_set.values:
                self.catalog.level_index(attribute, operand_level)
            return (level in p.text_set.values) == (op == O.OPERATOR_IN)
        self._need(p, "text")
        other = self.catalog.level_index(attribute, p.text)
        if op == O.OPERATOR_EQUAL:
            return index == other
        if op == O.OPERATOR_NOT_EQUAL:
            return index != other
        if op == O.OPERATOR_AT_LEAST:
            return index >= other
        if op == O.OPERATOR_AT_MOST:
            return index <= other
        raise ReferenceUnsupported(f"operator {O.Operator.Name(op)} on ORDINAL")


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def _rank(score: int, poor_max: int, good_min: int) -> int:
    if score <= poor_max:
        return H.HEALTH_RANK_POOR
    if score >= good_min:
        return H.HEALTH_RANK_GOOD
    return H.HEALTH_RANK_AVERAGE


def _redistribute(weights: list[int]) -> list[int]:
    """Effective weights round(w * 100 / S) of the remaining (non-ignored) weights."""
    total = sum(weights)
    return [round_half_up(w * 100, total) for w in weights]


def _segment_matches(evaluator: Evaluator, profile, account: AccountData) -> bool:
    if not profile.HasField("segment"):
        return True
    return evaluator.holds(profile.segment, account)


def _score_account_health(evaluator, p_index, profile, account, result, view) -> None:
    poor_reasons, good_reasons = [], []
    category_ranks = []
    for c, category in enumerate(profile.categories):
        poor_held = [evaluator.holds(x, account) for x in category.poor]
        good_held = [evaluator.holds(x, account) for x in category.good]
        if any(poor_held):
            rank = H.HEALTH_RANK_POOR
        elif all(good_held):
            rank = H.HEALTH_RANK_GOOD
        else:
            rank = H.HEALTH_RANK_AVERAGE
        category_ranks.append(rank)
        if view >= scoring_pb2.SCORE_VIEW_DIMENSIONS:
            result.categories.add(category=category.name, rank=rank)
        for k, held in enumerate(poor_held):
            if held:
                poor_reasons.append((f"profiles[{p_index}].categories[{c}].poor[{k}]", category))
        for k, held in enumerate(good_held):
            if not held:
                good_reasons.append((f"profiles[{p_index}].categories[{c}].good[{k}]", category))
    if H.HEALTH_RANK_POOR in category_ranks:
        result.rank = H.HEALTH_RANK_POOR
    elif all(r == H.HEALTH_RANK_GOOD for r in category_ranks):
        result.rank = H.HEALTH_RANK_GOOD
    else:
        result.rank = H.HEALTH_RANK_AVERAGE
    if view >= scoring_pb2.SCORE_VIEW_FULL:
        for path, category in poor_reasons:
            result.reasons.add(
                kind=H.REASON_KIND_POOR_CRITERION_HELD, criterion=path, subject=category.name
            )
        for path, category in good_reasons:
            result.reasons.add(
                kind=H.REASON_KIND_GOOD_CRITERION_FAILED, criterion=path, subject=category.name
            )


@dataclass
class _MetricResult:
    attribute: str
    dimension: str
    weight: int
    outcome: int
    score: int | None
    good_held: bool
    effective_weight: int = 0


@dataclass
class _DimensionResult:
    dimension: str
    weight: int
    metrics: list[_MetricResult]
    ignored: bool = False
    score: int | None = None
    rank: int = H.HEALTH_RANK_UNKNOWN
    effective_weight: int = 0


def _score_multidimensional(evaluator, p_index, profile, account, result, view, settings):
    catalog = evaluator.catalog
    metric_results: list[_MetricResult] = []
    for metric in profile.metrics:
        poor = evaluator.holds(metric.poor, account)
        good = evaluator.holds(metric.good, account)
        if poor:
            outcome, metric_score = H.METRIC_OUTCOME_POOR, 0
        elif good:
            outcome, metric_score = H.METRIC_OUTCOME_GOOD, 100
        elif account.value(metric.attribute) is None and settings["ignore_missing"]:
            outcome, metric_score = H.METRIC_OUTCOME_IGNORED, None
        else:
            outcome, metric_score = H.METRIC_OUTCOME_AVERAGE, 60
        metric_results.append(
            _MetricResult(
                attribute=metric.attribute,
                dimension=catalog.attribute(metric.attribute).dimension,
                weight=metric.weight,
                outcome=outcome,
                score=metric_score,
                good_held=good,
            )
        )

    dimensions: list[_DimensionResult] = []
    for pd in profile.dimensions:
        members = [m for m in metric_results if m.dimension == pd.dimension]
        dim = _DimensionResult(dimension=pd.dimension, weight=pd.weight, metrics=members)
        remaining = [m for m in members if m.outcome != H.METRIC_OUTCOME_IGNORED]
        if not remaining or sum(m.weight for m in remaining) == 0:
            dim.ignored = True
        else:
            for m, w in zip(remaining, _redistribute([m.weight for m in remaining]), strict=True):
                m.effective_weight = w
            numerator = sum(m.score * m.effective_weight for m in remaining)
            denominator = sum(m.effective_weight for m in remaining)
            dim.score = round_half_up(numerator, denominator)
            dim.rank = _rank(dim.score, settings["poor_max"], settings["good_min"])
        dimensions.append(dim)

    known = [d for d in dimensions if not d.ignored]
    if known and sum(d.weight for d in known) > 0:
        for d, w in zip(known, _redistribute([d.weight for d in known]), strict=True):
            d.effective_weight = w
        numerator = sum(d.score * d.effective_weight for d in known)
        denominator = sum(d.effective_weight for d in known)
        result.score = round_half_up(numerator, denominator)
        result.rank = _rank(result.score, settings["poor_max"], settings["good_min"])
    else:
        result.rank = H.HEALTH_RANK_UNKNOWN
        result.unknown_reason = H.UNKNOWN_REASON_NO_DATA

    if view >= scoring_pb2.SCORE_VIEW_DIMENSIONS:
        for d in dimensions:
            out = result.dimensions.add(
                dimension=d.dimension,
                rank=d.rank,
                effective_weight=d.effective_weight,
                ignored=d.ignored,
            )
            if d.score is not None:
                out.score = d.score
            if view >= scoring_pb2.SCORE_VIEW_FULL:
                for m in d.metrics:
                    mo = out.metrics.add(
                        attribute=m.attribute,
                        outcome=m.outcome,
                        effective_weight=0 if d.ignored else m.effective_weight,
                    )
                    if m.score is not None:
                        mo.score = m.score
    if view >= scoring_pb2.SCORE_VIEW_FULL:
        for i, m in enumerate(metric_results):
            if m.outcome == H.METRIC_OUTCOME_POOR:
                result.reasons.add(
                    kind=H.REASON_KIND_POOR_CRITERION_HELD,
                    criterion=f"profiles[{p_index}].metrics[{i}].poor",
                    subject=m.attribute,
                )
        for i, m in enumerate(metric_results):
            if m.outcome != H.METRIC_OUTCOME_IGNORED and not m.good_held:
                result.reasons.add(
                    kind=H.REASON_KIND_GOOD_CRITERION_FAILED,
                    criterion=f"profiles[{p_index}].metrics[{i}].good",
                    subject=m.attribute,
                )


def model_settings(ruleset: ruleset_pb2.Ruleset) -> dict:
    s = ruleset.settings
    return {
        "poor_max": s.poor_max if s.HasField("poor_max") else DEFAULT_POOR_MAX,
        "good_min": s.good_min if s.HasField("good_min") else DEFAULT_GOOD_MIN,
        "ignore_missing": s.ignore_missing,
    }


def score(
    ruleset: ruleset_pb2.Ruleset, request: scoring_pb2.ScoreAccountsRequest
) -> scoring_pb2.ScoreAccountsResponse:
    """Scores the request's accounts with a valid ruleset (SPEC §3-§5)."""
    if ruleset.model not in (
        ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH,
        ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL,
    ):
        raise ReferenceUnsupported("ruleset without a model")
    if not request.HasField("as_of"):
        raise ReferenceUnsupported("the reference needs an explicit as_of (it reads no clock)")
    as_of_ns = _time(timestamp_ns(request.as_of), "as_of")
    view = request.view or scoring_pb2.SCORE_VIEW_BASIC
    if view not in (
        scoring_pb2.SCORE_VIEW_BASIC,
        scoring_pb2.SCORE_VIEW_DIMENSIONS,
        scoring_pb2.SCORE_VIEW_FULL,
    ):
        raise ReferenceUnsupported(f"unknown view {view}")
    catalog = Catalog(ruleset.catalog)
    if request.accounts and request.HasField("account_columns"):
        raise ReferenceUnsupported("both accounts and account_columns are set")
    if request.HasField("account_columns"):
        accounts = _columnar_accounts(catalog, request.account_columns, as_of_ns)
    else:
        accounts = _row_accounts(catalog, request.accounts, as_of_ns)
    evaluator = Evaluator(catalog, as_of_ns)
    settings = model_settings(ruleset)

    response = scoring_pb2.ScoreAccountsResponse()
    for account in accounts:
        result = response.results.add(
            account_id=account.account_id, model=ruleset.model, ruleset_version=ruleset.version
        )
        if account.cancelled:
            result.rank = H.HEALTH_RANK_UNKNOWN
            result.unknown_reason = H.UNKNOWN_REASON_CANCELLED
            continue
        chosen = None
        for p_index, profile in enumerate(ruleset.profiles):
            if _segment_matches(evaluator, profile, account):
                chosen = p_index, profile
                break
        if chosen is None:
            result.rank = H.HEALTH_RANK_UNKNOWN
            result.unknown_reason = H.UNKNOWN_REASON_NO_PROFILE
            continue
        p_index, profile = chosen
        result.profile = profile.name
        if ruleset.model == ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH:
            _score_account_health(evaluator, p_index, profile, account, result, view)
        else:
            _score_multidimensional(evaluator, p_index, profile, account, result, view, settings)
    return response
