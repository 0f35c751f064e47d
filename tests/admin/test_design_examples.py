"""examples/profiles/*.yaml: each imports cleanly into a fresh server with `healthscore profiles
import`, validates there, and scores accounts as the seeds describe (the onboarding profiles'
precedence and AND/OR columns; the five-metric scorecard; the CSM-risk rules)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from healthscore import cli
from healthscore.server import rpc_log
from healthscore_client.v1 import account_pb2, health_pb2, scoring_pb2
from tests.e2e.conftest import Server, start_server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "profiles"
AS_OF = "2026-11-01T00:00:00Z"
G, A, P, U = (
    health_pb2.HEALTH_RANK_GOOD,
    health_pb2.HEALTH_RANK_AVERAGE,
    health_pb2.HEALTH_RANK_POOR,
    health_pb2.HEALTH_RANK_UNKNOWN,
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    rpc_log.configure_logging()
    served = start_server(tmp_path / "data")
    yield served
    served.stop()


def imported(server: Server, capsys: pytest.CaptureFixture[str], name: str) -> str:
    """Imports an example; returns its model's draft name."""
    address = ["--server", f"127.0.0.1:{server.port}", "--timeout", "10"]
    path = EXAMPLES / name
    assert cli.main(["profiles", "validate", str(path)]) == 0
    assert cli.main(["profiles", "import", str(path), *address]) == 0
    model = path.read_text().split("\nmodel: ", 1)[1].split("\n", 1)[0]
    assert cli.main(["profiles", "validate", "--model", model, *address]) == 0
    capsys.readouterr()
    return f"models/{model}/draft"


def score(server: Server, ruleset: str, **accounts: dict[str, object]) -> dict[str, object]:
    request = scoring_pb2.ScoreAccountsRequest(ruleset=ruleset, view=scoring_pb2.SCORE_VIEW_FULL)
    request.as_of.FromJsonString(AS_OF)
    for account_id, values in accounts.items():
        account = request.accounts.add(id=account_id)
        for key, value in values.items():
            if key == "status":
                account.status = value  # type: ignore[assignment]
            elif key.startswith("days_ago:"):
                account.attributes[key.split(":")[1]].time_value.FromJsonString(str(value))
            elif isinstance(value, str):
                account.attributes[key].text_value = value
            else:
                account.attributes[key].number_value = float(value)  # type: ignore[arg-type]
    response = server.scoring.ScoreAccounts(request)
    return {r.account_id: r for r in response.results}


def test_every_example_imports_cleanly_one_after_another(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        imported(server, capsys, path.name)


ONBOARDING = {"journey_stage": "onboarding", "onboarding_program": "project"}
ON_TRACK = {"days_in_stage": 20, "days_ago:last_touch": "2026-10-29T00:00:00Z"}


def test_onboarding_profiles_precedence_and_columns(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = imported(server, capsys, "account-health-onboarding.yaml")
    results = score(
        server,
        draft,
        good={**ONBOARDING, **ON_TRACK, "project_status": "on track"},
        no_status={**ONBOARDING, **ON_TRACK},  # "does not exist or is not delayed"
        delayed={**ONBOARDING, **ON_TRACK, "project_status": "delayed"},
        slow={**ONBOARDING, **ON_TRACK, "days_in_stage": 35},  # neither < 30 nor > 45
        at_risk={**ONBOARDING, **ON_TRACK, "risk_status": "at risk"},
        untouched={
            **ONBOARDING,
            "days_in_stage": 20,
            "days_ago:last_touch": "2026-10-01T00:00:00Z",
        },
        digital={"journey_stage": "onboarding", "days_in_stage": 10, "usage_frequency": "daily"},
        company={"account_type": "Company", "usage_frequency": "weekly", "csm_risk": "high"},
        partner={"account_type": "Partner"},
        cancelled={**ONBOARDING, **ON_TRACK, "status": account_pb2.ACCOUNT_STATUS_CANCELLED},
    )
    expected = {
        "good": ("high-touch-onboarding", G),
        "no_status": ("high-touch-onboarding", G),
        "delayed": ("high-touch-onboarding", P),
        "slow": ("high-touch-onboarding", A),
        "at_risk": ("high-touch-onboarding", P),
        "untouched": ("high-touch-onboarding", P),
        "digital": ("digital-onboarding", G),
        "company": ("default", P),
        "partner": ("", U),
        "cancelled": ("", U),
    }
    assert {k: (r.profile, r.rank) for k, r in results.items()} == expected  # type: ignore[attr-defined]


GOOD_CARD = {
    "usage_frequency": "weekly",
    "engagement_score": 61,
    "license_utilization": 50,
    "active_clients": 3,
    "invoices_per_month": 15,
}
POOR_CARD = {
    "usage_frequency": "inactive",
    "engagement_score": 9,
    "license_utilization": 19,
    "active_clients": 1,
    "invoices_per_month": 3,
}


def test_the_five_metric_scorecard_and_the_csm_risk_rules(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = imported(server, capsys, "multidimensional-scorecard.yaml")
    results = score(
        server,
        draft,
        good=GOOD_CARD,
        poor=POOR_CARD,
        high_touch={**GOOD_CARD, "touch_model": "high"},
        no_risk={**GOOD_CARD, "touch_model": "high", "csm_risk": "none"},
        high_risk={**GOOD_CARD, "touch_model": "high", "csm_risk": "high"},
        engagement_60={**GOOD_CARD, "touch_model": "high", "engagement_score": 60},
    )
    summary = {k: (r.profile, r.score, r.rank) for k, r in results.items()}  # type: ignore[attr-defined]
    assert summary["good"] == ("scorecard", 100, G)
    assert summary["poor"] == ("scorecard", 0, P)
    # No rating at all counts as no risk: good.
    assert summary["high_touch"] == summary["no_risk"] == ("high-touch", 100, G)
    # A high CSM risk makes the sentiment dimension (weight 20) poor: 80.
    assert summary["high_risk"] == ("high-touch", 80, G)
    sentiment = {d.dimension: d for d in results["high_risk"].dimensions}["sentiment"]  # type: ignore[attr-defined]
    assert (sentiment.score, sentiment.rank) == (0, P)
    # High-touch good needs engagement > 60: 60 is average (60), usage (60+100)/2 = 80; 80x30 +
    # 100x70 = 94.
    assert summary["engagement_60"] == ("high-touch", 94, G)
