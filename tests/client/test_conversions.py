"""Every client gives the server's answer: the same input sent through the SDK's conversions
(dicts, pandas, Arrow) and the CLI's account files scores exactly as the server scores the raw
protobuf, or fails naming the same field. Nothing is coerced ("82" is no number, "yes" and 1 no
booleans, 1.5 and True no contract value) and only absence, null, NaN and "" are no value (a
string of spaces is a value).

The raw request holds each value as its own kind (int/float: `number_value`, str: `text_value`,
bool: `bool_value`, datetime/date: `time_value`), as grpcurl's JSON would; the one spelling that
differs is ISO 8601 text for a TIME attribute, the JSON form of a timestamp."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from healthscore import cli
from healthscore_client import HealthScoreClient, HealthScoreError, InvalidArgumentError
from healthscore_client.accounts import AccountValueError, text_record, to_value
from healthscore_client.v1 import account_pb2, catalog_pb2, health_pb2
from tests.client.conftest import Live

pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

AS_OF = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
NUMBER, TEXT, ORDINAL, BOOL, TIME = (
    catalog_pb2.ATTRIBUTE_TYPE_NUMBER,
    catalog_pb2.ATTRIBUTE_TYPE_TEXT,
    catalog_pb2.ATTRIBUTE_TYPE_ORDINAL,
    catalog_pb2.ATTRIBUTE_TYPE_BOOL,
    catalog_pb2.ATTRIBUTE_TYPE_TIME,
)
# One attribute of each type; the first three are metrics of the default profile.
ATTRIBUTES = {
    NUMBER: "engagement_score",
    ORDINAL: "usage_frequency",
    TIME: "last_touch",
    TEXT: "journey_stage",
    BOOL: "is_strategic",
}
VALUES: list[Any] = [
    None,
    math.nan,
    math.inf,
    0,
    82,
    82.5,
    True,
    False,
    "",
    " ",
    "82",
    "yes",
    "true",
    "weekly",
    " weekly",
    "hourly",
    "2026-10-30T00:00:00Z",
    "2026-10-30",
    "yesterday",
    dt.datetime(2026, 10, 30, tzinfo=dt.UTC),
    dt.date(2026, 10, 30),
]
CASES = [(kind, raw) for kind in ATTRIBUTES for raw in VALUES]


def _id(case: tuple[int, Any]) -> str:
    kind, raw = case
    return f"{catalog_pb2.AttributeType.Name(kind).removeprefix('ATTRIBUTE_TYPE_')}-{raw!r}"


def raw_value(kind: int, raw: Any) -> account_pb2.Value | None:
    """The value as its own protobuf kind (None: the attribute is absent)."""
    if raw is None:
        return None
    value = account_pb2.Value()
    if isinstance(raw, bool):
        value.bool_value = raw
    elif isinstance(raw, int | float):
        value.number_value = raw
    elif isinstance(raw, dt.datetime):
        value.time_value.FromDatetime(raw)
    elif isinstance(raw, dt.date):
        value.time_value.FromDatetime(dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.UTC))
    elif kind == TIME:
        try:  # the JSON spelling of a timestamp
            instant = dt.datetime.fromisoformat(raw)
        except ValueError:
            value.text_value = raw
        else:
            value.time_value.FromDatetime(
                instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)
            )
    else:
        value.text_value = raw
    return value


Outcome = tuple[str, Any]


def server_outcome(client: HealthScoreClient, kind: int, raw: Any) -> Outcome:
    """What the server makes of the raw protobuf: ("ok", result) or ("error", attribute)."""
    account = account_pb2.Account(id="a")
    value = raw_value(kind, raw)
    if value is not None:
        account.attributes[ATTRIBUTES[kind]].CopyFrom(value)
    try:
        response = client.score_accounts([account], as_of=AS_OF, view="full")
    except InvalidArgumentError as error:
        return "error", [v.field for v in error.field_violations]
    return "ok", response.results[0]


def _attribute_path(kind: int) -> str:
    return f'accounts[0].attributes["{ATTRIBUTES[kind]}"]'


def sdk_outcome(client: HealthScoreClient, accounts: Any, catalog: Any) -> Outcome:
    try:
        response = client.score_accounts(accounts, as_of=AS_OF, view="full", catalog=catalog)
    except (AccountValueError, HealthScoreError) as error:
        fields = (
            [path for path, _ in error.problems]
            if isinstance(error, AccountValueError)
            else [v.field for v in error.field_violations]
        )
        return "error", fields
    return "ok", response.results[0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from healthscore.server import rpc_log
    from healthscore.server.app import App
    from healthscore.server.config import ServerConfig
    from healthscore.server.serve import build_server

    rpc_log.configure_logging()  # the server's log lines on stderr, not in the CLI's stdout
    data_dir = tmp_path_factory.mktemp("data")
    app = App.open(data_dir)
    server, port, _ = build_server(ServerConfig(port=0, data_dir=data_dir), app)
    server.start()
    client = HealthScoreClient(f"127.0.0.1:{port}", timeout=20)
    catalog = client.get_catalog()
    catalog.attributes.add(name="is_strategic", type=BOOL)
    catalog = client.update_catalog(catalog, update_mask=["attributes"])
    client.activate_version(client.publish_draft("multidimensional").name)  # with the BOOL
    yield Live(server, app, port), client, catalog
    client.close()
    server.stop(None)
    app.close()


def _same(expected: Outcome, got: Outcome, column_path: str | None = None) -> None:
    """Both score alike, or both fail naming the attribute (its row path, or for the columnar
    form its column)."""
    assert got[0] == expected[0], (expected, got)
    if expected[0] == "ok":
        assert got[1] == expected[1]
    else:
        names = expected[1]
        assert names, expected
        if column_path is None:
            assert got[1] == names
        else:
            assert len(got[1]) == 1 and got[1][0].startswith(column_path), (got, column_path)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_dicts_score_as_the_server_scores_the_raw_value(setup: Any, case: tuple[int, Any]) -> None:
    _, client, catalog = setup
    kind, raw = case
    expected = server_outcome(client, kind, raw)
    if expected[0] == "error":
        assert expected[1] == [_attribute_path(kind)]
    record = {"id": "a", ATTRIBUTES[kind]: raw}
    _same(expected, sdk_outcome(client, [record], catalog))
    untyped = sdk_outcome(client, [record], None)  # typed by the values alone
    if kind == TIME and isinstance(raw, str):
        # Without a catalog, text is text: the server refuses it for a TIME.
        assert untyped == ("error", [_attribute_path(kind)])
    else:
        _same(expected, untyped)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_arrow_and_pandas_score_as_the_server_scores_the_raw_value(
    setup: Any, case: tuple[int, Any]
) -> None:
    _, client, catalog = setup
    kind, raw = case
    expected = server_outcome(client, kind, raw)
    name = ATTRIBUTES[kind]
    try:
        table = pa.table({"id": ["a"], name: [raw]})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table = None  # Arrow has no column for it (e.g. NaN is a float: no such case here)
    if table is not None:
        _same(expected, sdk_outcome(client, table, catalog), "account_columns.columns[0]")
    frame = pd.DataFrame({"id": ["a"], name: [raw]})
    _same(expected, sdk_outcome(client, frame, catalog), "account_columns.columns[0]")


def cli_score(live: Live, path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    args = ["--as-of", AS_OF.isoformat(), "--output", "json", "--view", "full"]
    code = cli.main(["score", "--accounts", str(path), *args, "--server", live.address])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_the_clis_json_lines_score_as_the_server_scores_the_raw_value(
    setup: Any, case: tuple[int, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live, client, _ = setup
    kind, raw = case
    expected = server_outcome(client, kind, raw)
    name = ATTRIBUTES[kind]
    record = {"id": "a", name: raw.isoformat() if isinstance(raw, dt.date) else raw}
    if isinstance(raw, dt.date):
        expected = server_outcome(client, kind, raw.isoformat())  # JSON has no times: the text
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps(record) + "\n")
    code, out, err = cli_score(live, path, capsys)
    if expected[0] == "ok":
        assert code == 0, err
        result = json_format.ParseDict(json.loads(out)["results"][0], health_pb2.AccountHealth())
        assert result == expected[1]
    else:
        assert code == cli.EXIT_BAD_INPUT, err
        # Refused here (file:line.key) or by the server (its field path).
        assert f"a.jsonl:1.{name}:" in err or f'attributes["{name}"]' in err, err


CONTRACT_VALUES: list[Any] = [None, 0, 150000, 1.0, 1.5, True, "150000", "12.0", "1.5", "x", 2**63]


@pytest.mark.parametrize("raw", CONTRACT_VALUES, ids=repr)
def test_contract_values_are_whole_as_the_servers_json_form_requires(setup: Any, raw: Any) -> None:
    _, client, catalog = setup
    try:
        parsed = json_format.ParseDict({"id": "a", "contractValue": raw}, account_pb2.Account())
    except json_format.ParseError:
        expected: Outcome = ("error", ["accounts[0].contract_value"])
    else:
        response = client.score_accounts([parsed], as_of=AS_OF, view="full")
        expected = ("ok", response.results[0])
    record = {"id": "a", "contract_value": raw}
    _same(expected, sdk_outcome(client, [record], catalog))
    if isinstance(raw, int | float) and not isinstance(raw, bool) and raw != 2**63:
        frame = pd.DataFrame({"id": ["a"], "contract_value": [raw]})
        _same(expected, sdk_outcome(client, frame, catalog), "account_columns.contract_values")
    if isinstance(raw, bool):
        frame = pd.DataFrame({"id": ["a"], "contract_value": [raw]})
        _same(expected, sdk_outcome(client, frame, catalog), "account_columns.contract_values")


@pytest.mark.parametrize(
    ("kind", "cell", "spelt"),
    [
        (NUMBER, "82", 82.0),
        (NUMBER, " 82.5 ", 82.5),
        (NUMBER, "", None),
        (NUMBER, "  ", None),
        (NUMBER, "lots", "lots"),
        (NUMBER, "1_000", "1_000"),
        (BOOL, "true", True),
        (BOOL, "FALSE", False),
        (BOOL, "yes", "yes"),
        (BOOL, "1", "1"),
        (TEXT, " ", " "),
        (TEXT, "", None),
        (ORDINAL, "weekly", "weekly"),
        (ORDINAL, " ", " "),
        (TIME, "2026-10-30", "2026-10-30"),
        (TIME, " ", None),
    ],
)
def test_a_csv_cell_scores_as_the_value_it_spells(
    setup: Any,
    kind: int,
    cell: str,
    spelt: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live, client, _ = setup
    name = ATTRIBUTES[kind]
    assert text_record({name: cell}, {name: kind})[name] == spelt  # a bad one kept as text
    expected = server_outcome(client, kind, spelt)
    path = tmp_path / "a.csv"
    path.write_text(f"id,{name}\na,{cell}\n")
    code, out, err = cli_score(live, path, capsys)
    if expected[0] == "ok":
        assert code == 0, err
        result = json_format.ParseDict(json.loads(out)["results"][0], health_pb2.AccountHealth())
        assert result == expected[1]
    else:
        assert code == cli.EXIT_BAD_INPUT, err
        assert f"a.csv:2.{name}:" in err or f'attributes["{name}"]' in err, err


def test_only_none_is_no_value_of_every_type() -> None:
    assert to_value(" ", TEXT).text_value == " "  # a value, as for the server
    assert to_value(None, BOOL).WhichOneof("kind") is None
    for raw, kind in (("", NUMBER), ("", TIME), (math.nan, TEXT), (math.nan, BOOL)):
        with pytest.raises(ValueError):
            to_value(raw, kind)
