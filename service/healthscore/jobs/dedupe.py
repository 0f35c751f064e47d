"""Duplicate account ids across batches and files: the first occurrence wins.

Memory: a set of ten million strings would cost a gigabyte of Python objects. Instead each id is
hashed to 64 bits and the hashes live in a table of uint64 (the core's `IdSet`, one call per batch
for the hashes and one for the table: 8 bytes a slot, at most 3/4 full: 134 MB for 10 M ids).
A hash already in the table only makes a row a *candidate*: the exact check compares the id strings.
For that, every claimed id is also appended, with its hash, file and row, to a spill of Arrow IPC
segments on disk (page cache, not the process's heap); a candidate's hash is looked up there and
the strings compared, so a 64-bit collision (about 3 in a million for 10 M ids) never rejects a good
row.
Without duplicates the spill is written but never read.

Sorted inputs cost almost nothing: while every id so far is in strictly ascending (length, bytes)
order (numeric keys exported in order are), no id can repeat an earlier one, so ids are only
compared with their neighbours and spilled without hashes; the first batch out of order hashes
the spill into the table, and the job goes on as above.

Rules: rows are taken in input order; the first row carrying an id claims it, even if that row is
rejected for another reason; rows without an id (null or "") claim nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from healthscore import engine

U64 = npt.NDArray[np.uint64]
_SEGMENT_ROWS = 1 << 20


def id_lengths(ids: pa.Array) -> npt.NDArray[np.int32]:
    """Byte lengths of a Utf8 array's values, from its offsets (nulls: 0)."""
    offsets = np.frombuffer(ids.buffers()[1], np.int32, len(ids) + 1, ids.offset * 4)
    return np.diff(offsets)


def id_hashes(ids: pa.Array) -> U64:
    """64-bit hashes of a string array's values (nulls hash like ""), never 0 (the empty slot);
    a value's hash does not depend on its batch."""
    return engine.id_hashes(ids)


@dataclass(frozen=True)
class FirstSeen:
    file: str
    row: int


_SPILL_SCHEMA = pa.schema(
    [("hash", pa.uint64()), ("id", pa.string()), ("file", pa.int32()), ("row", pa.int64())]
)


class _Spill:
    """Every claimed id with its hash, file (a number: names are kept once, here) and row, in
    Arrow IPC segments on disk."""

    def __init__(self, directory: Path | None) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix=".healthscore-ids-", dir=directory))
        self._segments: list[Path] = []
        self._open: list[pa.RecordBatch] = []
        self._open_rows = 0
        self._files: list[str] = []
        self._file_numbers: dict[str, int] = {}

    def append(self, hashes: U64, ids: pa.Array, file: str, rows: npt.NDArray[np.int64]) -> None:
        if not len(hashes):
            return
        if file not in self._file_numbers:
            self._file_numbers[file] = len(self._files)
            self._files.append(file)
        files = pa.array(np.full(len(hashes), self._file_numbers[file], np.int32))
        self._open.append(
            pa.RecordBatch.from_arrays(
                [pa.array(hashes), ids, files, pa.array(rows)], schema=_SPILL_SCHEMA
            )
        )
        self._open_rows += len(hashes)
        if self._open_rows >= _SEGMENT_ROWS:
            path = self._dir / f"{len(self._segments):06d}.arrow"
            with pa.ipc.new_file(path, _SPILL_SCHEMA) as writer:
                for batch in self._open:
                    writer.write_batch(batch)
            self._segments.append(path)
            self._open, self._open_rows = [], 0

    def lookup(self, hashes: U64) -> dict[int, list[tuple[str, FirstSeen]]]:
        """Every spilled (id, first seen) whose hash is one of `hashes`."""
        wanted = pa.array(hashes)
        found: dict[int, list[tuple[str, FirstSeen]]] = defaultdict(list)

        def scan(batch: pa.RecordBatch) -> None:
            hit = pc.is_in(batch.column("hash"), value_set=wanted)
            for h, i, f, r in zip(*batch.filter(hit).to_pydict().values(), strict=True):
                found[h].append((i, FirstSeen(self._files[f], r)))

        for path in self._segments:
            with pa.memory_map(str(path)) as source:
                reader = pa.ipc.open_file(source)
                for k in range(reader.num_record_batches):
                    scan(reader.get_batch(k))
        for batch in self._open:
            scan(batch)
        return found

    def rehash(self) -> Iterator[U64]:
        """Fills in the hashes of ids spilled without them; yields each segment's hashes."""
        for path in self._segments:
            with pa.OSFile(str(path)) as source:  # read into memory: the file is rewritten
                table = pa.ipc.open_file(source).read_all()
            hashed = self._hashed(table.combine_chunks().to_batches()[0])
            with pa.ipc.new_file(path, _SPILL_SCHEMA) as writer:
                writer.write_batch(hashed)
            yield hashed.column("hash").to_numpy()
        self._open = [self._hashed(batch) for batch in self._open]
        for batch in self._open:
            yield batch.column("hash").to_numpy()

    @staticmethod
    def _hashed(batch: pa.RecordBatch) -> pa.RecordBatch:
        hashes = pa.array(id_hashes(batch.column("id")))
        return batch.set_column(0, "hash", hashes)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


class DuplicateFinder:
    """Feeds on the ids of successive batches; names the rows whose id came before."""

    def __init__(self, spill_dir: Path | None = None, expected: int = 0) -> None:
        self._seen = engine.IdSet(expected)  # keys go in sorted: the table is visited in order
        self._spill = _Spill(spill_dir)
        # While every id so far is in strictly ascending (length, bytes) order, as exports
        # sorted by a key often are, no id can repeat an earlier one: nothing is hashed, the
        # spill keeps the ids alone. The first batch out of order hashes the spill into the table.
        self._ascending = True
        self._last: tuple[int, bytes] | None = None

    @property
    def nbytes(self) -> int:
        return self._seen.nbytes

    def check(self, ids: pa.Array, file: str, rows: npt.NDArray[np.int64]) -> dict[int, str]:
        """Row index in the batch → reason, for every row whose id an earlier row claimed;
        claims the ids of the others. `ids` is Utf8; nulls and "" are skipped."""
        if not pa.types.is_string(ids.type):
            ids = ids.cast(pa.string())
        present = id_lengths(ids) > 0  # a null's length is 0 too
        if present.all():
            index = np.arange(len(ids))
        else:
            index = np.flatnonzero(present)
            if not len(index):
                return {}
            ids = ids.take(pa.array(index))
        if self._ascending:
            if self._continues_ascending(ids):
                self._spill.append(np.zeros(len(ids), np.uint64), ids, file, rows[index])
                return {}
            self._ascending = False
            for hashes in self._spill.rehash():
                self._seen.add(np.sort(hashes))  # distinct ids: distinct hashes, or collisions
        hashes = id_hashes(ids)
        duplicates: dict[int, str] = {}
        claimed = np.ones(len(hashes), bool)
        # One row per hash goes to the table; a sort shows whether the batch repeats a hash.
        sorted_hashes = np.sort(hashes)
        if (sorted_hashes[1:] == sorted_hashes[:-1]).any():
            representative = self._within_batch(ids, hashes, file, rows[index], duplicates)
            claimed[list(duplicates)] = False
            keys = np.sort(hashes[representative])
        else:
            keys = sorted_hashes
        found = self._seen.add(keys)
        if found.any():
            known = np.isin(hashes, keys[found])
            candidate = np.flatnonzero(known & claimed)
            # The hash came before: compare the strings with every earlier id of that hash.
            earlier = self._spill.lookup(np.unique(hashes[candidate]))
            for p in candidate.tolist():
                text = ids[p].as_py()
                for other, where in earlier.get(int(hashes[p]), []):
                    if other == text:
                        duplicates[p] = f"duplicate id: first at {where.file} row {where.row}"
                        claimed[p] = False
                        break
        if claimed.all():
            self._spill.append(hashes, ids, file, rows[index])
        else:
            keep = np.flatnonzero(claimed)
            self._spill.append(hashes[keep], ids.take(pa.array(keep)), file, rows[index[keep]])
        return {int(index[p]): reason for p, reason in duplicates.items()}

    def _continues_ascending(self, ids: pa.Array) -> bool:
        """Whether the ids are strictly ascending by (length, bytes), after the last ones."""
        lengths = id_lengths(ids)
        if len(ids) > 1:
            shorter = lengths[:-1] < lengths[1:]
            same = lengths[:-1] == lengths[1:]
            less = pc.less(ids.slice(0, len(ids) - 1), ids.slice(1)).to_numpy(zero_copy_only=False)
            if not (shorter | (same & less)).all():
                return False
        first, last = ids[0].as_py().encode(), ids[len(ids) - 1].as_py().encode()
        if self._last is not None and (len(first), first) <= self._last:
            return False
        self._last = (len(last), last)
        return True

    @staticmethod
    def _within_batch(
        ids: pa.Array,
        hashes: U64,
        file: str,
        rows: npt.NDArray[np.int64],
        duplicates: dict[int, str],
    ) -> npt.NDArray[np.intp]:
        """Marks rows whose id an earlier row of the batch has; returns the first row of each
        distinct hash (the rows the table sees)."""
        order = np.argsort(hashes, kind="stable")  # within a hash, rows stay in input order
        sorted_h = hashes[order]
        starts = np.r_[True, sorted_h[1:] != sorted_h[:-1]]
        group_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))]
        later, first = order[~starts], group_first[~starts]
        same = pc.equal(ids.take(pa.array(later)), ids.take(pa.array(first)))
        equal = same.to_numpy(zero_copy_only=False)
        for p, f in zip(later[equal].tolist(), first[equal].tolist(), strict=True):
            duplicates[p] = f"duplicate id: first at {file} row {int(rows[f])}"
        # A 64-bit collision inside the batch: the earliest row with the same string, if any.
        for p in later[~equal].tolist():
            text = ids[p].as_py()
            for q in np.flatnonzero(hashes == hashes[p]).tolist():
                if q < p and q not in duplicates and ids[q].as_py() == text:
                    duplicates[p] = f"duplicate id: first at {file} row {int(rows[q])}"
                    break
        return np.sort(order[starts])

    def close(self) -> None:
        self._spill.close()
