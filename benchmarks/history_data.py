"""Synthetic daily health in the `HEALTH_DAILY` schema, for the history benchmarks and tests.

A stand-in for the account store's current health: `accounts` accounts (ids `acct-00000000`, ...
in id order), each with a score that drifts from day to day, five dimensions, a segment, an owner,
a parent for one account in ten, and four metric values. Deterministic per (seed, day), built
column-wise with numpy (no Python object per account).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from healthscore.history.schema import ATTRIBUTE, DIMENSION, HEALTH_DAILY

DIMENSIONS = ("usage", "engagement", "adoption", "support", "sentiment")
METRICS = ("m00", "m01", "m02", "m03")
SEGMENTS = ("enterprise", "smb", "mid-market")
OWNERS = ("alice", "bob", "carol", "dave")
POOR_MAX = 40
GOOD_MIN = 70


def account_id(index: int) -> str:
    return f"acct-{index:08d}"


_RANK_WORDS = pa.array(["POOR", "AVERAGE", "GOOD"], pa.string())


def _ranks(scores: np.ndarray) -> pa.Array:
    codes = (scores > POOR_MAX).astype(np.int8) + (scores >= GOOD_MIN).astype(np.int8)
    return _RANK_WORDS.take(pa.array(codes))


def _list(values: pa.StructArray, per_row: int, rows: int) -> pa.ListArray:
    offsets = pa.array(np.arange(0, (rows + 1) * per_row, per_row, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, values)


@functools.lru_cache(maxsize=64)
def _fixed(start: int, stop: int, total: int) -> dict[str, pa.Array]:
    """The columns that do not change from day to day, for accounts `start`..`stop`."""
    rows = stop - start
    index = np.arange(start, stop, dtype=np.int64)
    ids = pa.array([account_id(i) for i in range(start, stop)], pa.string())
    parents = pa.array(
        [account_id(i - i % 10) if i % 10 else None for i in range(start, stop)], pa.string()
    )
    per_account = 2 + len(METRICS)
    names = pa.array(np.tile(np.array(("segment", "owner", *METRICS)), rows), pa.string())
    texts = np.full((rows, per_account), None, dtype=object)
    segment = index % len(SEGMENTS)
    texts[:, 0] = np.array(SEGMENTS, dtype=object)[segment]
    texts[:, 1] = np.array(OWNERS, dtype=object)[(index // 3) % len(OWNERS)]
    children = (index % 10 == 0) & (index + 1 < total)
    return {
        "account_id": ids,
        "parent_id": parents,
        "status": pa.repeat(pa.scalar("ACTIVE"), rows),
        "contract_value": pa.array(index * 1000 % 250_000, pa.int64()),
        "model": pa.repeat(pa.scalar("multidimensional"), rows),
        "profile": pa.array(np.where(segment == 0, "enterprise", "default"), pa.string()),
        "unknown_reason": pa.nulls(rows, pa.string()),
        "dimension_names": pa.array(np.tile(np.array(DIMENSIONS), rows), pa.string()),
        "attribute_names": names,
        "attribute_texts": pa.array(texts.reshape(-1), pa.string()),
        "no_bools": pa.nulls(rows * per_account, pa.bool_()),
        "no_times": pa.nulls(rows * per_account, ATTRIBUTE.field("time").type),
        "children": pa.array(children),
    }


@dataclass(frozen=True)
class SyntheticHealth:
    """`iter_current_health` over generated accounts; the day picks the drift."""

    accounts: int
    seed: int = 20261203
    version: int = 1

    def batch(self, day: dt.date, start: int, stop: int) -> pa.RecordBatch:
        """Accounts `start`..`stop` (exclusive) on `day`."""
        rows = stop - start
        fixed = _fixed(start, stop, self.accounts)
        base = np.random.default_rng([self.seed, start]).integers(0, 101, rows)
        rng = np.random.default_rng([self.seed, start, day.toordinal()])
        scores = np.clip(base + rng.integers(-8, 9, rows), 0, 100).astype(np.int32)
        dim_scores = np.clip(
            scores[:, None] + rng.integers(-20, 21, (rows, len(DIMENSIONS))), 0, 100
        ).astype(np.int32)
        dimensions = pa.StructArray.from_arrays(
            [
                fixed["dimension_names"],
                pa.array(dim_scores.reshape(-1)),
                _ranks(dim_scores.reshape(-1)),
            ],
            fields=list(DIMENSION),
        )
        per_account = 2 + len(METRICS)
        numbers = np.full((rows, per_account), np.nan)
        numbers[:, 2:] = np.round(rng.random((rows, len(METRICS))) * 100, 1)
        flat = numbers.reshape(-1)
        attributes = pa.StructArray.from_arrays(
            [
                fixed["attribute_names"],
                pa.array(flat, pa.float64(), mask=np.isnan(flat)),
                fixed["attribute_texts"],
                fixed["no_bools"],
                fixed["no_times"],
            ],
            fields=list(ATTRIBUTE),
        )
        as_of = dt.datetime.combine(day, dt.time(2, 0), dt.UTC)
        ranks = _ranks(scores)
        children = fixed["children"]
        columns = [
            pa.repeat(pa.scalar(day, pa.date32()), rows),
            pa.repeat(pa.scalar(as_of, HEALTH_DAILY.field("as_of").type), rows),
            fixed["account_id"],
            fixed["parent_id"],
            fixed["status"],
            fixed["contract_value"],
            fixed["model"],
            pa.array(np.full(rows, self.version, np.int32)),
            fixed["profile"],
            pa.array(scores),
            ranks,
            fixed["unknown_reason"],
            _list(dimensions, len(DIMENSIONS), rows),
            _list(attributes, per_account, rows),
            pc.if_else(children, pa.array(scores), pa.scalar(None, pa.int32())),
            pc.if_else(children, ranks, pa.scalar(None, pa.string())),
        ]
        return pa.RecordBatch.from_arrays(columns, schema=HEALTH_DAILY)

    def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for start in range(0, self.accounts, batch_rows):
            yield self.batch(day, start, min(start + batch_rows, self.accounts))


def duckdb_with_delta() -> Any:
    """A DuckDB connection with its delta extension loaded from the duckdb-ext-delta wheel
    (nothing downloaded), for reading the table as a user would (`delta_scan`). ImportError
    when either is not installed."""
    import duckdb
    import duckdb_ext

    con = duckdb.connect()
    folder = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con.execute("SET extension_directory = ?", [str(folder)])
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("LOAD delta")
    return con
