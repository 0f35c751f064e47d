"""ScoringService through the SDK, and accounts given as messages, dicts, Arrow tables and pandas
DataFrames: every form scores the same."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import pytest

from healthscore_client import (
    AsyncHealthScoreClient,
    HealthScoreClient,
    ResourceExhaustedError,
    from_arrow,
    from_dicts,
    from_pandas,
)
from healthscore_client.v1 import account_pb2, catalog_pb2, health_pb2, scoring_pb2
from tests.client.conftest import Live

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

_KEYS = (
    "id",
    "parent_id",
    "status",
    "contract_value",
    "engagement_score",
    "journey_stage",
    "csm_risk",
)
# Every row has every key (None: no value), as a table's rows do.
ROWS = [
    dict.fromkeys(_KEYS) | row
    for row in (
        {"id": "a", "engagement_score": 90.0, "contract_value": 1000, "journey_stage": "adoption"},
        {"id": "b", "engagement_score": 10.0, "contract_value": 2500, "status": "active"},
        {"id": "c", "engagement_score": None, "status": "cancelled"},
        {"id": "d", "engagement_score": 55.5, "csm_risk": "high", "parent_id": "a"},
    )
]


def outcome(response: scoring_pb2.ScoreAccountsResponse) -> list[tuple[str, int, int, str]]:
    return [(r.account_id, r.score, r.rank, r.profile) for r in response.results]


def test_dicts_arrow_and_pandas_score_as_row_messages(client: HealthScoreClient) -> None:
    catalog = client.get_catalog()
    rows = from_dicts(ROWS, catalog)
    expected = outcome(client.score_accounts(rows, view="full"))
    assert expected[0][2] == health_pb2.HEALTH_RANK_GOOD
    assert expected[2][2] == health_pb2.HEALTH_RANK_UNKNOWN  # cancelled

    frame = pd.DataFrame(ROWS)
    table = pa.Table.from_pylist(ROWS)
    for accounts in (ROWS, table, frame, from_arrow(table), from_pandas(frame, catalog)):
        assert outcome(client.score_accounts(accounts, catalog=catalog, view="full")) == expected


def test_from_dicts_types_by_catalog_or_by_python_type() -> None:
    catalog = catalog_pb2.Catalog(
        attributes=[
            catalog_pb2.Attribute(name="n", type=catalog_pb2.ATTRIBUTE_TYPE_NUMBER),
            catalog_pb2.Attribute(name="b", type=catalog_pb2.ATTRIBUTE_TYPE_BOOL),
            catalog_pb2.Attribute(name="t", type=catalog_pb2.ATTRIBUTE_TYPE_TIME),
        ]
    )
    row = {"id": "x", "n": 42, "b": True, "t": "2024-01-02T03:04:05", "other": 1}
    (typed,) = from_dicts([row], catalog)
    assert typed.attributes["n"].number_value == 42
    assert typed.attributes["b"].bool_value is True
    assert typed.attributes["t"].time_value.ToDatetime(dt.UTC) == dt.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC
    )
    assert "other" not in typed.attributes  # not in the catalog: the server would ignore it

    (inferred,) = from_dicts(
        [
            {
                "id": "x",
                "n": 3,
                "b": False,
                "s": "text",
                "d": dt.date(2024, 1, 2),
                "nan": math.nan,
                "history": {"n": [{"time": "2024-01-01", "value": 1.5}]},
            }
        ]
    )
    assert inferred.attributes["n"].number_value == 3
    assert inferred.attributes["b"].WhichOneof("kind") == "bool_value"
    assert inferred.attributes["s"].text_value == "text"
    assert inferred.attributes["d"].time_value.ToDatetime(dt.UTC).day == 2
    assert math.isnan(inferred.attributes["nan"].number_value)  # no value, for the server
    assert inferred.history["n"].points[0].value == 1.5


def test_from_dicts_names_every_bad_field() -> None:
    catalog = catalog_pb2.Catalog(
        attributes=[catalog_pb2.Attribute(name="n", type=catalog_pb2.ATTRIBUTE_TYPE_NUMBER)]
    )
    with pytest.raises(ValueError) as caught:
        from_dicts([{"id": "x", "n": "many"}, {"id": "y", "status": "gone"}], catalog)
    assert 'rows[0].attributes["n"]: expected a number' in str(caught.value)
    assert "rows[1].status: expected active or cancelled" in str(caught.value)


def test_from_arrow_columns_with_nulls_and_types() -> None:
    table = pa.table(
        {
            "id": ["a", "b", "c"],
            "contract_value": pa.array([1, None, 3], pa.int64()),
            "x": pa.array([1.5, None, 3.0]),
            "flag": pa.array([True, None, False]),
            "when": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.UTC), None, None], pa.timestamp("ms", "UTC")
            ),
            "tier": pa.array(["gold", None, "gold"]).dictionary_encode(),
        }
    )
    columns = from_arrow(table)
    assert list(columns.ids) == ["a", "b", "c"]
    assert list(columns.contract_values) == [1, 0, 3]
    assert columns.contract_values_validity == bytes([0b101])
    by_name = {c.attribute: c for c in columns.columns}
    assert list(by_name["x"].numbers.values) == [1.5, 0.0, 3.0]
    assert by_name["x"].validity == bytes([0b101])
    assert list(by_name["flag"].bools.values) == [True, False, False]
    assert by_name["when"].times.unix_nanos[0] == 1_704_067_200 * 10**9
    assert list(by_name["tier"].texts.values) == ["gold", "", "gold"]
    assert by_name["tier"].validity == bytes([0b101])


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"healthscore-client\[pandas\]"):
        from_pandas(object())


def test_score_options_views_other_model_and_as_of(client: HealthScoreClient) -> None:
    accounts = [account_pb2.Account(id="a")]
    accounts[0].attributes["engagement_score"].number_value = 80
    full = client.score_accounts(accounts, view="full", as_of=dt.datetime(2024, 1, 1))
    assert full.results[0].dimensions
    both = client.score_accounts(accounts, include_other_model=True)
    assert both.other_model_ruleset.startswith("models/account-health/")
    assert len(both.other_model_results) == 1
    draft = client.score_accounts(accounts, ruleset="multidimensional")  # a model: its draft
    assert draft.ruleset == "models/multidimensional/draft"


def test_stream_score_accounts_one_response_per_batch(client: HealthScoreClient) -> None:
    batches = [ROWS[:2], pa.Table.from_pylist(ROWS[2:]), [{"id": "e", "engagement_score": 70}]]
    responses = list(client.stream_score_accounts(iter(batches), catalog=client.get_catalog()))
    assert [[r.account_id for r in resp.results] for resp in responses] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]


def test_a_bad_batch_in_a_stream_raises_its_own_error(client: HealthScoreClient) -> None:
    with pytest.raises(ValueError, match=r"accounts\[0\]\.status"):
        list(client.stream_score_accounts([ROWS, [{"id": "x", "status": "gone"}]]))


def test_preview_draft_and_score_hierarchy(client: HealthScoreClient) -> None:
    catalog = client.get_catalog()
    preview = client.preview_draft(ROWS, "multidimensional", catalog=catalog)
    assert preview.ruleset == "models/multidimensional/draft"
    assert preview.baseline_ruleset == "models/multidimensional/versions/1"
    assert preview.preview.account_count == len(ROWS)

    tree = client.score_hierarchy(pd.DataFrame(ROWS), catalog=catalog)
    assert [r.account_id for r in tree.results] == ["a", "b", "c", "d"]
    assert [e.account_id for e in tree.enterprise] == ["a"]


EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "python" / "examples"


def test_the_dataframe_example_scores_a_csv_with_a_time_column(live: Live, tmp_path: Path) -> None:
    # pandas reads the CSV's times as text: a TIME attribute takes ISO 8601 text.
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(
        "id,engagement_score,usage_frequency,last_touch,csm_risk\n"
        "acme,82,daily,2026-10-30T00:00:00Z,none\n"
        "initech,5,inactive,2026-01-02T00:00:00Z,critical\n"
        "blank,,,,\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "score_dataframe.py"),
            str(accounts),
            "--server",
            live.address,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "scored with models/multidimensional/versions/1"
    assert [line.split()[0] for line in lines[1:]] == ["acme", "initech", "blank"]


def test_text_times_in_a_dataframe_are_times() -> None:
    catalog = catalog_pb2.Catalog(
        attributes=[catalog_pb2.Attribute(name="t", type=catalog_pb2.ATTRIBUTE_TYPE_TIME)]
    )
    frame = pd.DataFrame({"id": ["a", "b", "c"], "t": ["2024-01-01T00:00:00Z", None, math.nan]})
    (column,) = from_pandas(frame, catalog).columns
    assert column.times.unix_nanos[0] == 1_704_067_200 * 10**9
    assert column.validity == bytes([0b001])
    # "" is no time (the server refuses text for a TIME), as in a dict.
    with pytest.raises(ValueError, match=r"columns\[0\]\.times\.unix_nanos\[1\]: .* got ''"):
        from_pandas(pd.DataFrame({"id": ["a", "b"], "t": ["2024-01-01", ""]}), catalog)
    with pytest.raises(ValueError, match=r"account_columns\.columns\[0\]\.times\.unix_nanos\[1\]"):
        from_pandas(pd.DataFrame({"id": ["a", "b"], "t": ["2024-01-01", "yesterday"]}), catalog)


def test_a_response_larger_than_grpcs_4_mib_default_arrives(live: Live) -> None:
    # The server sends up to 64 MiB; the client takes as much (gRPC's default is 4 MiB).
    rows = [{"id": f"account-{i:06d}", "engagement_score": float(i % 100)} for i in range(12_000)]
    with live.client() as client:
        response = client.score_accounts(rows, view="full")
    assert response.ByteSize() > 4 * 1024 * 1024
    assert [r.account_id for r in response.results] == [row["id"] for row in rows]

    async def run() -> int:
        async with AsyncHealthScoreClient(live.address, timeout=60) as client:
            return (await client.score_accounts(rows, view="full")).ByteSize()

    assert asyncio.run(run()) == response.ByteSize()
    # The limit is the client's to set.
    with (
        live.client(max_message_bytes=4 * 1024 * 1024) as small,
        pytest.raises(ResourceExhaustedError),
    ):
        small.score_accounts(rows, view="full")
