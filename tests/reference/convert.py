"""The same accounts in other forms: row protos -> columnar protos, -> Arrow record batches; and a
proto response -> the rows the Arrow path must return."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from healthscore_client.v1 import account_pb2, catalog_pb2, health_pb2, ruleset_pb2, scoring_pb2

from .model import DAY_NS, ReferenceUnsupported, timestamp_ns

T = catalog_pb2
H = health_pb2


def change_in_keys(ruleset: ruleset_pb2.Ruleset) -> list[tuple[str, int]]:
    """Every (attribute, period_days) that a "change in" predicate of the ruleset uses."""
    keys: list[tuple[str, int]] = []

    def walk(criterion) -> None:
        kind = criterion.WhichOneof("kind")
        if kind == "predicate":
            p = criterion.predicate
            if p.change_period_days > 0 and (p.attribute, p.change_period_days) not in keys:
                keys.append((p.attribute, p.change_period_days))
        elif kind in ("all", "any"):
            for c in getattr(criterion, kind).of:
                walk(c)
        elif kind == "negation":
            walk(criterion.negation)

    for profile in ruleset.profiles:
        if profile.HasField("segment"):
            walk(profile.segment)
        for category in profile.categories:
            for c in [*category.good, *category.poor]:
                walk(c)
        for metric in profile.metrics:
            walk(metric.good)
            walk(metric.poor)
    return keys


def history_value(account: account_pb2.Account, attribute: str, period: int, as_of_ns: int):
    """The row form's earlier value: the latest history point at or before the look-back
    instant; None when there is none or its value is NaN."""
    instant = as_of_ns - period * DAY_NS
    best = None
    if attribute in account.history:
        for point in account.history[attribute].points:
            t = timestamp_ns(point.time)
            if t <= instant and (best is None or t > best[0]):
                best = (t, point.value)
    if best is None or math.isnan(best[1]):
        return None
    return best[1]


def _bitmap(valid: Sequence[bool]) -> bytes:
    out = bytearray((len(valid) + 7) // 8)
    for i, ok in enumerate(valid):
        if ok:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def _raw(account: account_pb2.Account, attribute: catalog_pb2.Attribute):
    """The account's value of `attribute` as a python value, or None when absent/unset.
    (NaN and "" are kept: they are values that mean "no value".)"""
    if attribute.name not in account.attributes:
        return None
    value = account.attributes[attribute.name]
    kind = value.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "time_value":
        return timestamp_ns(value.time_value)
    return getattr(value, kind)


def to_columns(
    ruleset: ruleset_pb2.Ruleset,
    accounts: Sequence[account_pb2.Account],
    as_of_ns: int,
    *,
    sentinels: bool = False,
    always_bitmap: bool = False,
    order: Iterable[int] | None = None,
    extra_columns: bool = False,
) -> account_pb2.AccountColumns:
    """The accounts in columnar form. `sentinels`: NUMBER/TEXT/ORDINAL gaps are written as NaN
    or "" with a valid bit instead of an invalid bit; `always_bitmap`: write the validity bitmap
    even when every entry is valid; `order`: the order of the catalog attributes' columns."""
    cols = account_pb2.AccountColumns()
    cols.ids.extend(a.id for a in accounts)
    cols.parent_ids.extend(a.parent_id for a in accounts)
    if any(a.status != account_pb2.ACCOUNT_STATUS_UNSPECIFIED for a in accounts):
        cols.statuses.extend(a.status for a in accounts)
    if any(a.HasField("contract_value") for a in accounts):
        cols.contract_values.extend(a.contract_value for a in accounts)
        cols.contract_values_validity = _bitmap([a.HasField("contract_value") for a in accounts])
    attributes = list(ruleset.catalog.attributes)
    indices = list(order) if order is not None else list(range(len(attributes)))
    for index in indices:
        attribute = attributes[index]
        raw = [_raw(a, attribute) for a in accounts]
        column = cols.columns.add(attribute=attribute.name)
        t = attribute.type
        if t == T.ATTRIBUTE_TYPE_NUMBER:
            fill, target = math.nan, column.numbers.values
        elif t in (T.ATTRIBUTE_TYPE_TEXT, T.ATTRIBUTE_TYPE_ORDINAL):
            fill, target = "", column.texts.values
        elif t == T.ATTRIBUTE_TYPE_BOOL:
            fill, target = False, column.bools.values
        elif t == T.ATTRIBUTE_TYPE_TIME:
            fill, target = 0, column.times.unix_nanos
        else:
            raise ReferenceUnsupported(f"attribute type {t}")
        use_sentinel = sentinels and t not in (T.ATTRIBUTE_TYPE_BOOL, T.ATTRIBUTE_TYPE_TIME)
        valid = [x is not None or use_sentinel for x in raw]
        target.extend(fill if x is None else x for x in raw)
        if always_bitmap or not all(valid):
            column.validity = _bitmap(valid)
    if extra_columns:
        extra = cols.columns.add(attribute="zz_not_in_catalog")
        extra.texts.values.extend("whatever" for _ in accounts)
    for attribute, period in change_in_keys(ruleset):
        earlier = [history_value(a, attribute, period, as_of_ns) for a in accounts]
        lookback = cols.lookbacks.add(attribute=attribute, period_days=period)
        if sentinels:
            lookback.values.extend(math.nan if x is None else x for x in earlier)
        else:
            lookback.values.extend(0.0 if x is None else x for x in earlier)
            if not all(x is not None for x in earlier) or always_bitmap:
                lookback.validity = _bitmap([x is not None for x in earlier])
    return cols


_STATUS = {
    account_pb2.ACCOUNT_STATUS_UNSPECIFIED: "active",
    account_pb2.ACCOUNT_STATUS_ACTIVE: "active",
    account_pb2.ACCOUNT_STATUS_CANCELLED: "cancelled",
}


def to_arrow(ruleset: ruleset_pb2.Ruleset, accounts: Sequence[account_pb2.Account], as_of_ns: int):
    """The accounts as a pyarrow.RecordBatch (Arrow conventions of the engine's bulk path)."""
    import pyarrow as pa

    names = ["id", "status", "contract_value"]
    arrays = [
        pa.array([a.id for a in accounts], pa.utf8()),
        pa.array([_STATUS[a.status] for a in accounts], pa.utf8()),
        pa.array(
            [a.contract_value if a.HasField("contract_value") else None for a in accounts],
            pa.int64(),
        ),
    ]
    types = {
        T.ATTRIBUTE_TYPE_NUMBER: pa.float64(),
        T.ATTRIBUTE_TYPE_TEXT: pa.utf8(),
        T.ATTRIBUTE_TYPE_ORDINAL: pa.utf8(),
        T.ATTRIBUTE_TYPE_BOOL: pa.bool_(),
        T.ATTRIBUTE_TYPE_TIME: pa.timestamp("ns", tz="UTC"),
    }
    for attribute in ruleset.catalog.attributes:
        names.append(attribute.name)
        arrays.append(pa.array([_raw(a, attribute) for a in accounts], types[attribute.type]))
    for attribute, period in change_in_keys(ruleset):
        names.append(f"{attribute}@-{period}d")
        earlier = [history_value(a, attribute, period, as_of_ns) for a in accounts]
        arrays.append(pa.array(earlier, pa.float64()))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _rank_name(rank: int) -> str:
    return H.HealthRank.Name(rank).removeprefix("HEALTH_RANK_")


def expected_arrow_rows(
    response: scoring_pb2.ScoreAccountsResponse, view: int
) -> list[dict[str, object]]:
    """What the Arrow path must return for each account, as {column: value} (the dimension or
    category columns of the account's own profile only; other such columns must be null)."""
    rows = []
    for r in response.results:
        row: dict[str, object] = {
            "account_id": r.account_id,
            "profile": r.profile or None,
            "score": r.score if r.HasField("score") else None,
            "rank": _rank_name(r.rank),
            "unknown_reason": (
                None
                if r.unknown_reason == H.UNKNOWN_REASON_UNSPECIFIED
                else H.UnknownReason.Name(r.unknown_reason).removeprefix("UNKNOWN_REASON_")
            ),
            "error": None,
        }
        if view in (scoring_pb2.SCORE_VIEW_DIMENSIONS, scoring_pb2.SCORE_VIEW_FULL):
            for d in r.dimensions:
                row[f"{d.dimension}.score"] = d.score if d.HasField("score") else None
                row[f"{d.dimension}.rank"] = _rank_name(d.rank)
            for c in r.categories:
                row[f"{c.category}.rank"] = _rank_name(c.rank)
        rows.append(row)
    return rows
