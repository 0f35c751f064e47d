"""Where accounts come from: files found from a path, a directory or a glob, read in batches.

Row numbers are 1-based record numbers within their file: Parquet rows; CSV records after the
header; JSON Lines non-blank lines. A record a reader cannot parse at all (a CSV row with the wrong
number of fields, a line that is not a JSON object) is reported with its number and never scored.

Date partitions (`--from/--to`): the input is a directory holding one Hive-style directory per day,
`date=YYYY-MM-DD/`, each with that day's snapshot in any number of files.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from healthscore.errors import InvalidInputError, Violation
from healthscore.jobs import convert
from healthscore.jobs.convert import Schema

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
DEFAULT_BATCH_ROWS = 1 << 17
_JSON_CHUNK_BYTES = 1 << 23
_PARQUET_BUFFER_BYTES = 1 << 23


@dataclass(frozen=True)
class RowError:
    """A row that was not scored: where it is, its id when known, and why."""

    file: str
    row: int
    id: str
    reason: str


@dataclass
class Chunk:
    """A batch of raw records of one file and their row numbers; `bad` maps batch indices of
    records with values the reader could not take to reasons; `unreadable` lists the records
    that are not in the batch at all. `work` is the progress it stands for (rows for Parquet,
    bytes otherwise)."""

    file: str
    rows: npt.NDArray[np.int64]
    batch: pa.RecordBatch
    unreadable: list[RowError] = field(default_factory=list)
    bad: dict[int, str] = field(default_factory=dict)
    work: int = 0


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: str

    @property
    def name(self) -> str:
        return str(self.path)


def _invalid(message: str) -> InvalidInputError:
    return InvalidInputError(message, [Violation("input", message)])


def format_of(path: Path, forced: str | None = None) -> str:
    if forced:
        return forced
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise _invalid(
            f"{path}: unknown format (suffixes: {', '.join(FORMATS)}; or --input-format)"
        )
    return fmt


def _visible(path: Path, root: Path) -> bool:
    """Hidden and `_`-prefixed names (markers, temporary files, error files) are not data."""
    return not any(p.startswith((".", "_")) for p in path.relative_to(root).parts)


def discover(spec: str, forced_format: str | None = None) -> list[InputFile]:
    """The input files of a path, a directory (recursively) or a glob, in sorted order."""
    path = Path(spec)
    if path.is_file():
        paths = [path]
    elif path.is_dir():
        paths = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and _visible(p, path) and (forced_format or p.suffix.lower() in FORMATS)
        )
    else:
        paths = sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())
    if not paths:
        raise _invalid(f"{spec}: no input files")
    return [InputFile(p, format_of(p, forced_format)) for p in paths]


def date_partitions(
    root: Path, start: dt.date, end: dt.date, forced_format: str | None = None
) -> list[tuple[dt.date, list[InputFile]]]:
    """The files of each day from `start` to `end` (inclusive) under `root/date=YYYY-MM-DD/`."""
    if end < start:
        raise _invalid(f"--to {end} is before --from {start}")
    days = []
    missing = []
    day = start
    while day <= end:
        directory = root / f"date={day.isoformat()}"
        if directory.is_dir():
            days.append((day, discover(str(directory), forced_format)))
        else:
            missing.append(directory.name)
        day += dt.timedelta(days=1)
    if missing:
        raise _invalid(f"{root}: no partition for {', '.join(missing)}")
    return days


def columns_of(source: InputFile) -> list[str] | None:
    """The columns a file declares (None for JSON Lines, which declares none)."""
    if source.format == "parquet":
        return list(pq.read_schema(source.path).names)
    if source.format == "csv":
        with source.path.open("rb") as handle:
            header = handle.readline().decode("utf-8", errors="replace")
        return next(csv.reader([header]), [])
    return None


def check_columns(sources: list[InputFile]) -> None:
    """Fails before any work when a file has no `id` column."""
    lacking = [s.name for s in sources if (cols := columns_of(s)) is not None and "id" not in cols]
    if lacking:
        raise _invalid(f"no `id` column in {', '.join(lacking)}")


def count_work(sources: list[InputFile]) -> int:
    """Total progress units: Parquet rows (from the footers) and text bytes."""
    total = 0
    for s in sources:
        if s.format == "parquet":
            total += int(pq.ParquetFile(s.path).metadata.num_rows)
        else:
            total += s.path.stat().st_size
    return total


def read(
    source: InputFile, schema: Schema, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[Chunk]:
    if source.format == "parquet":
        for k in range(pq.ParquetFile(source.path).num_row_groups):
            yield from read_row_group(source, schema, k, batch_rows)
    elif source.format == "csv":
        yield from _read_csv(source, schema, batch_rows)
    else:
        yield from _read_jsonl(source, schema, batch_rows)


def row_group_count(source: InputFile) -> int:
    return int(pq.ParquetFile(source.path).num_row_groups)


def read_row_group(
    source: InputFile, schema: Schema, group: int, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[Chunk]:
    """One Parquet row group, streamed (no pre-buffering of whole column chunks). Text columns
    come as dictionaries, as Parquet stores them, which the core reads without a string per
    row."""
    names = pq.read_schema(source.path).names
    file = pq.ParquetFile(
        source.path,
        buffer_size=_PARQUET_BUFFER_BYTES,
        pre_buffer=False,
        read_dictionary=[c for c in names if schema.kind(c) in convert.TEXT_KINDS],
    )
    metadata = file.metadata
    first = 1 + sum(metadata.row_group(g).num_rows for g in range(group))
    declared = metadata.row_group(group).num_rows
    columns = schema.wanted(file.schema_arrow.names)
    start = first
    for batch in file.iter_batches(batch_size=batch_rows, row_groups=[group], columns=columns):
        rows = np.arange(first, first + batch.num_rows, dtype=np.int64)
        first += batch.num_rows
        yield Chunk(source.name, rows, batch, work=batch.num_rows)
    held = first - start
    if held != declared:
        # pyarrow stops quietly where a column's data ends: a footer that claims other counts
        # than the data holds would give wrong row numbers and a wrong total, so the job fails.
        raise _invalid(
            f"{source.name}: row group {group} declares {declared:,} rows in its footer but "
            f"holds {held:,}: the file is damaged"
        )


def _first_field(text: str, position: int) -> str:
    try:
        fields = next(csv.reader([text]))
        return fields[position] if position < len(fields) else ""
    except (csv.Error, StopIteration):
        return ""


def _read_csv(source: InputFile, schema: Schema, batch_rows: int) -> Iterator[Chunk]:
    header = columns_of(source) or []
    id_position = header.index("id") if "id" in header else 0
    skipped: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        # row.number is the physical line; the header is line 1, so record = line - 1.
        skipped.append((int(row.number) - 1, str(row.text)))
        return "skip"

    wanted = schema.wanted(header)
    with source.path.open("rb") as handle:
        reader = pa_csv.open_csv(
            handle,
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=1 << 22),
            parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(
                column_types=schema.text_reader_types(header),
                include_columns=wanted,
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
        next_record, position = 1, 0
        for raw in reader:
            batch, not_utf8 = _utf8(raw)
            bad = sorted(n for n, _ in skipped)
            errors = [
                RowError(
                    source.name,
                    n,
                    _first_field(text, id_position),
                    f"not a CSV record of {len(header)} fields",
                )
                for n, text in sorted(skipped)
            ]
            skipped.clear()
            span = np.arange(next_record, next_record + batch.num_rows + len(bad), dtype=np.int64)
            rows = np.setdiff1d(span, np.array(bad, np.int64), assume_unique=True)
            next_record += batch.num_rows + len(bad)
            done, position = handle.tell() - position, handle.tell()
            for k in range(0, max(batch.num_rows, 1), batch_rows):
                first = k == 0
                yield Chunk(
                    source.name,
                    rows[k : k + batch_rows],
                    batch.slice(k, batch_rows),
                    errors if first else [],
                    {i - k: r for i, r in not_utf8.items() if k <= i < k + batch_rows},
                    work=done if first else 0,
                )
        if skipped:  # malformed records after the last batch
            errors = [
                RowError(source.name, n, _first_field(t, id_position), "not a CSV record")
                for n, t in sorted(skipped)
            ]
            yield Chunk(source.name, np.zeros(0, np.int64), _empty(wanted), errors)


def _utf8(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, dict[int, str]]:
    """Binary columns as Utf8; values that are not UTF-8 become nulls and their rows bad."""
    bad: dict[int, str] = {}
    arrays = []
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        try:
            arrays.append(array.cast(pa.string()))
        except pa.ArrowInvalid:
            values = []
            for row, raw in enumerate(array.to_pylist()):
                try:
                    values.append(None if raw is None else raw.decode("utf-8"))
                except UnicodeDecodeError:
                    values.append(None)
                    bad[row] = f"{bad[row]}; " if row in bad else ""
                    bad[row] += f"{name}: not UTF-8 text"
            arrays.append(pa.array(values, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), bad


def _empty(columns: list[str]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({c: pa.array([], pa.string()) for c in columns or ["id"]})


# JSON Lines: the reader's types per target kind (TIME stays text: `convert` parses it).
_JSON_TYPES = {
    convert.NUMBER: pa.float64(),
    convert.TEXT: pa.string(),
    convert.ORDINAL: pa.string(),
    convert.BOOL: pa.bool_(),
    convert.TIME: pa.string(),
    -1: pa.string(),  # id
    -2: pa.string(),  # status
    -3: pa.int64(),  # contract_value
}


def _json_value(kind: int, raw: Any) -> Any:
    """One JSON value as the reader's type for `kind` (the slow path), or ValueError."""
    if raw is None:
        return None
    if kind == convert.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"expected a number, got {raw!r}")
        return convert._number(raw) if isinstance(raw, str) else float(raw)
    if kind == -3:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(f"expected whole minor units, got {raw!r}")
        return convert._integer(str(raw))
    if kind == convert.BOOL:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            return convert._bool(raw.strip())
        raise ValueError(f"expected true or false, got {raw!r}")
    if kind == -1 and isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str):
        expected = "an ISO 8601 time" if kind == convert.TIME else "text"
        raise ValueError(f"expected {expected}, got {raw!r}")
    return raw


def _jsonl_slow(source: InputFile, schema: Schema, lines: list[bytes], first_row: int) -> Chunk:
    """Each line on its own: bad lines and bad values are found one by one."""
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    errors: list[RowError] = []
    bad: dict[int, str] = {}
    columns: dict[str, int] = {}
    for offset, line in enumerate(lines):
        row = first_row + offset
        try:
            record = json.loads(line)
        except ValueError as exc:
            errors.append(RowError(source.name, row, "", f"not JSON: {exc}"))
            continue
        if not isinstance(record, dict):
            errors.append(RowError(source.name, row, "", "not a JSON object"))
            continue
        values: dict[str, Any] = {}
        problems: list[str] = []
        for key, raw in record.items():
            kind = schema.kind(key)
            if kind is None:
                continue
            columns.setdefault(key, kind)
            try:
                values[key] = _json_value(kind, raw)
            except (ValueError, OverflowError) as exc:
                problems.append(f"{key}: {exc}")
        if problems:
            bad[len(records)] = "; ".join(problems)
        records.append(values)
        rows.append(row)
    if "id" not in columns:
        columns["id"] = -1
    arrays = {
        name: pa.array([r.get(name) for r in records], _JSON_TYPES[kind])
        for name, kind in columns.items()
    }
    batch = pa.RecordBatch.from_pydict(arrays)
    return Chunk(source.name, np.array(rows, np.int64), batch, errors, bad)


def _read_jsonl(source: InputFile, schema: Schema, batch_rows: int) -> Iterator[Chunk]:
    """Chunks of whole lines; each parsed by Arrow's JSON reader, or line by line in Python when
    Arrow refuses the chunk (a bad line, or a value of another JSON type than the catalog's).
    Columns the catalog does not name are inferred (look-backs among them)."""
    next_row = 1
    with source.path.open("rb") as handle:
        carry = b""
        while True:
            block = handle.read(_JSON_CHUNK_BYTES)
            data = carry + block
            if not block:
                cut = len(data)
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
            chunk, carry = data[:cut], data[cut:]
            lines = [line for line in chunk.split(b"\n") if line.strip()]
            for k in range(0, len(lines), batch_rows):
                part = lines[k : k + batch_rows]
                yield _jsonl_chunk(source, schema, part, next_row, len(chunk) if k == 0 else 0)
                next_row += len(part)
            if not block:
                return


def _jsonl_chunk(
    source: InputFile, schema: Schema, lines: list[bytes], first_row: int, work: int
) -> Chunk:
    try:
        fields = pa.schema([(name, _JSON_TYPES[kind]) for name, kind in schema.kinds.items()])
        data = b"\n".join(lines)
        data.decode("utf-8")  # Arrow's JSON reader does not check: bad bytes go the slow way
        table = pa_json.read_json(
            io.BytesIO(data),
            read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 30),
            parse_options=pa_json.ParseOptions(
                explicit_schema=fields, unexpected_field_behavior="infer"
            ),
        )
        if table.num_rows != len(lines):
            raise pa.ArrowInvalid("row count")
        batch = table.combine_chunks().to_batches()[0] if table.num_rows else _empty(fields.names)
        rows = np.arange(first_row, first_row + len(lines), dtype=np.int64)
        return Chunk(source.name, rows, batch, work=work)
    except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError):
        chunk = _jsonl_slow(source, schema, lines, first_row)
        chunk.work = work
        return chunk
