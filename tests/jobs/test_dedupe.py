"""Duplicate ids: hashes independent of batching, the table, and exactness under collisions."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from healthscore.engine import IdSet
from healthscore.errors import MalformedInputError
from healthscore.jobs import dedupe
from healthscore.jobs.dedupe import DuplicateFinder, id_hashes

pytestmark = pytest.mark.timeout(60)


def test_a_hash_depends_on_the_id_only_not_on_its_batch() -> None:
    ids = ["", "a", "ab", "abcdefgh", "abcdefghi", "é" * 11, "x" * 100, "acct-1"]
    alone = [int(id_hashes(pa.array([i]))[0]) for i in ids]
    together = id_hashes(pa.array(ids)).tolist()
    sliced = id_hashes(pa.array(["pad", *ids]).slice(1)).tolist()
    large = id_hashes(pa.array(ids, pa.large_string())).tolist()
    assert alone == together == sliced == large
    assert len(set(alone)) == len(ids) and 0 not in alone


def test_ids_that_are_not_strings_are_refused_by_name() -> None:
    with pytest.raises(MalformedInputError, match="ids must be strings, not Int64"):
        id_hashes(pa.array([1, 2]))


def test_a_million_distinct_ids_hash_apart() -> None:
    ids = pa.array([f"acct-{i}" for i in range(1_000_000)])
    assert len(np.unique(id_hashes(ids))) == 1_000_000


def test_the_table_grows_and_takes_crowded_keys_without_losing_any() -> None:
    rng = np.random.default_rng(7)
    keys = np.unique(rng.integers(1, 2**64 - 1, 300_000, dtype=np.uint64))
    table = IdSet()
    for part in np.array_split(keys, 7):
        assert not table.add(np.sort(part)).any()
    assert len(table) == len(keys)
    assert table.nbytes >= len(keys) * 8
    assert table.add(keys).all()
    # Keys sharing their top bits share a home slot: each probes past the others.
    crowded = np.arange(1, 40, dtype=np.uint64)
    assert not table.add(crowded).any()
    assert table.add(crowded).all()


def test_duplicates_within_and_across_batches() -> None:
    finder = DuplicateFinder()
    rows = np.arange(1, 6, dtype=np.int64)
    first = finder.check(pa.array(["a", "b", "a", None, ""]), "f1", rows)
    assert first == {2: "duplicate id: first at f1 row 1"}
    second = finder.check(pa.array(["c", "b", "c", "a"]), "f2", rows[:4])
    assert second == {
        1: "duplicate id: first at f1 row 2",
        2: "duplicate id: first at f2 row 1",
        3: "duplicate id: first at f1 row 1",
    }
    finder.close()


def test_hash_collisions_never_make_distinct_ids_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every id hashes alike: only the exact string comparison can tell them apart.
    monkeypatch.setattr(dedupe, "id_hashes", lambda ids: np.full(len(ids), 7, np.uint64))
    finder = DuplicateFinder()
    rows = np.arange(1, 5, dtype=np.int64)
    assert finder.check(pa.array(["a", "b", "a", "c"]), "f", rows) == {
        2: "duplicate id: first at f row 1"
    }
    assert finder.check(pa.array(["c", "d", "b", "d"]), "g", rows) == {
        0: "duplicate id: first at f row 4",
        2: "duplicate id: first at f row 2",
        3: "duplicate id: first at g row 2",
    }
    finder.close()


def test_the_exact_check_reads_ids_spilled_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dedupe, "_SEGMENT_ROWS", 4)
    finder = DuplicateFinder()
    for k in range(5):
        ids = pa.array([f"id-{k}-{i}" for i in range(4)])
        assert finder.check(ids, f"f{k}", np.arange(1, 5, dtype=np.int64)) == {}
    again = finder.check(pa.array(["id-0-3", "new"]), "g", np.arange(1, 3, dtype=np.int64))
    assert again == {0: "duplicate id: first at f0 row 4"}
    finder.close()


def test_ids_in_ascending_order_are_not_hashed_until_the_order_breaks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dedupe, "_SEGMENT_ROWS", 3)
    finder = DuplicateFinder()
    rows = np.arange(1, 4, dtype=np.int64)
    # (length, bytes) order: "9" < "10" < "11", as numeric keys sort.
    assert finder.check(pa.array(["7", "9", "10"]), "f", rows) == {}
    assert finder.check(pa.array(["11", None, "12"]), "g", rows) == {}
    assert len(finder._seen) == 0  # nothing hashed so far
    # Equal to the last id: not ascending; the spill is hashed and the duplicate found.
    assert finder.check(pa.array(["12", "8", "9"]), "h", rows) == {
        0: "duplicate id: first at g row 3",
        2: "duplicate id: first at f row 2",
    }
    assert len(finder._seen) == 6  # 5 spilled, then "8"
    assert finder.check(pa.array(["13", "7"]), "i", rows[:2]) == {
        1: "duplicate id: first at f row 1"
    }
    finder.close()
