"""Accounts in every input format, jobs run in-process, and outputs read back as rows."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from healthscore import engine, files
from healthscore.jobs import rescore, rulesets
from healthscore.jobs.rescore import JobConfig, Summary
from healthscore_client.v1 import scoring_pb2

AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
FORMATS = ("parquet", "csv", "jsonl")
SUFFIX = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}


def default_ruleset() -> rulesets.JobRuleset:
    """The embedded default (multidimensional): NUMBER, ORDINAL, TEXT and TIME attributes."""
    return rulesets.from_file(files.DEFAULT_RULESET)


def accounts(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Clean accounts exercising every catalog type of the default ruleset."""
    levels = ["inactive", "monthly", "weekly", "daily"]
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "id": f"acct-{i}",
                "engagement_score": float(i % 100),
                "usage_frequency": levels[i % 4],
                "license_utilization": float((i * 7) % 100),
                "active_users": float(i % 13),
                "last_touch": (AS_OF - dt.timedelta(days=i % 40)).isoformat(),
                "open_tickets": float(i % 5),
                "csm_risk": ["none", "low", "high", "critical"][i % 4],
                "journey_stage": "adoption",
            }
        )
    return rows


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    """Records as Parquet (typed by value), CSV (text) or JSON Lines, by the path's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    elif path.suffix == ".csv":
        names = list(dict.fromkeys(k for r in records for k in r))
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, names)
            writer.writeheader()
            writer.writerows(records)
    else:
        table = pa.Table.from_pylist(records)
        if "last_touch" in table.schema.names and pa.types.is_string(
            table.schema.field("last_touch").type
        ):
            index = table.schema.get_field_index("last_touch")
            parsed = pa.array(
                [
                    None if t is None else dt.datetime.fromisoformat(t)
                    for t in table["last_touch"].to_pylist()
                ],
                pa.timestamp("us", "UTC"),
            )
            table = table.set_column(index, "last_touch", parsed)
        pq.write_table(table, path, row_group_size=max(1, len(records) // 3 or 1))
    return path


def config(
    source: Path | str, output: Path, ruleset: rulesets.JobRuleset | None = None, **kw: Any
) -> JobConfig:
    kw.setdefault("as_of", AS_OF)
    return JobConfig(input=str(source), output=output, ruleset=ruleset or default_ruleset(), **kw)


def run(source: Path | str, output: Path, **kw: Any) -> Summary:
    return rescore.run_local(config(source, output, **kw), quiet=True)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """An output file or directory (parts in name order) as plain rows."""
    if path.is_dir():
        parts = sorted(p for p in path.rglob("part-*") if p.is_file())
        return [row for part in parts for row in read_rows(part)]
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    table = pa_csv.read_csv(path) if path.suffix == ".csv" else pq.read_table(path)
    return table.to_pylist()


def read_errors(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def expected_scores(records: list[dict[str, Any]], as_of: dt.datetime = AS_OF) -> dict[str, Any]:
    """id → (score, rank) straight from the core, for clean records."""
    batch = pa.RecordBatch.from_pylist(records)
    if "last_touch" in batch.schema.names:
        index = batch.schema.get_field_index("last_touch")
        times = pa.array(
            [dt.datetime.fromisoformat(t) for t in batch.column(index).to_pylist()],
            pa.timestamp("us", "UTC"),
        )
        batch = batch.set_column(index, "last_touch", times)
    compiled = engine.compile_ruleset(default_ruleset().ruleset)
    out = compiled.score_arrow(batch, as_of=as_of, view=scoring_pb2.SCORE_VIEW_DIMENSIONS)
    return {r["account_id"]: (r["score"], r["rank"], r["usage.score"]) for r in out.to_pylist()}
