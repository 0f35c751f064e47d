"""The account store on its own: idempotent records, merging by time, health rows, and the daily
table's batches."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pyarrow as pa
import pytest

from healthscore.history.schema import HEALTH_DAILY
from healthscore.store.accounts import AccountRecords, AccountStore, HealthRow
from healthscore.store.sqlite import CorruptDatabaseError
from healthscore_client.v1 import account_pb2, health_pb2, ruleset_pb2
from tests.accounts.support import record

T0 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
T0_US = int(T0.timestamp()) * 1_000_000
DAY_US = 86_400 * 1_000_000


def body(account_id: str, when: dt.datetime, **attributes: object) -> tuple[str, int, bytes]:
    message = record(account_id, when, **attributes)
    return account_id, int(when.timestamp() * 1_000_000), message.SerializeToString()


class Recorder:
    """A rescore that records what it was given and returns a fixed health."""

    def __init__(self) -> None:
        self.seen: list[list[AccountRecords]] = []

    def __call__(self, accounts: list[AccountRecords]) -> list[HealthRow]:
        self.seen.append(accounts)
        health = health_pb2.AccountHealth(score=70, rank=health_pb2.HEALTH_RANK_GOOD)
        return [
            HealthRow(
                a.account_id,
                ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL,
                1,
                a.data_time,
                a.data_time,
                health.SerializeToString(),
            )
            for a in accounts
        ]


@pytest.fixture
def store(tmp_path):
    with AccountStore(tmp_path / "accounts.db") as opened:
        yield opened


def test_the_same_record_twice_is_stored_once(store):
    rows = [body("acme", T0, engagement_score=50.0)]
    store.write(rows, Recorder(), as_of=T0_US)
    store.write(rows, Recorder(), as_of=T0_US)
    [stored] = store.records(["acme"], until=T0_US)
    assert stored.records == [(T0_US, rows[0][2])]


def test_a_later_record_wins_attribute_by_attribute(store):
    store.write(
        [
            body("acme", T0, engagement_score=50.0, usage_frequency="weekly"),
            body("acme", T0 + dt.timedelta(days=1), engagement_score=80.0),
        ],
        Recorder(),
        as_of=T0_US + DAY_US,
    )
    # A second value for an existing (account, attribute, time) key wins over the first.
    store.write([body("acme", T0, usage_frequency="daily")], Recorder(), as_of=T0_US + DAY_US)
    [latest] = store.records(["acme"], until=T0_US + DAY_US)
    account = account_pb2.Account.FromString(latest.body)
    assert account.attributes["engagement_score"].number_value == 80.0
    assert account.attributes["usage_frequency"].text_value == "daily"
    [earlier] = store.records(["acme"], until=T0_US)
    account = account_pb2.Account.FromString(earlier.body)
    assert account.attributes["engagement_score"].number_value == 50.0


def test_a_write_rescores_each_touched_account_once_with_its_records_up_to_as_of(store):
    recorder = Recorder()
    touched = store.write(
        [
            body("b", T0, engagement_score=1.0),
            body("a", T0, engagement_score=2.0),
            body("b", T0 + dt.timedelta(days=2), engagement_score=3.0),
        ],
        recorder,
        as_of=T0_US + DAY_US,
    )
    assert touched == ["a", "b"]
    [accounts] = recorder.seen
    assert [a.account_id for a in accounts] == ["a", "b"]
    assert [len(a.records) for a in accounts] == [1, 1]  # b's later record is past as_of
    assert set(store.health(["a", "b", "zz"])) == {"a", "b"}


def test_a_failing_rescore_stores_nothing(store):
    def fail(accounts):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.write([body("acme", T0, engagement_score=1.0)], fail, as_of=T0_US)
    assert store.count() == (0, 0)


def test_iter_current_health_yields_the_daily_schema_in_batches(store):
    store.write(
        [
            body("c", T0, engagement_score=1.5, last_touch=T0),
            body("a", T0, usage_frequency="daily"),
            body("b", T0, engagement_score=None),
        ],
        Recorder(),
        as_of=T0_US,
    )
    day = dt.date(2026, 10, 2)
    batches = list(store.iter_current_health(day, batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 1]
    assert all(b.schema.equals(HEALTH_DAILY) for b in batches)
    table = pa.Table.from_batches(batches).to_pylist()
    assert [r["account_id"] for r in table] == ["a", "b", "c"]
    assert {r["day"] for r in table} == {day}
    assert table[2]["attributes"] == [
        {"name": "engagement_score", "number": 1.5, "text": None, "bool": None, "time": None},
        {"name": "last_touch", "number": None, "text": None, "bool": None, "time": T0},
    ]
    assert table[1]["attributes"] == [
        {"name": "engagement_score", "number": None, "text": None, "bool": None, "time": None}
    ]
    assert table[0]["rank"] == "GOOD" and table[0]["score"] == 70
    assert table[0]["model"] == "multidimensional" and table[0]["version"] == 1


def test_stale_accounts_are_those_of_another_version(store):
    store.write([body("a", T0, engagement_score=1.0)], Recorder(), as_of=T0_US)
    assert store.stale_accounts(ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL, 1, limit=10) == []
    assert store.stale_accounts(ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL, 2, limit=10) == ["a"]


def test_a_store_of_the_first_schema_is_migrated_and_keeps_its_rows(tmp_path):
    from healthscore.store.accounts import MIGRATIONS

    path = tmp_path / "accounts.db"
    with sqlite3.connect(path) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO account_data VALUES ('a', ?, x'0a0161')", (T0_US,))
        conn.execute(
            "INSERT INTO account_health VALUES ('a', 2, 1, ?, ?, x'', x'0a0161', 0)",
            (T0_US, T0_US),
        )
    with AccountStore(path) as store:
        assert store.health(["a"])["a"].data_time == T0_US
        assert store.records(["a"], until=T0_US)[0].body == b"\x0a\x01a"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_a_write_rescores_from_exactly_what_is_stored(store):
    """New accounts are rescored from the write's own rows (no read-back): the records handed to
    the rescoring equal what the store then reads back, for repeated keys, records past as_of,
    and accounts with and without earlier records."""
    store.write([body("old", T0, engagement_score=1.0)], Recorder(), as_of=T0_US)
    later = T0 + dt.timedelta(days=1)
    rows = [
        body("new", later, engagement_score=2.0),
        body("new", later, usage_frequency="daily"),  # same key: appended
        body("new", later, usage_frequency="daily"),  # same again: no change
        body("new", T0, engagement_score=3.0),
        body("new", later + dt.timedelta(days=5), engagement_score=9.0),  # after as_of
        body("old", later, engagement_score=4.0),
        body("future-only", later + dt.timedelta(days=5), engagement_score=5.0),
    ]
    recorder = Recorder()
    as_of = T0_US + DAY_US
    store.write(rows, recorder, as_of=as_of)
    [given] = recorder.seen
    expected = store.records(["future-only", "new", "old"], until=as_of)
    assert sorted(given, key=lambda r: r.account_id) == expected
    assert [a.account_id for a in expected] == ["new", "old"]


def test_a_file_that_is_not_a_database_is_refused_naming_it(tmp_path):
    path = tmp_path / "accounts.db"
    path.write_bytes(b"not a database at all" * 1000)
    with pytest.raises(CorruptDatabaseError, match=r"accounts\.db"):
        AccountStore(path)
