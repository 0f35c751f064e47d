"""The SDK (sync and async) and the CLI over HistoryService, against a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from healthscore import cli
from healthscore_client import AsyncHealthScoreClient, HealthScoreClient
from healthscore_client.errors import InvalidArgumentError, NotFoundError
from tests.history.conftest import Served, write_accounts


def _days(served: Served) -> tuple[dt.date, dt.date]:
    assert served.app.history is not None
    today = served.app.history.today()
    return today - dt.timedelta(days=1), today


def test_sync_client_snapshots_and_trends(served: Served) -> None:
    yesterday, today = _days(served)
    write_accounts(served, {"acme": 90, "globex": 20, "initech": 55}, parent="acme")
    with HealthScoreClient(served.address, timeout=20) as client:
        assert client.create_snapshot(yesterday).account_count == 3
        write_accounts(served, {"globex": 95})
        assert client.create_snapshot().day == today.isoformat()
        assert [s.day for s in client.list_snapshots(page_size=1)] == [
            today.isoformat(),
            yesterday.isoformat(),
        ]
        trend = client.get_health_trend("globex", yesterday, today.isoformat())
        assert trend.account == "accounts/globex"
        assert [p.start_date for p in trend.points] == [yesterday.isoformat(), today.isoformat()]
        assert trend.points[1].score > trend.points[0].score
        assert client.get_health_trend("globex") == trend  # default: 30 days up to today
        children = list(
            client.list_health_trends(
                yesterday, today, parent="acme", granularity="week", page_size=1
            )
        )
        assert [t.account for t in children] == ["accounts/globex", "accounts/initech"]
        named = client.list_health_trends_page(yesterday, today, accounts=["initech", "acme"])
        assert [t.account for t in named.trends] == ["accounts/acme", "accounts/initech"]
        with pytest.raises(InvalidArgumentError) as caught:
            client.get_health_trend("acme", today, yesterday)
        assert [v.field for v in caught.value.field_violations] == ["end_date"]
        with pytest.raises(NotFoundError):
            client.get_health_trend("nobody", yesterday, today)


def test_async_client_snapshots_and_trends(served: Served) -> None:
    yesterday, today = _days(served)
    write_accounts(served, {"acme": 90, "globex": 20}, parent="acme")

    async def flow() -> None:
        async with AsyncHealthScoreClient(served.address, timeout=20) as client:
            snapshot = await client.create_snapshot()
            assert snapshot.account_count == 2
            trend = await client.get_health_trend("acme", yesterday, today, granularity="month")
            assert len(trend.points) == 1 and trend.points[0].days == 1
            listed = [t async for t in client.list_health_trends(yesterday, today, parent="acme")]
            assert [t.account for t in listed] == ["accounts/globex"]
            days = [s.day async for s in client.list_snapshots()]
            assert days == [today.isoformat()]

    asyncio.run(flow())


def test_cli_snapshot_and_trend(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    yesterday, today = _days(served)
    write_accounts(served, {"acme": 90, "globex": 20}, parent="acme")
    server = ["--server", served.address]
    assert cli.main(["snapshot", "--day", yesterday.isoformat(), *server]) == 0
    assert f"snapshots/{yesterday}: 2 account(s)" in capsys.readouterr().out
    # Without a server: from the data directory's account store, in this process.
    local = ["snapshot", "--data-dir", str(served.data_dir), "--output", "json"]
    assert cli.main(local) == 0
    assert json.loads(capsys.readouterr().out) == {"day": today.isoformat(), "account_count": 2}
    assert cli.main(["snapshots", *server, "--output", "json"]) == 0
    assert [s["day"] for s in json.loads(capsys.readouterr().out)] == [
        today.isoformat(),
        yesterday.isoformat(),
    ]
    span = ["--from", yesterday.isoformat(), "--to", today.isoformat()]
    assert cli.main(["trend", "globex", *server, "--output", "json"]) == 0
    (trend,) = json.loads(capsys.readouterr().out)
    assert [p["start_date"] for p in trend["points"]] == [yesterday.isoformat(), today.isoformat()]
    where = ["--parent", "acme", "--where", "engagement_score=20", *span, *server]
    assert cli.main(["trend", *where, "--output", "json"]) == 0
    assert [t["account"] for t in json.loads(capsys.readouterr().out)] == ["accounts/globex"]
    monkeypatch.setenv("COLUMNS", "160")
    assert cli.main(["trend", "globex", "--every", "week", *span, *server]) == 0
    table = capsys.readouterr().out
    assert "health per week" in table and "globex" in table and "engagement" in table
    inverted = ["--from", today.isoformat(), "--to", yesterday.isoformat()]
    assert cli.main(["trend", "acme", *inverted, *server]) == 2
    assert "end_date" in capsys.readouterr().err
    assert cli.main(["trend", "nobody", *span, *server]) == 3


def test_cli_tables_print_ids_and_names_as_they_are(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any text is an account id: one that reads like rich markup is printed as it is."""
    write_accounts(served, {"[bold]acme[/]": 90, "a[/]": 20})
    server = ["--server", served.address]
    assert cli.main(["snapshot", *server]) == 0
    capsys.readouterr()
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.main(["trend", "[bold]acme[/]", "a[/]", *server]) == 0
    table = capsys.readouterr().out
    assert "[bold]acme[/]" in table and "a[/]" in table and "good" in table
    assert cli.main(["portfolio", "--accounts", *server]) == 0
    table = capsys.readouterr().out
    assert "[bold]acme[/]" in table and "a[/]" in table
