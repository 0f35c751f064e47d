"""Account data intake and current health (AccountService's domain; no gRPC).

A write is checked whole against the active version's catalog (every bad field named, nothing
stored on any), stored, and the accounts it touched are rescored from their stored data with the
active version in the same transaction: their current health is never older than their data.

Scoring stored accounts builds one row-form `ScoreAccountsRequest` per batch straight from the
stored bytes (an account is its records' bodies concatenated, see `store/accounts.py`) and hands it
to the core once; "change in" criteria get the attribute's stored values as the account's
`history`, so the core compares with the value stored at or before `as_of` minus the period.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import structlog
from google.protobuf.message import Message

from healthscore import wire
from healthscore.domain import names
from healthscore.domain.registry import Registry, Scorer
from healthscore.errors import (
    FailedPreconditionError,
    InvalidAccountsError,
    InvalidInputError,
    NotFoundError,
    Violation,
)
from healthscore.store.accounts import (
    AccountRecords,
    AccountStore,
    HealthRow,
    from_micros,
    micros,
)
from healthscore_client.v1 import (
    account_pb2,
    account_service_pb2,
    criteria_pb2,
    ruleset_pb2,
    scoring_pb2,
)

log = structlog.get_logger("healthscore.accounts")

MAX_RECORDS = 100_000
MAX_BATCH_GET = 1_000
DEFAULT_RETENTION_DAYS = 400
CLOCK_SKEW = dt.timedelta(minutes=5)
# Health for an older instant is recomputed in the background.
MAX_HEALTH_AGE = dt.timedelta(days=1)
_DAY_MICROS = 86_400 * 1_000_000
# Accounts rescored per transaction when a new version is activated.
_REFRESH_BATCH = 5_000


def _framed(bodies: Iterable[bytes]) -> bytes:
    """`bodies` as consecutive `accounts` entries (field 1, length-delimited) of a request: one
    join of key, length and body for all (no bytes object built per entry)."""
    return b"".join([part for body in bodies for part in (b"\x0a", wire.varint(len(body)), body)])


def change_periods(ruleset: ruleset_pb2.Ruleset) -> dict[str, frozenset[int]]:
    """Every "change in" predicate's attribute and look-back periods, found anywhere in the
    ruleset."""
    found: dict[str, set[int]] = {}

    def walk(message: Message) -> None:
        if isinstance(message, criteria_pb2.Predicate):
            if message.change_period_days > 0:
                found.setdefault(message.attribute, set()).add(message.change_period_days)
            return
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if isinstance(value, Message):
                walk(value)
            elif field.message_type.GetOptions().map_entry:
                for item in value.values():
                    if isinstance(item, Message):
                        walk(item)
            else:
                for item in value:
                    walk(item)

    walk(ruleset)
    return {a: frozenset(p) for a, p in found.items()}


def lookbacks(
    account: account_pb2.Account, as_of: int, periods: dict[str, frozenset[int]]
) -> list[account_service_pb2.StoredLookback]:
    """Which stored value each "change in" criterion compared with: the history point with the
    greatest time at or before `as_of` minus the period (the core's rule, docs/semantics.md)."""
    out: list[account_service_pb2.StoredLookback] = []
    for attribute in sorted(periods):
        points = (
            sorted(
                (p.time.seconds * 1_000_000 + p.time.nanos // 1_000, p.value)
                for p in account.history[attribute].points
            )
            if attribute in account.history
            else []
        )
        for period in sorted(periods[attribute]):
            item = account_service_pb2.StoredLookback(attribute=attribute, period_days=period)
            limit = as_of - period * _DAY_MICROS
            earlier = [p for p in points if p[0] <= limit]
            if earlier and not math.isnan(earlier[-1][1]):
                item.observe_time.FromDatetime(from_micros(earlier[-1][0]))
                item.value = earlier[-1][1]
            out.append(item)
    return out


class StoredScoring:
    """Scores stored accounts with one ruleset at one instant (a `Rescore` for the store)."""

    def __init__(
        self,
        scorer: Scorer,
        periods: dict[str, frozenset[int]],
        as_of: int,
        view: int = scoring_pb2.SCORE_VIEW_DIMENSIONS,
    ) -> None:
        """`periods`: the scorer's "change in" attributes and periods (`change_periods`)."""
        ref = names.parse_ruleset(scorer.name, "ruleset")
        if ref.number is None:
            raise FailedPreconditionError(f"{scorer.name}: stored health needs a version")
        self._scorer = scorer
        self._version = ref.number
        self._as_of = as_of
        self._periods = periods
        tail = scoring_pb2.ScoreAccountsRequest(view=scoring_pb2.ScoreView.ValueType(view))
        tail.as_of.FromDatetime(from_micros(as_of))
        self._tail = tail.SerializeToString()

    def _history(self, records: list[tuple[int, bytes]]) -> bytes:
        """The stored values of the "change in" attributes, as an `Account.history` fragment."""
        account = account_pb2.Account()
        parsed = account_pb2.Account()
        for observe_time, body in records:
            parsed.ParseFromString(body)
            for attribute in self._periods:
                if attribute not in parsed.attributes:
                    continue
                value = parsed.attributes[attribute]
                point = account.history[attribute].points.add(
                    value=value.number_value if value.HasField("number_value") else math.nan
                )
                point.time.FromDatetime(from_micros(observe_time))
        return account.SerializeToString()

    def score(self, accounts: list[AccountRecords]) -> tuple[list[bytes], list[bytes]]:
        """Each account's serialized `AccountHealth`, and the `Account` it was computed from."""
        bodies = [a.body + self._history(a.records) if self._periods else a.body for a in accounts]
        request = _framed(bodies) + self._tail
        return _results(self._scorer.compiled.score_bytes(request)), bodies

    def __call__(self, accounts: list[AccountRecords]) -> list[HealthRow]:
        results, _ = self.score(accounts)
        model, version, as_of = self._scorer.model, self._version, self._as_of
        return [
            HealthRow(a.account_id, model, version, as_of, a.data_time, health)
            for a, health in zip(accounts, results, strict=True)
        ]


def field1_entries(data: bytes) -> list[bytes]:
    """The length-delimited occurrences of field 1 of a serialized message, each still
    serialized (the wire walked once, no message built); other fields are skipped."""
    out: list[bytes] = []
    position, end = 0, len(data)
    while position < end:
        key, position = wire.read_varint(data, position)
        wire_type = key & 7
        if wire_type == 2:
            length, position = wire.read_varint(data, position)
            if key == 0x0A:
                out.append(data[position : position + length])
            position += length
        elif wire_type == 0:
            _, position = wire.read_varint(data, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    if position != end:
        raise ValueError("truncated message")
    return out


_results = field1_entries
_RECORD_PATH = re.compile(r"records\[(\d+)\]")
_ACCOUNT_PATH = re.compile(r"accounts\[(\d+)\](.*)", re.DOTALL)


class _Facts(NamedTuple):
    """What intake needs of a ruleset besides scoring with it."""

    periods: dict[str, frozenset[int]]  # `change_periods`
    attributes: frozenset[str]  # the catalog's attribute names

    @classmethod
    def of(cls, ruleset: ruleset_pb2.Ruleset) -> _Facts:
        return cls(change_periods(ruleset), frozenset(a.name for a in ruleset.catalog.attributes))


def _view(health: account_service_pb2.StoredAccountHealth, view: int) -> None:
    """Trims a stored (DIMENSIONS) health to `view` (BASIC when unspecified); FULL is recomputed
    elsewhere and kept whole."""
    if view in (scoring_pb2.SCORE_VIEW_FULL, scoring_pb2.SCORE_VIEW_DIMENSIONS):
        return
    health.health.ClearField("dimensions")
    health.health.ClearField("categories")


class AccountData:
    """Writes account data, rescores what it touched, serves current health."""

    def __init__(
        self,
        store: AccountStore,
        registry: Registry,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store = store
        self._registry = registry
        self._retention = dt.timedelta(days=retention_days)
        self._clock = clock
        self._refreshing = threading.Lock()
        # By version name: the versions of this store's registry never change. (A name alone,
        # across stores, says nothing: every data directory has its `versions/2`.)
        self._facts: dict[str, _Facts] = {}

    def active(self) -> Scorer:
        """The active version, which writes rescore with."""
        return self._registry.active()

    def _facts_of(self, scorer: Scorer) -> _Facts:
        """The scorer's `_Facts`; a version's computed once."""
        if scorer.name.endswith("/draft"):
            return _Facts.of(scorer.ruleset)
        facts = self._facts.get(scorer.name)
        if facts is None:
            facts = self._facts.setdefault(scorer.name, _Facts.of(scorer.ruleset))
        return facts

    def _scoring(
        self, scorer: Scorer, as_of: int, view: int = scoring_pb2.SCORE_VIEW_DIMENSIONS
    ) -> StoredScoring:
        return StoredScoring(scorer, self._facts_of(scorer).periods, as_of, view)

    # Writes.

    def _time_window(self) -> tuple[int, int, dt.datetime]:
        now = self._clock()
        earliest = max(now - self._retention, dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
        return micros(earliest), micros(now + CLOCK_SKEW), now

    def check(
        self,
        records: Sequence[account_service_pb2.AccountData],
        scorer: Scorer,
        bodies: Sequence[bytes] | None = None,
    ) -> list[tuple[str, int, bytes]]:
        """The records as store rows; InvalidInputError naming every bad field otherwise.
        `bodies`: each record's bytes as received (default: serialized again). Values are
        checked against the catalog by the core (types, ordinal levels, infinities, wire types),
        all records in one call per layer of distinct ids; ids, observe times and attribute
        names the catalog lacks, here."""
        if len(records) > MAX_RECORDS:
            raise InvalidInputError(
                f"records: at most {MAX_RECORDS} per request, got {len(records)}",
                [Violation("records", f"at most {MAX_RECORDS} per request")],
            )
        if bodies is None:
            bodies = [r.SerializeToString() for r in records]
        known = self._facts_of(scorer).attributes
        earliest, latest, _ = self._time_window()
        violations: list[Violation] = []
        rows: list[tuple[str, int, bytes]] = []
        for i, (record, body) in enumerate(zip(records, bodies, strict=True)):
            path = f"records[{i}]"
            if not record.account_id:
                violations.append(Violation(f"{path}.account_id", "required"))
            if not record.HasField("observe_time"):
                violations.append(Violation(f"{path}.observe_time", "required"))
                observe = 0
            else:
                t = record.observe_time
                observe = t.seconds * 1_000_000 + t.nanos // 1_000
                problem = _window_problem(observe, earliest, latest)
                if problem is not None:
                    violations.append(Violation(f"{path}.observe_time", problem))
            if not known.issuperset(record.attributes):
                violations += [
                    Violation(f'{path}.attributes["{name}"]', "not an attribute of the catalog")
                    for name in sorted(set(record.attributes).difference(known))
                ]
            rows.append((record.account_id, observe, body))
        violations += _core_violations(scorer, rows)
        if violations:
            raise InvalidInputError(
                f"{len(violations)} invalid field(s) in the records; nothing was written",
                violations,
            )
        return rows

    def row_problems(
        self, rows: Sequence[tuple[str, int, bytes]], scorer: Scorer
    ) -> dict[int, str]:
        """The rows `check` would refuse for their observe time or their values (by index),
        with the reasons: for writers whose rows are otherwise checked already (`ingest`)."""
        earliest, latest, _ = self._time_window()
        problems: dict[int, str] = {}
        for i, (_, observe, _) in enumerate(rows):
            problem = _window_problem(observe, earliest, latest)
            if problem is not None:
                problems[i] = f"observe_time: {problem}"
        for v in _core_violations(scorer, list(rows)):
            m = _RECORD_PATH.match(v.path)
            if m is None:
                raise InvalidInputError(v.message, [v])
            row = int(m[1])
            reason = f"{v.path[m.end() :].lstrip('.')}: {v.message}"
            problems[row] = f"{problems[row]}; {reason}" if row in problems else reason
        return problems

    def write_rows(
        self, rows: Sequence[tuple[str, int, bytes]], scorer: Scorer | None = None
    ) -> tuple[list[str], Scorer]:
        """Stores checked rows and rescores the accounts they touch, in one transaction."""
        scorer = scorer or self._registry.active()
        as_of = micros(self._clock())
        touched = self.store.write(rows, self._scoring(scorer, as_of), as_of=as_of)
        return touched, scorer

    def write(
        self, request: account_service_pb2.WriteAccountDataRequest, data: bytes | None = None
    ) -> account_service_pb2.WriteAccountDataResponse:
        """`data`: the request as received (its records' bytes are stored as they are)."""
        scorer = self._registry.active()
        bodies = field1_entries(data) if data is not None else None
        rows = self.check(request.records, scorer, bodies)
        touched, scorer = self.write_rows(rows, scorer)
        return account_service_pb2.WriteAccountDataResponse(
            record_count=len(rows), account_count=len(touched), ruleset=scorer.name
        )

    # Reads.

    def get(
        self, account_ids: Sequence[str], view: int, fields: Sequence[str]
    ) -> list[account_service_pb2.StoredAccountHealth]:
        """The current health of these accounts (NOT_FOUND naming the first without data),
        rescored first where it was computed by another version than the active one."""
        scorer = self._registry.active()
        ref = names.parse_ruleset(scorer.name, "ruleset")
        stored = self.store.health(account_ids)
        for account_id, field in zip(account_ids, fields, strict=True):
            if account_id not in stored:
                raise NotFoundError(f"{field}: {names.account_name(account_id)} has no data")
        stale = [a for a, h in stored.items() if (h.model, h.version) != (scorer.model, ref.number)]
        if stale:
            as_of = micros(self._clock())
            self.store.rescore(stale, self._scoring(scorer, as_of), as_of=as_of)
            stored.update(self.store.health(stale))
        out = []
        for account_id in account_ids:
            row = stored[account_id]
            item = account_service_pb2.StoredAccountHealth(
                name=names.account_name(account_id),
                ruleset=names.version_name(row.model, row.version),
            )
            item.as_of.FromDatetime(from_micros(row.as_of))
            item.data_time.FromDatetime(from_micros(row.data_time))
            if view == scoring_pb2.SCORE_VIEW_FULL:
                self._full(item, row)
            else:
                item.health.ParseFromString(row.health)
                _view(item, view)
            out.append(item)
        return out

    def _full(self, item: account_service_pb2.StoredAccountHealth, row: HealthRow) -> None:
        """View FULL: the stored health recomputed with its version, at its instant, from the
        records it used (the same result, with metrics and reasons), the account as scored and
        the stored values its "change in" criteria compared with."""
        scorer = self._registry.version(row.model, row.version)
        records = self.store.records([row.account_id], until=row.as_of)
        [health], [body] = self._scoring(scorer, row.as_of, scoring_pb2.SCORE_VIEW_FULL).score(
            records
        )
        item.health.ParseFromString(health)
        item.account.ParseFromString(body)
        item.account.DiscardUnknownFields()  # the records' observe times
        item.lookbacks.extend(lookbacks(item.account, row.as_of, self._facts_of(scorer).periods))

    def compact(self) -> int:
        """Retention: each account's records older than the retention window merged into one
        (`AccountStore.compact`); returns how many records went."""
        earliest, _, _ = self._time_window()
        removed = self.store.compact(earliest)
        if removed:
            log.info("account_data_compacted", removed=removed)
        return removed

    # After an activation.

    def refresh_stale(self, max_age: dt.timedelta | None = None) -> int:
        """Rescores, with the active version, every account whose health another version
        computed, and with `max_age` also every one whose health is for an instant longer ago
        than that (TIME criteria move with the clock); logs progress. Returns how many it
        rescored. One run at a time."""
        if not self._refreshing.acquire(blocking=False):
            return 0
        try:
            scorer = self._registry.active()
            number = names.parse_ruleset(scorer.name, "ruleset").number
            assert number is not None
            cutoff = micros(self._clock() - max_age) if max_age is not None else None

            # Each scan pages on by account id (linear however many are stale): first the
            # accounts of another version, then (with max_age) those computed before the cutoff.
            scans: list[Callable[[str], list[str]]] = [
                lambda after: self.store.stale_accounts(
                    scorer.model, number, limit=_REFRESH_BATCH, after=after
                )
            ]
            if cutoff is not None:
                scans.append(
                    lambda after: self.store.accounts_computed_before(
                        cutoff, limit=_REFRESH_BATCH, after=after
                    )
                )
            done = 0
            for scan in scans:
                after = ""
                while stale := scan(after):
                    after = stale[-1]
                    as_of = micros(self._clock())
                    done += self.store.rescore(stale, self._scoring(scorer, as_of), as_of=as_of)
                    log.info("health_refresh", version=scorer.name, rescored=done)
                    if self._registry.active() is not scorer:
                        return done  # another activation: its own refresh takes over
            return done
        finally:
            self._refreshing.release()


def _window_problem(observe: int, earliest: int, latest: int) -> str | None:
    """Why an observe time is refused (None: within the retention window and the clock skew)."""
    if observe > latest:
        return "in the future (beyond the clock skew)"
    if observe < earliest:
        return f"before {from_micros(earliest).isoformat()} (the retention window)"
    return None


def _core_violations(scorer: Scorer, rows: list[tuple[str, int, bytes]]) -> list[Violation]:
    """The core's findings on the records' values, with paths `records[i]...`. A request may hold
    several records of one account, which the core would call duplicates: records go in layers,
    the k-th record of each account in layer k."""
    out: list[Violation] = []
    for layer in _layers(rows):
        request = _framed([rows[i][2] for i in layer])
        try:
            scorer.compiled.score_bytes(request)
        except InvalidAccountsError as exc:
            for v in exc.violations:
                m = _ACCOUNT_PATH.fullmatch(v.path)
                if m is None:
                    out.append(v)
                elif not m[2].startswith(".id"):  # empty ids are reported by `check`
                    out.append(Violation(f"records[{layer[int(m[1])]}]{m[2]}", v.message))
    return out


def _layers(rows: list[tuple[str, int, bytes]]) -> list[list[int]]:
    """The rows' indexes by layer: the k-th record of each account in layer k."""
    if len({row[0] for row in rows}) == len(rows):
        return [list(range(len(rows)))]  # one record per account (typical): one layer
    layers: list[list[int]] = []
    seen: dict[str, int] = {}
    for i, (account_id, _, _) in enumerate(rows):
        k = seen.get(account_id, 0)
        seen[account_id] = k + 1
        if k == len(layers):
            layers.append([])
        layers[k].append(i)
    return layers


class StaleRefresher:
    """A background thread that keeps current health current: whenever the active version
    changes (in this process or another on the same data directory) and once at start, it
    rescores every account another version computed; every hour, also every account whose health
    is for an instant more than a day ago (`AccountData.refresh_stale`), and it merges records
    older than the retention window (`AccountData.compact`)."""

    def __init__(
        self,
        data: AccountData,
        registry: Registry,
        interval: float = 1.0,
        age_check_seconds: float = 3600.0,
    ) -> None:
        self._data = data
        self._registry = registry
        self._interval = interval
        self._age_check_seconds = age_check_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-refresh", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        seen = ""
        aged_at = time.monotonic()
        while not self._stop.is_set():
            try:
                active = self._registry.active().name
                aged = time.monotonic() - aged_at >= self._age_check_seconds
                if active != seen or aged:
                    done = self._data.refresh_stale(MAX_HEALTH_AGE if aged else None)
                    if done:
                        log.info("health_refreshed", version=active, rescored=done)
                    seen = active
                    if aged:
                        self._data.compact()
                        aged_at = time.monotonic()
            except Exception:  # keep refreshing; the next activation or tick retries
                log.exception("health_refresh_failed")
            self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
