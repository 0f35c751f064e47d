"""`healthscore ingest`: account data from Parquet, CSV or JSON Lines files (local paths, globs,
directories, or object storage URIs) into a data directory's account store, each batch one
durable transaction that also rescores the accounts it touched.

The files have the columns of `rescore`'s input (`id`, `parent_id`, `status`, `contract_value`,
one per catalog attribute) plus `observe_time` (or `--observe-time` for files without it). Values
are read and typed exactly as `rescore` reads them (`sources`, `convert`); a bad row goes to the
errors file and the rest of its batch is stored.

Each batch's records are encoded column by column into the bytes the store keeps (serialized
`AccountData`, see `store/accounts.py`): a NUMBER value's map entry is a fixed prefix and its 8
bytes, so a column's entries are one numpy array; a text, level, flag or time is encoded once per
distinct value and taken by index; the entries of a row are joined by one Arrow kernel. No Python
object per value; one per account only for the id's and the row's bytes in the store's insert.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from healthscore import wire
from healthscore.errors import InvalidInputError, Violation
from healthscore.jobs import convert, sinks, sources
from healthscore.jobs.convert import Schema
from healthscore.jobs.sources import RowError
from healthscore_client.v1 import account_pb2, catalog_pb2, ruleset_pb2

if TYPE_CHECKING:
    from rich.console import Console

    from healthscore.domain.accounts import AccountData

DEFAULT_BATCH_ROWS = 1 << 15
_OBSERVE_TIME = "observe_time"
_PARENT_ID = "parent_id"
_RECORD_PATH = re.compile(r"records\[(\d+)\]")
_URI_SCHEMES = ("s3://", "gs://", "gcs://", "abfs://", "hdfs://", "file://")


def _map_entry(name: str, value: bytes) -> bytes:
    """`Account.attributes` entry (field 5) for `name` with a serialized `Value`."""
    return wire.delimited(5, wire.delimited(1, name.encode()) + wire.delimited(2, value))


def _by_distinct(array: pa.Array, encode: Callable[[Any], bytes]) -> pa.Array:
    """Each value's bytes (`encode(value)`, computed once per distinct value); null stays null."""
    encoded = array.dictionary_encode() if not pa.types.is_dictionary(array.type) else array
    dictionary = pa.array([encode(v) for v in encoded.dictionary.to_pylist()], pa.binary())
    return dictionary.take(encoded.indices)


def _prefixed(tag: int, array: pa.Array) -> pa.Array:
    """Length-delimited fields (`tag`) holding each value of a binary array: the prefix (tag and
    length) taken from one per distinct length, joined to the values by one kernel."""
    lengths = pc.binary_length(array)
    distinct = pc.unique(lengths.filter(pc.is_valid(lengths)))
    prefixes = pa.array(
        [wire.varint(tag) + wire.varint(int(n)) for n in distinct.to_pylist()], pa.binary()
    )
    prefix = prefixes.take(pc.index_in(lengths, distinct))
    return pc.binary_join_element_wise(prefix, array, b"")


def _numbers(name: str, array: pa.Array) -> pa.Array:
    """NUMBER map entries: a fixed prefix and the value's 8 bytes; null and NaN: no entry."""
    prefix = np.frombuffer(_map_entry(name, b"\x09" + bytes(8))[:-8], np.uint8)
    values = array.cast(pa.float64())
    data = values.to_numpy(zero_copy_only=False)
    n = len(data)
    rows = np.empty((n, len(prefix) + 8), np.uint8)
    rows[:, : len(prefix)] = prefix
    rows[:, len(prefix) :] = np.ascontiguousarray(data, "<f8").view(np.uint8).reshape(n, 8)
    valid = pc.and_(pc.is_valid(values), pc.invert(pc.is_nan(values)))
    fixed = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(rows.shape[1]), n, [None, pa.py_buffer(rows)]
    )
    return pc.if_else(valid, fixed.cast(pa.binary()), pa.scalar(None, pa.binary()))


def _timestamp(nanos: int) -> bytes:
    seconds, rest = divmod(nanos, 1_000_000_000)
    stamp = b""
    if seconds:
        stamp += b"\x08" + wire.varint(seconds & 0xFFFFFFFFFFFFFFFF)
    if rest:
        stamp += b"\x10" + wire.varint(rest)
    return stamp


def _column_entries(name: str, kind: int, array: pa.Array) -> pa.Array:
    if kind == catalog_pb2.ATTRIBUTE_TYPE_NUMBER:
        return _numbers(name, array)
    if kind in (catalog_pb2.ATTRIBUTE_TYPE_TEXT, catalog_pb2.ATTRIBUTE_TYPE_ORDINAL):
        return _by_distinct(array, lambda v: _map_entry(name, wire.delimited(2, v.encode())))
    if kind == catalog_pb2.ATTRIBUTE_TYPE_BOOL:
        return _by_distinct(array, lambda v: _map_entry(name, b"\x18\x01" if v else b"\x18\x00"))
    nanos = array.cast(pa.timestamp("ns", "UTC")).cast(pa.int64())
    return _by_distinct(nanos, lambda v: _map_entry(name, wire.delimited(4, _timestamp(v))))


def _status(value: str) -> bytes:
    status = (
        account_pb2.ACCOUNT_STATUS_CANCELLED
        if value == "cancelled"
        else account_pb2.ACCOUNT_STATUS_ACTIVE
        if value == "active"
        else None
    )
    if status is None:
        raise ValueError(value)
    return b"\x18" + wire.varint(status)


@dataclass
class Encoded:
    """A batch's store rows (one per row of the batch) and the rows refused while encoding."""

    rows: list[tuple[str, int, bytes]]
    errors: dict[int, str]


def encode(batch: pa.RecordBatch, schema: Schema) -> Encoded:
    """The store rows of a converted batch (`convert.convert` output with `observe_time` as a
    UTC timestamp), one per row. Rows with no observe time, or a status other than active or
    cancelled, are also in `errors` (not to be stored)."""
    errors: dict[int, str] = {}
    names = batch.schema.names
    ids = batch.column("id")
    parts: list[pa.Array] = [_prefixed(1 << 3 | 2, ids.cast(pa.binary()))]
    if _PARENT_ID in names:
        parent = batch.column(_PARENT_ID).cast(pa.string())
        parent = pc.if_else(pc.equal(parent, ""), pa.scalar(None, pa.string()), parent)
        parts.append(_by_distinct(parent, lambda v: wire.delimited(2, v.encode())))
    if "status" in names:
        status = batch.column("status")
        known = pc.or_(pc.is_null(status), pc.is_in(status, pa.array(["active", "cancelled"])))
        for row in np.flatnonzero(~known.to_numpy(zero_copy_only=False)).tolist():
            errors[row] = f"status: expected active or cancelled, got {status[row].as_py()!r}"
        clean = pc.if_else(known, status, pa.scalar(None, pa.string()))
        parts.append(_by_distinct(clean, _status))
    if "contract_value" in names:
        parts.append(
            _by_distinct(
                batch.column("contract_value"),
                lambda v: b"\x20" + wire.varint(v & 0xFFFFFFFFFFFFFFFF),
            )
        )
    for name, array in zip(names, batch.columns, strict=True):
        kind = schema.kind(name)
        if kind is None or name in ("id", "status", "contract_value", _PARENT_ID, _OBSERVE_TIME):
            continue
        if convert.LOOKBACK.fullmatch(name) and name not in schema.kinds:
            continue  # look-back columns are for scoring files; the store keeps history itself
        parts.append(_column_entries(name, kind, array))
    observe = batch.column(_OBSERVE_TIME).cast(pa.timestamp("us", "UTC")).cast(pa.int64())
    parts.append(_by_distinct(observe, lambda v: wire.delimited(7, _timestamp(v * 1_000))))
    for row in np.flatnonzero(pc.is_null(observe).to_numpy(zero_copy_only=False)).tolist():
        errors[row] = f"{_OBSERVE_TIME}: required (or give --observe-time)"
    bodies = pc.binary_join_element_wise(*parts, b"", null_handling="skip")
    rows = list(
        zip(
            ids.to_pylist(),
            observe.fill_null(0).to_numpy().tolist(),
            bodies.to_pylist(),
            strict=True,
        )
    )
    return Encoded(rows, errors)


@dataclass
class IngestConfig:
    inputs: list[str]
    data_dir: Path
    errors: Path
    input_format: str | None = None
    observe_time: dt.datetime | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS


@dataclass
class IngestSummary:
    ruleset: str = ""
    read: int = 0
    records: int = 0
    values: int = 0
    accounts: int = 0
    rejected: int = 0
    seconds: float = 0.0
    errors_file: Path | None = None
    files: int = 0
    rejected_by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def values_per_second(self) -> float:
        return self.values / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ruleset": self.ruleset,
            "files": self.files,
            "read": self.read,
            "records": self.records,
            "values": self.values,
            "accounts": self.accounts,
            "rejected": self.rejected,
            "rejected_by_kind": self.rejected_by_kind,
            "seconds": round(self.seconds, 3),
            "values_per_second": round(self.values_per_second),
            "errors_file": str(self.errors_file) if self.errors_file else None,
        }


def print_summary(summary: IngestSummary, console: Console) -> None:
    console.print(
        f"ingested {summary.records:,} records ({summary.values:,} attribute values) of "
        f"{summary.accounts:,} accounts from {summary.files} file(s) in {summary.seconds:.2f} s "
        f"({summary.values_per_second:,.0f} values/s); rescored with {summary.ruleset}; "
        f"rejected {summary.rejected:,} rows: {summary.errors_file}"
    )


def _staged(spec: str, stack: ExitStack) -> str:
    """A local path for `spec`: itself, or for an object storage URI (a file or a prefix) a
    temporary copy (pyarrow.fs, streamed), deleted when the job ends."""
    if not spec.startswith(_URI_SCHEMES):
        return spec
    import pyarrow.fs as pafs

    filesystem, path = pafs.FileSystem.from_uri(spec)
    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="healthscore-ingest-")))
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        infos = [info]
        base = str(Path(path).parent)
    elif info.type == pafs.FileType.Directory:
        infos = [
            i
            for i in filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
            if i.type == pafs.FileType.File
        ]
        base = path
    else:
        raise InvalidInputError(
            f"{spec}: not found", [Violation("input", f"{spec}: no such object or prefix")]
        )
    for item in infos:
        target = scratch / Path(item.path).relative_to(base)
        target.parent.mkdir(parents=True, exist_ok=True)
        with filesystem.open_input_stream(item.path) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return str(scratch if info.type == pafs.FileType.Directory else scratch / Path(path).name)


def _chunks(
    files: list[sources.InputFile], schema: Schema, batch_rows: int
) -> Iterator[sources.Chunk]:
    for source in files:
        yield from sources.read(source, schema, batch_rows)


# Where a job's records go (`LocalTarget`, `RemoteTarget`): `write(rows)` stores them (rescoring
# their accounts) and returns how many accounts they touched, the ruleset that rescored them, and
# the rows it refused (by index into `rows`, with the reason).


class LocalTarget:
    """A data directory's account store, in this process."""

    def __init__(self, accounts: AccountData) -> None:
        self._accounts = accounts
        self._scorer = accounts.active()

    def catalog(self) -> catalog_pb2.Catalog:
        return self._scorer.ruleset.catalog

    def write(self, rows: list[tuple[str, int, bytes]]) -> tuple[int, str, dict[int, str]]:
        # Observe times outside the service's window, and values the conversion leaves to the
        # core (undeclared levels, infinities), refuse rows as WriteAccountData refuses them.
        refused = self._accounts.row_problems(rows, self._scorer)
        kept = [r for i, r in enumerate(rows) if i not in refused] if refused else rows
        touched: list[str] = []
        if kept:
            touched, self._scorer = self._accounts.write_rows(kept, self._scorer)
        return len(touched), self._scorer.name, refused


class RemoteTarget:
    """A server, through the SDK (`WriteAccountData`, one call a batch; retried on UNAVAILABLE,
    as writes are idempotent)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def catalog(self) -> catalog_pb2.Catalog:
        catalog: catalog_pb2.Catalog = self._client.get_catalog()
        return catalog

    def write(self, rows: list[tuple[str, int, bytes]]) -> tuple[int, str, dict[int, str]]:
        from healthscore_client import InvalidArgumentError
        from healthscore_client.v1 import account_service_pb2

        refused: dict[int, str] = {}
        index = list(range(len(rows)))
        while index:
            data = b"".join(wire.delimited(1, rows[i][2]) for i in index)
            request = account_service_pb2.WriteAccountDataRequest.FromString(data)
            try:
                response = self._client.write_account_data(request.records)
                return int(response.account_count), str(response.ruleset), refused
            except InvalidArgumentError as error:
                bad: dict[int, str] = {}
                for v in error.field_violations:
                    m = _RECORD_PATH.match(v.field)
                    if m is None:
                        raise
                    row = index[int(m[1])]
                    reason = (
                        f"{v.field.removeprefix(m[0]).lstrip('.') or 'record'}: {v.description}"
                    )
                    convert.add_reason(bad, row, reason)
                if not bad:
                    raise
                refused.update(bad)
                index = [i for i in index if i not in bad]
        return 0, "", refused


def run(
    config: IngestConfig,
    target: LocalTarget | RemoteTarget,
    console: Console | None = None,
    quiet: bool = False,
) -> IngestSummary:
    """Reads every input and writes it to `target`, batch by batch."""
    from healthscore.jobs.rescore import pipelined, progress_for

    started = time.perf_counter()
    schema = Schema(
        {
            **convert.Schema.of(ruleset_pb2.Ruleset(catalog=target.catalog())).kinds,
            _OBSERVE_TIME: catalog_pb2.ATTRIBUTE_TYPE_TIME,
            _PARENT_ID: catalog_pb2.ATTRIBUTE_TYPE_TEXT,
        }
    )
    summary = IngestSummary(errors_file=config.errors)
    with ExitStack() as stack:
        files = [
            f
            for spec in config.inputs
            for f in sources.discover(_staged(spec, stack), config.input_format)
        ]
        sources.check_columns(files)
        summary.files = len(files)
        errors = sinks.ErrorsFile(config.errors)
        stack.callback(errors.close)
        progress = progress_for(console, quiet, "ingest")
        if progress is not None:
            stack.enter_context(progress)
        task = (
            progress.add_task("ingest", total=sources.count_work(files), accounts=0)
            if progress
            else None
        )
        # Reading, converting and encoding run in the pipeline's thread; the store's inserts
        # (SQLite releases the GIL) and the rescoring in this one.
        prepared = (
            (chunk, *_prepare(chunk, schema, config.observe_time))
            for chunk in _chunks(files, schema, config.batch_rows)
        )
        for chunk, rows, positions, refused, values in pipelined(prepared):
            stored, stored_values = len(rows), int(values.sum())
            if rows:
                touched, summary.ruleset, rejected = target.write(rows)
                summary.accounts += touched
                if rejected:
                    refused += [
                        RowError(chunk.file, int(chunk.rows[positions[i]]), rows[i][0], reason)
                        for i, reason in rejected.items()
                    ]
                    refused.sort(key=lambda e: e.row)
                    stored_values -= int(values[list(rejected)].sum())
                    stored -= len(rejected)
            errors.write(refused)
            summary.read += chunk.batch.num_rows + len(chunk.unreadable)
            summary.records += stored
            summary.values += stored_values
            summary.rejected += len(refused)
            for e in refused:
                kind = e.reason.split(":", 1)[0]
                summary.rejected_by_kind[kind] = summary.rejected_by_kind.get(kind, 0) + 1
            if progress is not None and task is not None:
                progress.update(task, advance=chunk.work, accounts=summary.read)
    summary.seconds = time.perf_counter() - started
    return summary


def _prepare(
    chunk: sources.Chunk, schema: Schema, observe_time: dt.datetime | None
) -> tuple[list[tuple[str, int, bytes]], list[int], list[RowError], npt.NDArray[np.int64]]:
    """A chunk's store rows, each one's position in the chunk, its refused rows, and how many
    attribute values each row carries."""
    converted = convert.convert(chunk.batch, schema)
    batch = converted.batch
    stamp = pa.timestamp("us", "UTC")
    if _OBSERVE_TIME in batch.schema.names:
        column = batch.column(_OBSERVE_TIME).cast(stamp)
    else:
        column = pa.nulls(batch.num_rows, stamp)
    if observe_time is not None:
        column = column.fill_null(pa.scalar(observe_time, stamp))
    batch = _with_column(batch, _OBSERVE_TIME, column)
    encoded = encode(batch, schema)
    reasons = dict(chunk.bad)
    for found in (converted.errors, encoded.errors):
        for row, reason in found.items():
            convert.add_reason(reasons, row, reason)
    refused = list(chunk.unreadable)
    rows = encoded.rows
    positions = list(range(len(rows)))
    if reasons:
        ids = batch.column("id").to_pylist()
        refused += [
            RowError(chunk.file, int(chunk.rows[row]), ids[row] or "", reason)
            for row, reason in sorted(reasons.items())
        ]
        positions = [row for row in positions if row not in reasons]
        rows = [rows[row] for row in positions]
    return rows, positions, refused, _values_per_row(batch, schema)[positions]


def _values_per_row(batch: pa.RecordBatch, schema: Schema) -> npt.NDArray[np.int64]:
    """Each row's attribute values (non-null catalog attribute cells)."""
    counts = np.zeros(batch.num_rows, np.int64)
    for name, array in zip(batch.schema.names, batch.columns, strict=True):
        kind = schema.kind(name)
        if kind is None or kind < 0 or name in (_OBSERVE_TIME, _PARENT_ID):
            continue
        counts += pc.is_valid(array).to_numpy(zero_copy_only=False) if array.null_count else 1
    return counts


def _with_column(batch: pa.RecordBatch, name: str, column: pa.Array) -> pa.RecordBatch:
    names = [n for n in batch.schema.names if n != name]
    arrays = [batch.column(n) for n in names]
    return pa.RecordBatch.from_arrays([*arrays, column], names=[*names, name])
