"""Helpers of the account data tests: a data directory's app with its account store, records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from healthscore.domain.accounts import AccountData
from healthscore.files import DEFAULT_RULESET, load_ruleset
from healthscore.server.app import App
from healthscore_client.v1 import account_service_pb2, criteria_pb2, ruleset_pb2

NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
MULTIDIMENSIONAL = ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL


@contextmanager
def opened(data_dir: Path, now: dt.datetime = NOW) -> Iterator[tuple[App, AccountData]]:
    app = App.open(data_dir)
    try:
        assert app.account_store is not None
        yield app, AccountData(app.account_store, app.registry, clock=lambda: now)
    finally:
        app.close()


def record(
    account_id: str, observe_time: dt.datetime, **attributes: object
) -> account_service_pb2.AccountData:
    out = account_service_pb2.AccountData(account_id=account_id)
    out.observe_time.FromDatetime(observe_time)
    for name, value in attributes.items():
        target = out.attributes[name]
        if isinstance(value, bool):
            target.bool_value = value
        elif isinstance(value, int | float):
            target.number_value = value
        elif isinstance(value, str):
            target.text_value = value
        elif isinstance(value, dt.datetime):
            target.time_value.FromDatetime(value)
        elif value is None:
            target.Clear()
        else:
            raise TypeError(value)
    return out


def write(data: AccountData, *records: account_service_pb2.AccountData):
    return data.write(account_service_pb2.WriteAccountDataRequest(records=records))


def change_in_version(app: App, period_days: int = 30) -> str:
    """Publishes and activates the default ruleset with engagement_score good when it rose by at
    least 10 % over `period_days` days (poor: fell by 10 % or more); returns the version's name."""
    ruleset = load_ruleset(DEFAULT_RULESET)
    ruleset.ClearField("version")
    metric = next(m for m in ruleset.profiles[0].metrics if m.attribute == "engagement_score")
    for target, operator, number in (
        (metric.good, criteria_pb2.OPERATOR_GREATER_THAN_OR_EQUAL, 10.0),
        (metric.poor, criteria_pb2.OPERATOR_LESS_THAN_OR_EQUAL, -10.0),
    ):
        target.Clear()
        target.predicate.attribute = "engagement_score"
        target.predicate.operator = operator
        target.predicate.number = number
        target.predicate.change_period_days = period_days
    version = app.store.publish(
        MULTIDIMENSIONAL,
        ruleset.SerializeToString(),
        comment="change in",
        creator="test",
        expected_draft_etag=None,
    )
    app.profiles.activate(MULTIDIMENSIONAL, version.number, "change in", "test")
    return f"models/multidimensional/versions/{version.number}"
