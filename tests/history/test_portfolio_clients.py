"""The SDK (sync and async) and the CLI over PortfolioService, against a real server; the numbers
are checked against the accounts' current health read back with BatchGetAccountHealth."""

from __future__ import annotations

import asyncio
import json

import pytest

from healthscore import cli
from healthscore_client import AsyncHealthScoreClient, HealthScoreClient
from healthscore_client.errors import InvalidArgumentError
from healthscore_client.v1 import health_pb2
from tests.history.conftest import Served, write_accounts

ENGAGEMENT = {"acme": 90, "globex": 20, "initech": 55, "umbrella": 10}


def _current(client: HealthScoreClient) -> dict[str, tuple[str, int | None]]:
    healths = client.batch_get_account_health(list(ENGAGEMENT))
    return {
        h.health.account_id: (
            health_pb2.HealthRank.Name(h.health.rank).removeprefix("HEALTH_RANK_"),
            h.health.score if h.health.HasField("score") else None,
        )
        for h in healths
    }


def test_sync_client_summary_and_drill_down(served: Served) -> None:
    write_accounts(served, ENGAGEMENT, parent="acme")
    with HealthScoreClient(served.address, timeout=20) as client:
        current = _current(client)
        summary = client.summarize_portfolio(order_by="average_score desc")
        assert summary.account_count == 4
        counts = {
            health_pb2.HealthRank.Name(r.rank).removeprefix("HEALTH_RANK_"): r.account_count
            for r in summary.ranks
        }
        assert counts == {
            rank: sum(1 for r, _ in current.values() if r == rank)
            for rank in ("GOOD", "AVERAGE", "POOR", "UNKNOWN")
        }
        scores = [s for _, s in current.values() if s is not None]
        assert summary.score_sum == sum(scores)
        averages = [d.average_score for d in summary.dimensions if d.HasField("average_score")]
        assert averages == sorted(averages, reverse=True)
        children = client.summarize_portfolio(parent="acme")
        assert children.account_count == 3  # acme's children, not acme
        by_score = list(client.list_portfolio_accounts(order_by="score desc", page_size=1))
        expected = sorted(
            (a for a in current if current[a][1] is not None),
            key=lambda a: (-(current[a][1] or 0), a),
        )
        assert [a.name for a in by_score][: len(expected)] == [f"accounts/{a}" for a in expected]
        poor = client.list_portfolio_accounts_page(rank="poor")
        assert sorted(a.name.removeprefix("accounts/") for a in poor.accounts) == sorted(
            a for a, (r, _) in current.items() if r == "POOR"
        )
        with pytest.raises(InvalidArgumentError) as caught:
            client.summarize_portfolio(attributes={"no_such_attribute": ["x"]})
        assert [v.field for v in caught.value.field_violations] == ["filter.attributes[0].name"]


def test_async_client_summary_and_drill_down(served: Served) -> None:
    write_accounts(served, ENGAGEMENT)

    async def flow() -> None:
        async with AsyncHealthScoreClient(served.address, timeout=20) as client:
            summary = await client.summarize_portfolio()
            assert summary.account_count == 4 and summary.day == ""
            names = [a.name async for a in client.list_portfolio_accounts(page_size=3)]
            assert names == [f"accounts/{a}" for a in sorted(ENGAGEMENT)]
            page = await client.list_portfolio_accounts_page(order_by="name desc", page_size=2)
            assert [a.name for a in page.accounts] == ["accounts/umbrella", "accounts/initech"]
            assert page.total_size == 4 and page.next_page_token

    asyncio.run(flow())


def _json(out: str) -> object:
    """The command's JSON document; the in-process server's log lines (structlog's default
    printer, on the same stdout in tests) are dropped."""
    return json.loads("\n".join(line for line in out.splitlines() if not line[:4].isdigit()))


def test_cli_portfolio(
    served: Served, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_accounts(served, ENGAGEMENT, parent="acme")
    server = ["--server", served.address]
    assert cli.main(["portfolio", *server, "--output", "json"]) == 0
    summary = _json(capsys.readouterr().out)
    assert isinstance(summary, dict)
    assert summary["account_count"] == "4"  # int64 in JSON is a string
    assert [r["rank"] for r in summary["ranks"]] == [
        "HEALTH_RANK_GOOD",
        "HEALTH_RANK_AVERAGE",
        "HEALTH_RANK_POOR",
        "HEALTH_RANK_UNKNOWN",
    ]
    listing = ["portfolio", "--accounts", "--parent", "acme", "--order-by", "name desc"]
    assert cli.main([*listing, "--limit", "2", *server, "--output", "json"]) == 0
    listed = _json(capsys.readouterr().out)
    assert isinstance(listed, list)
    assert [a["name"] for a in listed] == [
        "accounts/umbrella",
        "accounts/initech",
    ]
    monkeypatch.setenv("COLUMNS", "160")
    assert cli.main(["portfolio", *server]) == 0
    table = capsys.readouterr().out
    assert "value at risk" in table and "usage" in table and "average score" in table
    assert cli.main(["portfolio", "--order-by", "colour", *server]) == 2
    assert "order_by" in capsys.readouterr().err
