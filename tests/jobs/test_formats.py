"""Every input format to every output format; a file, a directory and a glob."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.support import FORMATS, SUFFIX, accounts, expected_scores, read_rows, run, write

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("source_format", FORMATS)
@pytest.mark.parametrize("output_format", FORMATS)
def test_every_format_scores_like_the_core(
    tmp_path: Path, source_format: str, output_format: str
) -> None:
    records = accounts(50)
    source = write(tmp_path / f"in{SUFFIX[source_format]}", records)
    output = tmp_path / f"out{SUFFIX[output_format]}"
    summary = run(source, output)
    assert summary.read == summary.scored == 50 and summary.rejected_rows == 0
    rows = read_rows(output)
    assert [r["account_id"] for r in rows] == [r["id"] for r in records]
    expected = expected_scores(records)
    got = {r["account_id"]: (r["score"], r["rank"], r["usage.score"]) for r in rows}
    assert got == expected
    first = rows[0]
    assert first["model"] == "multidimensional"
    assert first["version"] == "multidimensional/default"
    assert str(first["as_of"]).startswith("2026-11-01")
    assert {"profile", "unknown_reason", "usage.rank", "engagement.score"} <= first.keys()
    assert (tmp_path / f"{output.name}.errors.csv").read_text().strip() == "file,row,id,reason"


def test_a_directory_and_a_glob_read_every_file_in_order(tmp_path: Path) -> None:
    write(tmp_path / "in" / "a.parquet", accounts(10))
    write(tmp_path / "in" / "sub" / "b.csv", accounts(10, start=10))
    write(tmp_path / "in" / "c.jsonl", accounts(10, start=20))
    (tmp_path / "in" / "_SUCCESS").write_text("")  # markers and hidden files are not data
    (tmp_path / "in" / ".partial.csv").write_text("id\nnope\n")
    by_dir = run(tmp_path / "in", tmp_path / "dir.parquet")
    ids = [r["account_id"] for r in read_rows(tmp_path / "dir.parquet")]
    assert by_dir.scored == 30
    assert ids == [f"acct-{i}" for i in range(10)] + [f"acct-{i}" for i in range(20, 30)] + [
        f"acct-{i}" for i in range(10, 20)
    ]  # sorted paths: a.parquet, c.jsonl, sub/b.csv
    by_glob = run(str(tmp_path / "in" / "*.*"), tmp_path / "glob.parquet")
    assert by_glob.scored == 20


def test_an_output_without_suffix_is_a_directory_of_parts(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", accounts(5))
    run(tmp_path / "a.csv", tmp_path / "out", output_format="csv")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "_SUCCESS",
        "_errors.csv",
        "part-00000.csv",
    ]
    assert len(read_rows(tmp_path / "out")) == 5


def test_view_basic_has_no_dimension_columns(tmp_path: Path) -> None:
    from healthscore_client.v1 import scoring_pb2

    write(tmp_path / "a.csv", accounts(3))
    run(tmp_path / "a.csv", tmp_path / "out.parquet", view=scoring_pb2.SCORE_VIEW_BASIC)
    assert not any("." in key for key in read_rows(tmp_path / "out.parquet")[0])


def test_parquet_statistics_where_a_filter_can_use_them(tmp_path: Path) -> None:
    """Numbers, as_of, model and version keep min/max statistics; ids and the per-row labels
    (profile, ranks, reasons) have none (they would cost a quarter of the encoding each)."""
    import pyarrow.parquet as pq

    write(tmp_path / "a.csv", accounts(20))
    run(tmp_path / "a.csv", tmp_path / "out.parquet")
    group = pq.ParquetFile(tmp_path / "out.parquet").metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    with_statistics = {name for name, c in columns.items() if c.is_stats_set}
    assert with_statistics == {
        name
        for name in columns
        if name in ("model", "version", "as_of", "score") or name.endswith(".score")
    }
    assert columns["version"].statistics.min == "multidimensional/default"
