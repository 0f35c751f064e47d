"""Shared helpers of the history tests: a generated source and readers with no healthscore code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

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


def duckdb_connection():  # type: ignore[no-untyped-def]
    """DuckDB with its delta extension from the duckdb-ext-delta wheel (nothing downloaded)."""
    import duckdb
    import duckdb_ext

    con = duckdb.connect()
    folder = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con.execute("SET extension_directory = ?", [str(folder)])
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("LOAD delta")
    return con
