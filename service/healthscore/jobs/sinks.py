"""Where results go: Parquet, CSV or JSON Lines, written so that an interrupted job never leaves
output that looks complete.

A single output file is written under a hidden temporary name beside it and renamed into place at
the end (a rename within a directory is atomic). A directory output (parts, date partitions, the
Dask engine) is built in a hidden temporary directory beside the target, finished by a `_SUCCESS`
marker written last, and renamed into place as a whole. The rejected rows go to a CSV errors file
(`file,row,id,reason`) committed the same way, before the results.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from healthscore.errors import InvalidInputError, Violation
from healthscore.jobs.sources import RowError

OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}
EXTENSIONS_FORMATS = {ext: fmt for fmt, ext in EXTENSIONS.items()}
SUCCESS = "_SUCCESS"
ERRORS_IN_DIRECTORY = "_errors.csv"
ERROR_COLUMNS = ("file", "row", "id", "reason")
# Dictionary-encoded result columns with one value per file.
_CONSTANT_COLUMNS = ("model", "version")


class BatchWriter(Protocol):
    def write(self, batch: pa.RecordBatch) -> None: ...
    def close(self) -> None: ...


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Dictionary columns decoded (text formats have no dictionaries)."""
    if not any(pa.types.is_dictionary(f.type) for f in batch.schema):
        return batch
    arrays = [a.dictionary_decode() if pa.types.is_dictionary(a.type) else a for a in batch.columns]
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


class _Parquet:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        # Account ids are all distinct: a dictionary attempt and min/max statistics on them cost
        # a quarter of the encoding time and buy nothing. Nor do min/max statistics on the
        # per-row labels (profile, ranks, reasons: a few values, all in every row group, so no
        # filter can skip one), which Arrow computes from the dictionary indices of every batch:
        # another quarter. Numbers, as_of, and the constant model and version keep theirs.
        others = [name for name in schema.names if name != "account_id"]
        labels = {
            f.name
            for f in schema
            if pa.types.is_dictionary(f.type) and f.name not in _CONSTANT_COLUMNS
        }
        self._writer = pq.ParquetWriter(
            path,
            schema,
            use_dictionary=others,
            write_statistics=[name for name in others if name not in labels],
        )

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        self._writer.close()


class _Csv:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        plain = pa.schema(
            [
                pa.field(f.name, f.type.value_type if pa.types.is_dictionary(f.type) else f.type)
                for f in schema
            ]
        )
        self._writer = pa_csv.CSVWriter(str(path), plain)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(_plain(batch))

    def close(self) -> None:
        self._writer.close()


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    raise TypeError(f"not JSON: {value!r}")


class _Jsonl:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        del schema
        self._handle = path.open("w", encoding="utf-8")

    def write(self, batch: pa.RecordBatch) -> None:
        dumps = json.JSONEncoder(separators=(",", ":"), default=_json_default).encode
        self._handle.writelines(dumps(row) + "\n" for row in batch.to_pylist())

    def close(self) -> None:
        self._handle.close()


def open_writer(path: Path, fmt: str, schema: pa.Schema) -> BatchWriter:
    writers: dict[str, type[_Parquet] | type[_Csv] | type[_Jsonl]] = {
        "parquet": _Parquet,
        "csv": _Csv,
        "jsonl": _Jsonl,
    }
    return writers[fmt](path, schema)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _replace(temporary: Path, final: Path, overwrite: bool) -> None:
    if final.exists():
        if not overwrite:
            raise FileExistsError(f"{final} exists (use --overwrite)")
        if final.is_dir():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(old)
            temporary.rename(final)
            shutil.rmtree(old, ignore_errors=True)
            return
    os.replace(temporary, final)


class ErrorsFile:
    """The rejected rows, as CSV `file,row,id,reason`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(ERROR_COLUMNS)

    def write(self, errors: list[RowError]) -> None:
        self._writer.writerows((e.file, e.row, e.id, e.reason) for e in errors)

    def append_file(self, part: Path) -> None:
        """Copies another errors file's records (a Dask task's) after the header."""
        with part.open(encoding="utf-8", newline="") as handle:
            next(handle, None)
            shutil.copyfileobj(handle, self._handle)

    def close(self) -> None:
        self._handle.close()


class Output:
    """The job's output: one file (`partitioned` False) or a directory of parts, plus the errors
    file; everything lands under temporary names until `commit`."""

    def __init__(
        self,
        target: Path,
        fmt: str,
        partitioned: bool,
        errors: Path | None = None,
        overwrite: bool = False,
    ) -> None:
        self.target, self.format, self.partitioned = target, fmt, partitioned
        self.overwrite = overwrite
        if target.exists() and not overwrite:
            raise InvalidInputError(
                f"{target} exists (use --overwrite)", [Violation("--output", "exists")]
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        self.staging = _temporary(target)
        if partitioned:
            self.staging.mkdir()
        self.errors_target = errors or (
            target / ERRORS_IN_DIRECTORY
            if partitioned
            else target.with_name(target.name + ".errors.csv")
        )
        self._errors_inside = partitioned and errors is None
        self.errors_staging = (
            self.staging / ERRORS_IN_DIRECTORY
            if self._errors_inside
            else _temporary(self.errors_target)
        )

    def part_path(self, partition: str | None, index: int) -> Path:
        """Where a part is staged: `[date=D/]part-NNNNN.<ext>` inside the staging directory."""
        if not self.partitioned:
            return self.staging
        directory = self.staging / partition if partition else self.staging
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"part-{index:05d}{EXTENSIONS[self.format]}"

    def commit(self) -> None:
        """Errors first, then the results (the results' appearance means the job finished)."""
        if not self._errors_inside:
            _replace(self.errors_staging, self.errors_target, self.overwrite)
        if self.partitioned:
            (self.staging / SUCCESS).write_bytes(b"")
        _replace(self.staging, self.target, self.overwrite)

    def abort(self) -> None:
        for path in (self.staging, self.errors_staging):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def constant_dictionary(value: str, rows: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int8)), pa.array([value]))
