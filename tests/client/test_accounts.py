"""AccountService through the SDK (sync and async) against the production server: writes as
dicts and messages, current health after a write and a restart-free read, roles, field
violations, NOT_FOUND, and the client stream."""

from __future__ import annotations

import asyncio
import datetime as dt

import grpc
import pytest

from healthscore_client import (
    AsyncHealthScoreClient,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from healthscore_client.v1 import account_service_pb2, health_pb2
from tests.client.conftest import Live

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
YESTERDAY = NOW - dt.timedelta(days=1)


def test_write_then_read_health_without_sending_the_data_again(live: Live) -> None:
    with live.client() as client:
        catalog = client.get_catalog()
        response = client.write_account_data(
            [
                {"id": "acme", "engagement_score": 82, "usage_frequency": "daily"},
                {"id": "initech", "engagement_score": 5, "observe_time": YESTERDAY},
            ],
            observe_time=YESTERDAY,
            catalog=catalog,
        )
        assert (response.record_count, response.account_count) == (2, 2)
        assert response.ruleset == "models/multidimensional/versions/1"
        acme = client.get_account_health("acme", view="full")
        assert acme.name == "accounts/acme"
        assert acme.health.rank == health_pb2.HEALTH_RANK_GOOD
        assert acme.account.attributes["engagement_score"].number_value == 82.0
        healths = client.batch_get_account_health(["accounts/initech", "acme"])
        assert [h.name for h in healths] == ["accounts/initech", "accounts/acme"]
        assert healths[0].health.rank == health_pb2.HEALTH_RANK_POOR
        # The same records again change nothing.
        client.write_account_data(
            [{"id": "acme", "engagement_score": 82.0, "usage_frequency": "daily"}],
            observe_time=YESTERDAY,
        )
        assert client.get_account_health("acme").health == healths[1].health


def test_bad_records_are_refused_naming_each_field_and_nothing_is_stored(live: Live) -> None:
    with live.client() as client:
        good = account_service_pb2.AccountData(account_id="good")
        good.observe_time.FromDatetime(YESTERDAY)
        good.attributes["engagement_score"].number_value = 50
        bad = account_service_pb2.AccountData(account_id="bad")
        bad.observe_time.FromDatetime(NOW + dt.timedelta(days=2))
        bad.attributes["engagement_score"].text_value = "fifty"
        with pytest.raises(InvalidArgumentError) as caught:
            client.write_account_data([good, bad])
        paths = sorted(v.field for v in caught.value.field_violations)
        assert paths == ['records[1].attributes["engagement_score"]', "records[1].observe_time"]
        with pytest.raises(NotFoundError) as missing:
            client.get_account_health("good")
        assert "accounts/good" in str(missing.value)


def test_a_wrong_wire_type_is_refused_naming_the_field(live: Live) -> None:
    with grpc.insecure_channel(live.address) as channel:
        write = channel.unary_unary("/healthscore.v1.AccountService/WriteAccountData")
        record = account_service_pb2.AccountData(account_id="a").SerializeToString()
        record += b"\x38\x01"  # field 7 (observe_time, a message) as a varint
        request = b"\x0a" + bytes([len(record)]) + record
        with pytest.raises(grpc.RpcError) as caught:
            write(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "records[0].observe_time" in str(caught.value.trailing_metadata())


def test_writes_need_an_editor_and_reads_a_viewer(secured: Live) -> None:
    record = {"id": "acme", "engagement_score": 82.0}
    with secured.client("viewer") as viewer, pytest.raises(PermissionDeniedError):
        viewer.write_account_data([record], observe_time=YESTERDAY)
    with secured.client("editor") as editor:
        editor.write_account_data([record], observe_time=YESTERDAY)
    with secured.client("viewer") as viewer:
        assert viewer.get_account_health("acme").health.score == 100


def test_async_client_streams_batches_and_reads(live: Live) -> None:
    async def batches():
        for i in range(3):
            yield [{"id": f"a{i}-{j}", "engagement_score": 70.0} for j in range(4)]

    async def flow() -> None:
        async with AsyncHealthScoreClient(live.address, timeout=20) as client:
            total = await client.stream_write_account_data(batches(), observe_time=YESTERDAY)
            assert (total.record_count, total.account_count) == (12, 12)
            one = await client.get_account_health("a2-3")
            assert one.health.rank == health_pb2.HEALTH_RANK_GOOD
            many = await client.batch_get_account_health(["a0-0", "a1-1"], view="dimensions")
            assert all(h.health.dimensions for h in many)
            written = await client.write_account_data(
                [{"id": "z", "engagement_score": 1.0}], observe_time=YESTERDAY
            )
            assert written.account_count == 1
            with pytest.raises(NotFoundError):
                await client.batch_get_account_health(["a0-0", "nobody"])

    asyncio.run(flow())


def test_sync_stream_keeps_the_batches_before_a_bad_one(live: Live) -> None:
    def batches():
        yield [{"id": "first", "engagement_score": 70.0}]
        yield [{"id": "second", "engagement_score": 70.0, "observe_time": NOW.replace(year=1960)}]

    with live.client() as client:
        with pytest.raises(InvalidArgumentError):
            client.stream_write_account_data(batches(), observe_time=YESTERDAY)
        assert client.get_account_health("first").health.score == 100
        with pytest.raises(NotFoundError):
            client.get_account_health("second")
