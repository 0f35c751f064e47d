"""The daily health table's schema: one row per account per day.

This is the contract between whatever produces an account's health (the account store's current
health, a recalculation run) and the history tables, and what DuckDB, Polars or Spark users see.
Ranks are the words the bulk jobs already write (`GOOD`, `AVERAGE`, `POOR`, `UNKNOWN`). Nested
lists keep the schema fixed while profiles add and drop dimensions and attributes, so no version
of a ruleset ever changes the table's columns.
"""

from __future__ import annotations

import pyarrow as pa

RANKS = ("GOOD", "AVERAGE", "POOR", "UNKNOWN")

UTC_MICROS = pa.timestamp("us", tz="UTC")

#: A dimension's (Multidimensional) or a category's (Account Health: `score` null) result.
DIMENSION = pa.struct(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("score", pa.int32()),
        pa.field("rank", pa.string(), nullable=False),
    ]
)

#: One attribute value the score used; exactly one of the value fields is set, none for no value.
ATTRIBUTE = pa.struct(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("number", pa.float64()),
        pa.field("text", pa.string()),
        pa.field("bool", pa.bool_()),
        pa.field("time", UTC_MICROS),
    ]
)

HEALTH_DAILY = pa.schema(
    [
        # The calendar day (in the snapshot's configured time zone) the row describes.
        pa.field("day", pa.date32(), nullable=False),
        # The instant the health was computed for (the scoring `as_of`).
        pa.field("as_of", UTC_MICROS, nullable=False),
        pa.field("account_id", pa.string(), nullable=False),
        pa.field("parent_id", pa.string()),
        pa.field("status", pa.string(), nullable=False),  # ACTIVE or CANCELLED
        pa.field("contract_value", pa.int64()),  # integer minor units
        pa.field("model", pa.string(), nullable=False),  # multidimensional | account-health
        pa.field("version", pa.int32(), nullable=False),
        pa.field("profile", pa.string()),  # null: no profile matched
        pa.field("score", pa.int32()),  # null: Account Health, or rank UNKNOWN
        pa.field("rank", pa.string(), nullable=False),
        pa.field("unknown_reason", pa.string()),
        pa.field("dimensions", pa.list_(DIMENSION), nullable=False),
        pa.field("attributes", pa.list_(ATTRIBUTE), nullable=False),
        # A parent's health rolled up from its children; null for accounts without children.
        pa.field("enterprise_score", pa.int32()),
        pa.field("enterprise_rank", pa.string()),
    ]
)
