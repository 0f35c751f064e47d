"""Shared helpers of the history tests: a generated source that counts its calls (DuckDB over the
table: `benchmarks.history_data.duckdb_with_delta`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pyarrow as pa

from benchmarks.history_data import SyntheticHealth


class CountingSource:
    """A `CurrentHealthSource` over generated accounts that counts its calls; `version` lets a
    test tell a re-run's rows from the first run's."""

    def __init__(self, accounts: int, version: int = 1) -> None:
        self.health = SyntheticHealth(accounts, version=version)
        self.calls: list[dt.date] = []

    def iter_current_health(self, day: dt.date, batch_rows: int) -> Iterator[pa.RecordBatch]:
        self.calls.append(day)
        return self.health.iter_current_health(day, batch_rows)
