"""Small builders for readable hand-written rulesets and accounts."""

from __future__ import annotations

import math

from healthscore_client.v1 import (
    account_pb2,
    catalog_pb2,
    criteria_pb2,
    ruleset_pb2,
    scoring_pb2,
)
from tests.reference.model import DAY_NS

O = criteria_pb2  # noqa: E741
NUMBER = catalog_pb2.ATTRIBUTE_TYPE_NUMBER
TEXT = catalog_pb2.ATTRIBUTE_TYPE_TEXT
BOOL = catalog_pb2.ATTRIBUTE_TYPE_BOOL
TIME = catalog_pb2.ATTRIBUTE_TYPE_TIME
ORDINAL = catalog_pb2.ATTRIBUTE_TYPE_ORDINAL
AH = ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH
MD = ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL

# 2024-06-01T00:00:00Z
AS_OF_NS = 1_717_200_000 * 10**9


def attr(name, type_, dimension="", levels=()):
    return catalog_pb2.Attribute(
        name=name, type=type_, dimension=dimension, ordinal_levels=list(levels)
    )


def catalog(*attributes, dimensions=()):
    c = catalog_pb2.Catalog(attributes=list(attributes))
    for d in dimensions:
        c.dimensions.add(name=d)
    return c


def pred(attribute, op, operand=None, *, change=0):
    """A predicate criterion. `operand`: float/int (number or days by type of `op`), str (text),
    set/list/tuple of str (text set), or ('range', lo, hi) / ('days', n) / ('dayrange', lo, hi)."""
    p = criteria_pb2.Predicate(attribute=attribute, operator=op, change_period_days=change)
    if operand is None:
        pass
    elif isinstance(operand, tuple) and operand[0] == "range":
        p.number_range.low, p.number_range.high = operand[1], operand[2]
    elif isinstance(operand, tuple) and operand[0] == "days":
        p.days = operand[1]
    elif isinstance(operand, tuple) and operand[0] == "dayrange":
        p.day_range.low, p.day_range.high = operand[1], operand[2]
    elif isinstance(operand, str):
        p.text = operand
    elif isinstance(operand, list | set | frozenset):
        p.text_set.values.extend(sorted(operand))
    else:
        p.number = float(operand)
    return criteria_pb2.Criterion(predicate=p)


def days(n):
    return ("days", n)


def all_(*cs):
    c = criteria_pb2.Criterion()
    c.all.SetInParent()
    c.all.of.extend(cs)
    return c


def any_(*cs):
    c = criteria_pb2.Criterion()
    c.any.SetInParent()
    c.any.of.extend(cs)
    return c


def not_(c):
    return criteria_pb2.Criterion(negation=c)


def category(name, good=(), poor=()):
    return ruleset_pb2.Category(name=name, good=list(good), poor=list(poor))


def metric(attribute, weight, good, poor):
    return ruleset_pb2.Metric(attribute=attribute, weight=weight, good=good, poor=poor)


def profile(name, segment=None, *, categories=(), dimensions=(), metrics=()):
    p = ruleset_pb2.Profile(name=name, categories=list(categories), metrics=list(metrics))
    for d, w in dimensions:
        p.dimensions.add(dimension=d, weight=w)
    if segment is not None:
        p.segment.CopyFrom(segment)
    return p


def ruleset(model, cat, *profiles, version="v-test", **settings):
    r = ruleset_pb2.Ruleset(version=version, model=model, catalog=cat, profiles=list(profiles))
    for key, value in settings.items():
        setattr(r.settings, key, value)
    return r


def ago(days_=0, ns=0):
    """An instant `days_` days and `ns` nanoseconds before AS_OF_NS."""
    return AS_OF_NS - days_ * DAY_NS - ns


def account(account_id, status=None, **values):
    """An account; values: float/int -> number, str -> text, bool -> bool, ('t', ns) -> time,
    None -> an unset Value."""
    a = account_pb2.Account(id=account_id)
    if status == "cancelled":
        a.status = account_pb2.ACCOUNT_STATUS_CANCELLED
    for name, v in values.items():
        value = a.attributes[name]
        if v is None:
            continue
        if isinstance(v, bool):
            value.bool_value = v
        elif isinstance(v, tuple) and v[0] == "t":
            value.time_value.seconds, value.time_value.nanos = divmod(v[1], 10**9)
        elif isinstance(v, str):
            value.text_value = v
        else:
            value.number_value = float(v)
    return a


def when(ns):
    return ("t", ns)


def request(*accounts, view=scoring_pb2.SCORE_VIEW_BASIC, as_of_ns=AS_OF_NS):
    r = scoring_pb2.ScoreAccountsRequest(accounts=list(accounts), view=view)
    r.as_of.seconds, r.as_of.nanos = divmod(as_of_ns, 10**9)
    return r


NAN = math.nan
