"""The account store: what callers observed about their accounts, and each account's current
health. One SQLite file (`<data-dir>/accounts.db`), apart from the design store's, so intake never
waits on profile edits nor they on intake.

An account's data is a set of records keyed by (account, observe time). A record's body is the
serialized `AccountData` as it arrived: its fields 1-5 are `Account`'s, so the account as of an
instant is the concatenation of its bodies up to then in time order (protobuf concatenation is
merging: the later record wins field by field and attribute by attribute). Writing a record whose
key exists appends its body to the stored one, unless the stored body already ends with it: the
same account, attribute and time written twice is stored once, and a differing value written later
for the same key wins.

Current health is one row per account: the last `AccountHealth` computed for it (view
DIMENSIONS: what reads and the daily table need; the FULL view is recomputed from the records on
request, the computation being a pure function of records, version and instant), with the ruleset,
the instant, and the observe time of the latest record it used. Health is written in the
transaction that writes the data it follows from, so the two never disagree after a crash.

Durability as in `store/sqlite.py`: WAL with `synchronous=FULL`; a write that returned is on disk,
and a `kill -9` at any moment leaves each write entirely done or not at all. Times are UTC
microseconds since the Unix epoch.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import pyarrow as pa

from healthscore.history.schema import HEALTH_DAILY
from healthscore.store import sqlite
from healthscore.store.sql import Transactions
from healthscore_client.v1 import account_pb2, account_service_pb2, health_pb2, ruleset_pb2

#: The account store's file in a data directory (the server and `healthscore snapshot --data-dir`
#: open it).
ACCOUNTS_FILE = "accounts.db"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_BUSY_TIMEOUT_S = 10.0

MIGRATIONS: list[Sequence[str]] = [
    (
        """CREATE TABLE account_data (
            account_id TEXT NOT NULL,
            observe_time INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (account_id, observe_time)
        ) WITHOUT ROWID""",
        """CREATE TABLE account_health (
            account_id TEXT PRIMARY KEY,
            model INTEGER NOT NULL,
            version INTEGER NOT NULL,
            as_of INTEGER NOT NULL,
            data_time INTEGER NOT NULL,
            health BLOB NOT NULL,
            account BLOB NOT NULL,
            update_time INTEGER NOT NULL
        ) WITHOUT ROWID""",
        "CREATE INDEX account_health_version ON account_health (model, version)",
    ),
    # Health rows no longer copy the account's data (it is in account_data).
    ("ALTER TABLE account_health DROP COLUMN account",),
    # Health computed long ago is recomputed (TIME criteria move with the clock).
    ("CREATE INDEX account_health_as_of ON account_health (as_of)",),
    # Every health write paid for both indexes; the scans they served run once an hour or once
    # per activation, and a full scan of the health rows is cheap next to that (the inserts of
    # 1,000 rows took 22 ms with them, see the commit).
    (
        "DROP INDEX account_health_as_of",
        "DROP INDEX account_health_version",
    ),
]

# A record's upsert: appended to a stored body of the same key unless that body already ends
# with it (so the same record written again changes nothing).
_UPSERT = (
    "INSERT INTO account_data (account_id, observe_time, body) VALUES (?, ?, ?)"
    " ON CONFLICT (account_id, observe_time)"
    " DO UPDATE SET body = CAST(body || excluded.body AS BLOB)"
    " WHERE substr(body, -length(excluded.body)) IS NOT excluded.body"
)
_PUT_HEALTH = (
    "INSERT INTO account_health"
    " (account_id, model, version, as_of, data_time, health, update_time)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (account_id) DO UPDATE SET model = excluded.model,"
    " version = excluded.version, as_of = excluded.as_of, data_time = excluded.data_time,"
    " health = excluded.health, update_time = excluded.update_time"
)


def micros(instant: dt.datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> dt.datetime:
    return _EPOCH + value * _MICROSECOND


@dataclass(frozen=True)
class AccountRecords:
    """One account's records up to an instant, oldest first: `(observe_time, body)`."""

    account_id: str
    records: list[tuple[int, bytes]]

    @property
    def data_time(self) -> int:
        return self.records[-1][0]

    @property
    def body(self) -> bytes:
        """The account as of the last record: every body concatenated (an `Account`)."""
        return b"".join([body for _, body in self.records])


class HealthRow(NamedTuple):
    """An account's current health as stored (a tuple: thousands are built per write)."""

    account_id: str
    model: int
    version: int
    as_of: int
    data_time: int
    health: bytes  # AccountHealth, view DIMENSIONS


# Computes the health of accounts from their records, inside the write's transaction.
Rescore = Callable[[list[AccountRecords]], list[HealthRow]]


class AccountStore(Transactions[sqlite3.Connection]):
    """Account data and current health on one SQLite file, set up as the design store's
    (`sqlite.connect`, `sqlite.migrate`, `sqlite.begin`; the crash test hook, e.g.
    `HEALTHSCORE_STORE_CRASH=write_data:before_commit`, of `sql.Transactions`): thread-safe, one
    connection behind a lock; processes coordinate through SQLite's file locks."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._file = path
        # Bigger pages for rows of a few hundred bytes in WITHOUT ROWID tables.
        self._conn = sqlite.connect(path, page_size=32768)
        try:
            sqlite.migrate(self._conn, path, MIGRATIONS, self._transaction)
        except BaseException:
            self._conn.close()
            raise

    def _begin(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite.begin(self._lock, self._conn)

    # Writes.

    def write(
        self, rows: Sequence[tuple[str, int, bytes]], rescore: Rescore, *, as_of: int
    ) -> list[str]:
        """Upserts `(account_id, observe_time, body)` records and, in the same transaction, the
        health `rescore` computes for every account they touch (from its records up to `as_of`).
        Returns the touched accounts, sorted."""
        touched = sorted({row[0] for row in rows})
        with self._transaction("write_data") as conn:
            # Accounts with no record yet (typical of a first load) need no read-back: their
            # records are exactly this write's, merged here as the upsert merges them.
            stored = {
                row[0]
                for row in conn.execute(
                    "SELECT DISTINCT account_id FROM account_data"
                    " WHERE account_id IN (SELECT value FROM json_each(?))",
                    (json.dumps(touched),),
                )
            }
            conn.executemany(_UPSERT, rows)
            records = _records(conn, [a for a in touched if a in stored], as_of)
            records += _new_records([row for row in rows if row[0] not in stored], as_of)
            health = rescore(records) if records else []
            conn.executemany(_PUT_HEALTH, _health_params(health))
        return touched

    def rescore(self, account_ids: Sequence[str], rescore: Rescore, *, as_of: int) -> int:
        """Recomputes the health of these accounts from their records up to `as_of` in one
        transaction (so a write meanwhile cannot be overwritten by older data's health); returns
        how many had records."""
        with self._transaction("rescore") as conn:
            records = _records(conn, sorted(set(account_ids)), as_of)
            if records:
                conn.executemany(_PUT_HEALTH, _health_params(rescore(records)))
        return len(records)

    def compact(self, before: int, *, batch: int = 5_000) -> int:
        """Merges each account's records observed before `before` into one record at the latest
        of their times (parsed and serialized again: each field and attribute once). The account
        as of any instant from that record on is unchanged; the history before it is gone (that
        is retention). Returns how many records it removed; one transaction per `batch`
        accounts."""
        removed = 0
        while True:
            with self._transaction("compact") as conn:
                ids = [
                    row[0]
                    for row in conn.execute(
                        "SELECT account_id FROM account_data WHERE observe_time < ?"
                        " GROUP BY account_id HAVING count(*) > 1 LIMIT ?",
                        (before, batch),
                    )
                ]
                if not ids:
                    return removed
                for account in _records(conn, ids, before - 1):
                    body = account_service_pb2.AccountData.FromString(account.body)
                    conn.execute(
                        "DELETE FROM account_data WHERE account_id = ? AND observe_time < ?",
                        (account.account_id, before),
                    )
                    conn.execute(
                        "INSERT INTO account_data (account_id, observe_time, body)"
                        " VALUES (?, ?, ?)",
                        (account.account_id, account.data_time, body.SerializeToString()),
                    )
                    removed += len(account.records) - 1

    # Reads.

    def records(self, account_ids: Sequence[str], *, until: int) -> list[AccountRecords]:
        """The records of these accounts observed at or before `until` (accounts with none are
        left out), in the order of `account_ids` (duplicates once)."""
        with self._lock:
            found = {r.account_id: r for r in _records(self._conn, account_ids, until)}
        return [found[a] for a in dict.fromkeys(account_ids) if a in found]

    def health(self, account_ids: Sequence[str]) -> dict[str, HealthRow]:
        """The stored health of these accounts, by id (accounts without any left out)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT account_id, model, version, as_of, data_time, health"
                " FROM account_health WHERE account_id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(account_ids)),),
            ).fetchall()
        return {row[0]: HealthRow(*row) for row in rows}

    def stale_accounts(self, model: int, version: int, *, limit: int, after: str = "") -> list[str]:
        """Up to `limit` accounts (ids above `after`, in order: a caller pages through with the
        last id it got) whose health was computed by another version than this one."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT account_id FROM account_health WHERE account_id > ?"
                " AND (model <> ? OR version <> ?) ORDER BY account_id LIMIT ?",
                (after, model, version, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def accounts_computed_before(self, as_of: int, *, limit: int, after: str = "") -> list[str]:
        """Up to `limit` accounts (ids above `after`, in order) whose health is for an instant
        before `as_of`."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT account_id FROM account_health WHERE account_id > ? AND as_of < ?"
                " ORDER BY account_id LIMIT ?",
                (after, as_of, limit),
            ).fetchall()
        return [row[0] for row in rows]

    def count(self) -> tuple[int, int]:
        """(accounts with health, stored records)."""
        with self._lock:
            accounts = self._conn.execute("SELECT count(*) FROM account_health").fetchone()[0]
            records = self._conn.execute("SELECT count(*) FROM account_data").fetchone()[0]
        return accounts, records

    def iter_current_health(
        self, day: dt.date, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Every account's current health in the `HEALTH_DAILY` schema (`day` set to `day`), in
        account id order, at most `batch_rows` rows a batch. Reads a consistent snapshot (one read
        transaction on its own connection: writers go on meanwhile)."""
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
        conn = sqlite3.connect(self._path(), isolation_level=None, timeout=_BUSY_TIMEOUT_S)
        try:
            conn.execute("BEGIN")  # WAL: one snapshot for the whole iteration
            cursor = conn.execute(
                "SELECT h.account_id, h.model, h.version, h.as_of, h.health, d.body"
                " FROM account_health h JOIN account_data d"
                " ON d.account_id = h.account_id AND d.observe_time <= h.as_of"
                " ORDER BY h.account_id, d.observe_time"
            )
            rows: list[_HealthOfDay] = []
            for account_id, model, version, as_of, health, body in cursor:
                if rows and rows[-1][0] == account_id:
                    rows[-1][5].append(body)
                    continue
                if len(rows) == batch_rows:
                    yield _daily_batch(day, rows)
                    rows = []
                rows.append((account_id, model, version, as_of, health, [body]))
            if rows:
                yield _daily_batch(day, rows)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _path(self) -> Path:
        return self._file

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AccountStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _records(
    conn: sqlite3.Connection, account_ids: Sequence[str], until: int
) -> list[AccountRecords]:
    cursor = conn.execute(
        "SELECT account_id, observe_time, body FROM account_data"
        " WHERE account_id IN (SELECT value FROM json_each(?)) AND observe_time <= ?"
        " ORDER BY account_id, observe_time",
        (json.dumps(list(account_ids)), until),
    )
    out: list[AccountRecords] = []
    current = ""
    records: list[tuple[int, bytes]] = []
    for account_id, observe_time, body in cursor:
        if account_id != current or not records:
            if records:
                out.append(AccountRecords(current, records))
            current, records = account_id, []
        records.append((observe_time, body))
    if records:
        out.append(AccountRecords(current, records))
    return out


def _new_records(rows: Sequence[tuple[str, int, bytes]], until: int) -> list[AccountRecords]:
    """What `_records` would read back after upserting `rows` into an empty store: per account,
    the bodies observed at or before `until` in time order, a repeated key's bodies merged as
    `_UPSERT` merges them (in the order written: the sort is stable)."""
    out: list[AccountRecords] = []
    kept = (row for row in rows if row[1] <= until)
    for account_id, observe_time, body in sorted(kept, key=itemgetter(0, 1)):
        if not out or out[-1].account_id != account_id:
            out.append(AccountRecords(account_id, [(observe_time, body)]))
            continue
        records = out[-1].records
        if records[-1][0] != observe_time:
            records.append((observe_time, body))
        elif not records[-1][1].endswith(body):
            records[-1] = (observe_time, records[-1][1] + body)
    return out


def _health_params(health: Sequence[HealthRow]) -> Iterator[tuple[object, ...]]:
    now = micros(dt.datetime.now(dt.UTC))
    for h in health:
        yield (*h, now)


# The daily table's columns, from stored rows.
_RANK_WORDS = {
    health_pb2.HEALTH_RANK_GOOD: "GOOD",
    health_pb2.HEALTH_RANK_AVERAGE: "AVERAGE",
    health_pb2.HEALTH_RANK_POOR: "POOR",
    health_pb2.HEALTH_RANK_UNKNOWN: "UNKNOWN",
    health_pb2.HEALTH_RANK_UNSPECIFIED: "UNKNOWN",
}
_MODEL_IDS: dict[int, str] = {
    ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH: "account-health",
    ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL: "multidimensional",
}
_UNKNOWN_REASONS = {
    value: name.removeprefix("UNKNOWN_REASON_")
    for name, value in health_pb2.UnknownReason.items()
    if value
}


def _attribute(name: str, value: account_pb2.Value) -> dict[str, object]:
    kind = value.WhichOneof("kind")
    item: dict[str, object] = {"name": name}
    if kind == "number_value":
        item["number"] = value.number_value
    elif kind == "text_value":
        item["text"] = value.text_value
    elif kind == "bool_value":
        item["bool"] = value.bool_value
    elif kind == "time_value":
        item["time"] = value.time_value.seconds * 1_000_000 + value.time_value.nanos // 1_000
    return item


# One account of the daily table: id, model, version, as_of, health, its records' bodies.
_HealthOfDay = tuple[str, int, int, int, bytes, list[bytes]]


def _daily_batch(day: dt.date, rows: list[_HealthOfDay]) -> pa.RecordBatch:
    columns: dict[str, list[object]] = {f.name: [] for f in HEALTH_DAILY}
    health = health_pb2.AccountHealth()
    account = account_pb2.Account()
    for account_id, model, version, as_of, health_body, bodies in rows:
        health.ParseFromString(health_body)
        account.ParseFromString(b"".join(bodies))
        columns["as_of"].append(as_of)
        columns["account_id"].append(account_id)
        columns["parent_id"].append(account.parent_id or None)
        columns["status"].append(
            "CANCELLED" if account.status == account_pb2.ACCOUNT_STATUS_CANCELLED else "ACTIVE"
        )
        columns["contract_value"].append(
            account.contract_value if account.HasField("contract_value") else None
        )
        columns["model"].append(_MODEL_IDS.get(model, str(model)))
        columns["version"].append(version)
        columns["profile"].append(health.profile or None)
        columns["score"].append(health.score if health.HasField("score") else None)
        columns["rank"].append(_RANK_WORDS[health.rank])
        columns["unknown_reason"].append(_UNKNOWN_REASONS.get(health.unknown_reason))
        dimensions: list[dict[str, object]] = [
            {
                "name": d.dimension,
                "score": d.score if d.HasField("score") else None,
                "rank": _RANK_WORDS[d.rank],
            }
            for d in health.dimensions
        ]
        dimensions += [
            {"name": c.category, "score": None, "rank": _RANK_WORDS[c.rank]}
            for c in health.categories
        ]
        columns["dimensions"].append(dimensions)
        columns["attributes"].append(
            [_attribute(name, account.attributes[name]) for name in sorted(account.attributes)]
        )
        columns["enterprise_score"].append(None)
        columns["enterprise_rank"].append(None)
    n = len(rows)
    columns["day"] = [day] * n
    arrays = [pa.array(columns[f.name], f.type) for f in HEALTH_DAILY]
    return pa.RecordBatch.from_arrays(arrays, schema=HEALTH_DAILY)
