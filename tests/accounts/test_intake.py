"""Account data intake in the domain: checks naming every bad field with nothing stored,
rescoring right after a write, current health always of the active version, and "change in"
criteria comparing with stored values."""

from __future__ import annotations

import datetime as dt

import pytest

from healthscore.domain import accounts as accounts_domain
from healthscore.errors import InvalidInputError, NotFoundError
from healthscore_client.v1 import account_pb2, health_pb2, scoring_pb2
from tests.accounts.support import NOW, change_in_version, opened, record, write

BASIC = scoring_pb2.SCORE_VIEW_BASIC
FULL = scoring_pb2.SCORE_VIEW_FULL
DAY = dt.timedelta(days=1)


def get(data, *ids, view=BASIC):
    return data.get(list(ids), view, [f"names[{i}]" for i in range(len(ids))])


def test_a_write_makes_current_health_available(tmp_path):
    with opened(tmp_path) as (_, data):
        response = write(
            data,
            record("acme", NOW - DAY, engagement_score=82.0, usage_frequency="daily"),
            record("initech", NOW - DAY, engagement_score=5.0, usage_frequency="inactive"),
        )
        assert (response.record_count, response.account_count) == (2, 2)
        assert response.ruleset == "models/multidimensional/versions/1"
        acme, initech = get(data, "acme", "initech")
        assert acme.name == "accounts/acme"
        assert (acme.health.score, acme.health.rank) == (100, health_pb2.HEALTH_RANK_GOOD)
        # usage poor (0, weight 30), sentiment good (100, weight 10: no CSM risk rated)
        assert (initech.health.score, initech.health.rank) == (25, health_pb2.HEALTH_RANK_POOR)
        assert acme.as_of.ToDatetime(dt.UTC) == NOW
        assert acme.data_time.ToDatetime(dt.UTC) == NOW - DAY
        assert not acme.health.dimensions and not acme.HasField("account")


def test_a_new_value_rescores_the_account_at_once(tmp_path):
    with opened(tmp_path) as (_, data):
        write(data, record("acme", NOW - 2 * DAY, engagement_score=82.0))
        assert get(data, "acme")[0].health.score == 100
        write(data, record("acme", NOW - DAY, engagement_score=5.0))
        assert get(data, "acme")[0].health.score == 25
        # An older observation does not override the newer one.
        write(data, record("acme", NOW - 3 * DAY, engagement_score=90.0))
        assert get(data, "acme")[0].health.score == 25


def test_health_survives_a_restart_without_the_data_being_sent_again(tmp_path):
    with opened(tmp_path) as (_, data):
        write(data, record("acme", NOW - DAY, engagement_score=82.0, usage_frequency="daily"))
    with opened(tmp_path) as (_, data):
        [acme] = get(data, "acme", view=FULL)
        assert acme.health.score == 100
        assert acme.account.attributes["engagement_score"].number_value == 82.0


def test_bad_records_name_every_bad_field_and_store_nothing(tmp_path):
    with opened(tmp_path) as (app, data):
        good = record("acme", NOW - DAY, engagement_score=82.0)
        future = record("b", NOW + dt.timedelta(hours=1), engagement_score=1.0)
        skewed = record("c", NOW + dt.timedelta(minutes=4), engagement_score=1.0)  # allowed
        ancient = record("d", dt.datetime(1960, 1, 1, tzinfo=dt.UTC), engagement_score=1.0)
        old = record("e", NOW - 401 * DAY, engagement_score=1.0)
        wrong_type = record("f", NOW - DAY, engagement_score="high", usage_frequency="hourly")
        unknown = record("", NOW - DAY, no_such_attribute=1.0)
        untimed = record("g", NOW - DAY)
        untimed.ClearField("observe_time")
        with pytest.raises(InvalidInputError) as caught:
            write(data, good, future, skewed, ancient, old, wrong_type, unknown, untimed)
        paths = sorted(v.path for v in caught.value.violations)
        assert paths == [
            "records[1].observe_time",
            "records[3].observe_time",
            "records[4].observe_time",
            'records[5].attributes["engagement_score"]',
            'records[5].attributes["usage_frequency"]',
            "records[6].account_id",
            'records[6].attributes["no_such_attribute"]',
            "records[7].observe_time",
        ]
        assert app.account_store is not None
        assert app.account_store.count() == (0, 0)
        with pytest.raises(NotFoundError, match="names\\[0\\]: accounts/acme"):
            get(data, "acme")


def test_an_unknown_account_is_not_found_naming_the_field(tmp_path):
    with opened(tmp_path) as (_, data):
        write(data, record("acme", NOW - DAY, engagement_score=82.0))
        with pytest.raises(NotFoundError, match="names\\[1\\]: accounts/nobody"):
            get(data, "acme", "nobody")


def test_facts_follow_the_latest_record(tmp_path):
    with opened(tmp_path) as (_, data):
        first = record("acme", NOW - 2 * DAY, engagement_score=82.0)
        first.parent_id = "holding"
        first.contract_value = 1000
        cancelled = record("acme", NOW - DAY)
        cancelled.status = account_pb2.ACCOUNT_STATUS_CANCELLED
        write(data, first, cancelled)
        [acme] = get(data, "acme", view=FULL)
        assert acme.health.rank == health_pb2.HEALTH_RANK_UNKNOWN
        assert acme.health.unknown_reason == health_pb2.UNKNOWN_REASON_CANCELLED
        assert (acme.account.parent_id, acme.account.contract_value) == ("holding", 1000)


def test_an_activation_never_lets_a_read_serve_the_old_version(tmp_path):
    with opened(tmp_path) as (app, data):
        write(data, record("acme", NOW - DAY, engagement_score=82.0))
        version = change_in_version(app)
        [acme] = get(data, "acme")
        assert acme.ruleset == version
        assert acme.health.ruleset_version == version


def test_refresh_rescores_every_account_of_another_version(tmp_path):
    with opened(tmp_path) as (app, data):
        write(data, *[record(f"a{i}", NOW - DAY, engagement_score=float(i)) for i in range(7)])
        version = change_in_version(app)
        assert data.refresh_stale() == 7
        assert app.account_store is not None
        assert app.account_store.stale_accounts(2, int(version.rsplit("/", 1)[1]), limit=10) == []
        assert data.refresh_stale() == 0


def test_change_in_compares_with_the_stored_value_of_the_period_before(tmp_path):
    with opened(tmp_path) as (app, data):
        change_in_version(app, period_days=30)
        write(
            data,
            record("up", NOW - 40 * DAY, engagement_score=50.0),
            record("up", NOW - 31 * DAY, engagement_score=40.0),  # the one 30 days before
            record("up", NOW - 20 * DAY, engagement_score=90.0),
            record("up", NOW - DAY, engagement_score=48.0),  # +20 % on 40
            record("down", NOW - 35 * DAY, engagement_score=100.0),
            record("down", NOW - DAY, engagement_score=80.0),  # -20 %
            record("new", NOW - DAY, engagement_score=80.0),  # nothing 30 days before
        )
        up, down, new = get(data, "up", "down", "new", view=FULL)

        def engagement(health):
            [usage] = [d for d in health.health.dimensions if d.dimension == "usage"]
            [metric] = [m for m in usage.metrics if m.attribute == "engagement_score"]
            return metric.outcome

        assert engagement(up) == health_pb2.METRIC_OUTCOME_GOOD
        assert engagement(down) == health_pb2.METRIC_OUTCOME_POOR
        assert engagement(new) == health_pb2.METRIC_OUTCOME_AVERAGE
        [used] = up.lookbacks
        assert (used.attribute, used.period_days, used.value) == ("engagement_score", 30, 40.0)
        assert used.observe_time.ToDatetime(dt.UTC) == NOW - 31 * DAY
        [none] = new.lookbacks
        assert not none.HasField("value") and not none.HasField("observe_time")
        assert len(up.account.history["engagement_score"].points) == 4


def test_several_records_of_one_account_are_each_checked(tmp_path):
    with opened(tmp_path) as (app, data):
        with pytest.raises(InvalidInputError) as caught:
            write(
                data,
                record("acme", NOW - 3 * DAY, engagement_score=1.0),
                record("acme", NOW - 2 * DAY, engagement_score=2.0),
                record("acme", NOW - DAY, usage_frequency="hourly"),
            )
        [violation] = caught.value.violations
        assert violation.path == 'records[2].attributes["usage_frequency"]'
        assert "hourly" in violation.message
        assert app.account_store is not None
        assert app.account_store.count() == (0, 0)


def test_health_for_an_instant_over_a_day_ago_is_recomputed(tmp_path):
    # Written two days ago: last_touch was then 1 day old (good); now it is 3 days old.
    with opened(tmp_path, NOW - 2 * DAY) as (_, then):
        write(then, record("acme", NOW - 3 * DAY, last_touch=NOW - 3 * DAY))
    with opened(tmp_path) as (_, data):
        assert data.refresh_stale() == 0  # same version: nothing to do without an age limit
        assert get(data, "acme")[0].as_of.ToDatetime(dt.UTC) == NOW - 2 * DAY
        assert data.refresh_stale(dt.timedelta(days=1)) == 1
        [acme] = get(data, "acme")
        assert acme.as_of.ToDatetime(dt.UTC) == NOW
        assert data.refresh_stale(dt.timedelta(days=1)) == 0


def test_compaction_merges_records_older_than_retention_and_keeps_the_account(tmp_path):
    with opened(tmp_path, NOW - 300 * DAY) as (_, then):
        write(
            then,
            record("acme", NOW - 330 * DAY, engagement_score=10.0, usage_frequency="daily"),
            record("acme", NOW - 320 * DAY, engagement_score=20.0),
            record("acme", NOW - 310 * DAY, engagement_score=82.0),
        )
    with opened(tmp_path, NOW - 5 * DAY) as (_, later):
        write(later, record("acme", NOW - 6 * DAY, active_users=4.0))
        before = get(later, "acme", view=FULL)[0]
    # A year later the first three records are out of the 400-day window.
    with opened(tmp_path, NOW + 95 * DAY) as (app, data):
        assert app.account_store is not None
        assert data.compact() == 2
        assert data.compact() == 0
        [merged, recent] = app.account_store.records(["acme"], until=10**18)[0].records
        assert merged[0] == int((NOW - 310 * DAY).timestamp() * 1_000_000)
        assert recent[0] == int((NOW - 6 * DAY).timestamp() * 1_000_000)
        after = get(data, "acme", view=FULL)[0]
        assert after.account == before.account
        assert after.health == before.health


def test_an_unknown_status_is_refused_naming_the_field(tmp_path):
    with opened(tmp_path) as (_, data):
        bad = record("acme", NOW - DAY, engagement_score=1.0)
        bad.status = 7  # type: ignore[assignment]
        with pytest.raises(InvalidInputError) as caught:
            write(data, record("ok", NOW - DAY), bad)
        assert [v.path for v in caught.value.violations] == ["records[1].status"]


@pytest.mark.timeout(60)
def test_refresh_pages_through_accounts_in_batches(tmp_path, monkeypatch):
    monkeypatch.setattr(accounts_domain, "_REFRESH_BATCH", 3)
    with opened(tmp_path) as (app, data):
        write(data, *[record(f"a{i}", NOW - DAY, engagement_score=float(i)) for i in range(7)])
        change_in_version(app)
        assert data.refresh_stale() == 7
        # A cutoff after now: every health is "old", also once rescored (the clock stands still);
        # each account is still rescored once, not again and again.
        assert data.refresh_stale(dt.timedelta(microseconds=-1)) == 7
        assert data.refresh_stale() == 0


def test_versions_of_the_same_name_in_two_data_directories_are_not_mixed_up(tmp_path):
    # Both directories publish `models/multidimensional/versions/2`, with different periods.
    healths = []
    for folder, period in (("a", 30), ("b", 7)):
        with opened(tmp_path / folder) as (app, data):
            assert change_in_version(app, period_days=period).endswith("/versions/2")
            write(data, record("acme", NOW - DAY, engagement_score=80.0))
            healths += get(data, "acme", view=FULL)
    assert [[lb.period_days for lb in h.lookbacks] for h in healths] == [[30], [7]]
