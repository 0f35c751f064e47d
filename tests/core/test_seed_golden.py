"""Every worked example and rule of the seed documents (/work/shared/seeds), as named tests.

Scoring examples run on BOTH the reference and the engine (parameter `impl`); validation rules
(the reference does not validate) run on the engine only.
"""

from __future__ import annotations

import pytest

from healthscore_client.v1 import enterprise_pb2, health_pb2, ruleset_pb2, scoring_pb2
from tests.core import support
from tests.core.builders import (
    AH,
    BOOL,
    MD,
    NAN,
    NUMBER,
    ORDINAL,
    TEXT,
    TIME,
    O,
    account,
    ago,
    all_,
    any_,
    attr,
    catalog,
    category,
    days,
    metric,
    not_,
    pred,
    profile,
    request,
    ruleset,
    when,
)

H = health_pb2
GOOD, AVERAGE, POOR, UNKNOWN = (
    H.HEALTH_RANK_GOOD,
    H.HEALTH_RANK_AVERAGE,
    H.HEALTH_RANK_POOR,
    H.HEALTH_RANK_UNKNOWN,
)
FULL = scoring_pb2.SCORE_VIEW_FULL
DIMS = scoring_pb2.SCORE_VIEW_DIMENSIONS
POOR_HELD = H.REASON_KIND_POOR_CRITERION_HELD
GOOD_FAILED = H.REASON_KIND_GOOD_CRITERION_FAILED


@pytest.fixture(params=["reference", "engine"])
def impl(request):
    return request.param


def by_id(response):
    return {r.account_id: r for r in response.results}


def health(**fields) -> H.AccountHealth:
    return H.AccountHealth(**fields)


# ---------------------------------------------------------------------------------------------
# Multidimensional: weight redistribution (seed 001: 60/20/20, Metric3 ignored -> 75/25)
# ---------------------------------------------------------------------------------------------


def _sixty_twenty_twenty(ignore_missing: bool):
    cat = catalog(
        attr("m1", NUMBER, "usage"),
        attr("m2", NUMBER, "usage"),
        attr("m3", NUMBER, "usage"),
        dimensions=["usage"],
    )
    metrics = [
        metric(
            name,
            w,
            pred(name, O.OPERATOR_GREATER_THAN_OR_EQUAL, 50),
            pred(name, O.OPERATOR_LESS_THAN, 10),
        )
        for name, w in (("m1", 60), ("m2", 20), ("m3", 20))
    ]
    p = profile("default", dimensions=[("usage", 100)], metrics=metrics)
    return ruleset(MD, cat, p, ignore_missing=ignore_missing)


def test_redistribution_60_20_20_becomes_75_25(impl):
    rules = _sixty_twenty_twenty(ignore_missing=True)
    req = request(account("a", m1=80, m2=5), view=FULL)  # m3 has no value
    expected = health(
        account_id="a",
        model=MD,
        ruleset_version="v-test",
        profile="default",
        score=75,  # round((100*75 + 0*25) / 100)
        rank=GOOD,
        dimensions=[
            H.DimensionHealth(
                dimension="usage",
                score=75,
                rank=GOOD,
                effective_weight=100,
                metrics=[
                    H.MetricHealth(
                        attribute="m1",
                        outcome=H.METRIC_OUTCOME_GOOD,
                        score=100,
                        effective_weight=75,
                    ),
                    H.MetricHealth(
                        attribute="m2", outcome=H.METRIC_OUTCOME_POOR, score=0, effective_weight=25
                    ),
                    H.MetricHealth(
                        attribute="m3", outcome=H.METRIC_OUTCOME_IGNORED, effective_weight=0
                    ),
                ],
            )
        ],
        reasons=[
            H.Reason(kind=POOR_HELD, criterion="profiles[0].metrics[1].poor", subject="m2"),
            H.Reason(kind=GOOD_FAILED, criterion="profiles[0].metrics[1].good", subject="m2"),
        ],
    )
    support.assert_same(
        expected, support.run(impl, rules, req).results[0], names=("expected", impl)
    )


def test_without_ignore_missing_no_value_scores_60(impl):
    rules = _sixty_twenty_twenty(ignore_missing=False)
    result = support.run(impl, rules, request(account("a", m1=80, m2=5), view=FULL)).results[0]
    assert result.score == 72  # (100*60 + 0*20 + 60*20) / 100
    metrics = result.dimensions[0].metrics
    assert [m.outcome for m in metrics] == [
        H.METRIC_OUTCOME_GOOD,
        H.METRIC_OUTCOME_POOR,
        H.METRIC_OUTCOME_AVERAGE,
    ]
    assert [m.effective_weight for m in metrics] == [60, 20, 20]
    assert metrics[2].score == 60
    assert [r.criterion for r in result.reasons] == [
        "profiles[0].metrics[1].poor",
        "profiles[0].metrics[1].good",
        "profiles[0].metrics[2].good",
    ]


def test_ignored_dimension_weight_is_redistributed(impl):
    cat = catalog(
        attr("u", NUMBER, "usage"),
        attr("s", NUMBER, "support"),
        attr("f", NUMBER, "financial"),
        dimensions=["usage", "support", "financial"],
    )
    metrics = [
        metric(
            n, 100, pred(n, O.OPERATOR_GREATER_THAN_OR_EQUAL, 50), pred(n, O.OPERATOR_LESS_THAN, 10)
        )
        for n in ("u", "s", "f")
    ]
    p = profile(
        "p", dimensions=[("usage", 60), ("support", 20), ("financial", 20)], metrics=metrics
    )
    rules = ruleset(MD, cat, p, ignore_missing=True)
    result = support.run(impl, rules, request(account("a", u=80, s=20), view=DIMS)).results[0]
    dims = {d.dimension: d for d in result.dimensions}
    assert [d.dimension for d in result.dimensions] == ["usage", "support", "financial"]
    assert (dims["usage"].effective_weight, dims["support"].effective_weight) == (75, 25)
    assert dims["financial"].ignored and dims["financial"].effective_weight == 0
    assert not dims["financial"].HasField("score") and dims["financial"].rank == UNKNOWN
    assert result.score == 90  # (100*75 + 60*25) / 100
    assert not result.dimensions[0].metrics  # DIMENSIONS view: no metrics


def test_every_dimension_ignored_is_unknown_no_data(impl):
    rules = _sixty_twenty_twenty(ignore_missing=True)
    result = support.run(impl, rules, request(account("a", m1=NAN), view=FULL)).results[0]
    assert result.rank == UNKNOWN and result.unknown_reason == H.UNKNOWN_REASON_NO_DATA
    assert result.profile == "default" and not result.HasField("score")
    assert len(result.dimensions) == 1 and result.dimensions[0].ignored
    assert [m.outcome for m in result.dimensions[0].metrics] == [H.METRIC_OUTCOME_IGNORED] * 3
    assert list(result.reasons) == []


# ---------------------------------------------------------------------------------------------
# Account Health: the high-touch onboarding profile (seed 000)
# ---------------------------------------------------------------------------------------------

BLOCKED = {"delayed", "blocked"}
AT_RISK = {"at risk", "plan in place"}


def _high_touch_onboarding():
    cat = catalog(
        attr("journey_stage", TEXT),
        attr("onboarding_program", TEXT),
        attr("days_in_onboarding", NUMBER),
        attr("project_status", TEXT),
        attr("risk_status", TEXT),
        attr("last_touch", TIME),
    )
    onboarding = category(
        "Onboarding",
        good=[
            pred("days_in_onboarding", O.OPERATOR_LESS_THAN, 30),
            any_(
                pred("project_status", O.OPERATOR_IS_EMPTY),
                pred("project_status", O.OPERATOR_NOT_IN, BLOCKED),
            ),
        ],
        poor=[
            pred("days_in_onboarding", O.OPERATOR_GREATER_THAN, 45),
            pred("project_status", O.OPERATOR_IN, BLOCKED),
        ],
    )
    risk = category(
        "Risk",
        good=[
            any_(
                pred("risk_status", O.OPERATOR_IS_EMPTY),
                pred("risk_status", O.OPERATOR_NOT_IN, AT_RISK),
            )
        ],
        poor=[pred("risk_status", O.OPERATOR_IN, AT_RISK)],
    )
    work = category(
        "Work",
        good=[pred("last_touch", O.OPERATOR_WITHIN_LAST_DAYS, days(7))],
        poor=[pred("last_touch", O.OPERATOR_MORE_THAN_DAYS_AGO, days(14))],
    )
    segment = all_(
        pred("journey_stage", O.OPERATOR_EQUAL, "onboarding"),
        pred("onboarding_program", O.OPERATOR_EQUAL, "project"),
    )
    return ruleset(
        AH, cat, profile("high-touch-onboarding", segment, categories=[onboarding, risk, work])
    )


def _onboarding_account(account_id, **values):
    return account(account_id, journey_stage="onboarding", onboarding_program="project", **values)


HIGH_TOUCH_CASES = {
    # id: (values, account rank, [Onboarding, Risk, Work])
    "all-good": (dict(days_in_onboarding=10, last_touch=when(ago(2))), GOOD, [GOOD, GOOD, GOOD]),
    "middling": (
        dict(
            days_in_onboarding=35,
            project_status="on track",
            risk_status="recovering",
            last_touch=when(ago(10)),
        ),
        AVERAGE,
        [AVERAGE, GOOD, AVERAGE],
    ),
    "blocked-and-at-risk": (
        dict(
            days_in_onboarding=20,
            project_status="blocked",
            risk_status="at risk",
            last_touch=when(ago(7)),
        ),
        POOR,
        [POOR, POOR, GOOD],
    ),
    "boundaries-not-crossed": (
        dict(
            days_in_onboarding=45,
            project_status="",
            risk_status="resolved",
            last_touch=when(ago(14)),
        ),
        AVERAGE,
        [AVERAGE, GOOD, AVERAGE],
    ),
    "just-past-boundaries": (
        dict(
            days_in_onboarding=45.000001, risk_status="plan in place", last_touch=when(ago(14, 1))
        ),
        POOR,
        [POOR, POOR, POOR],
    ),
    "touch-7-days-and-1ns-ago": (
        dict(days_in_onboarding=29.99, project_status="on track", last_touch=when(ago(7, 1))),
        AVERAGE,
        [GOOD, GOOD, AVERAGE],
    ),
    "days-nan-is-no-value": (
        dict(days_in_onboarding=NAN, project_status="delayed", last_touch=when(ago(0))),
        POOR,
        [POOR, GOOD, GOOD],
    ),
    "future-touch-counts-as-recent": (
        dict(days_in_onboarding=0, last_touch=when(ago(-3))),
        GOOD,
        [GOOD, GOOD, GOOD],
    ),
}


@pytest.mark.parametrize("case", sorted(HIGH_TOUCH_CASES))
def test_high_touch_onboarding_profile(impl, case):
    values, rank, category_ranks = HIGH_TOUCH_CASES[case]
    rules = _high_touch_onboarding()
    result = support.run(
        impl, rules, request(_onboarding_account(case, **values), view=DIMS)
    ).results[0]
    assert result.profile == "high-touch-onboarding"
    assert [c.category for c in result.categories] == ["Onboarding", "Risk", "Work"]
    assert [c.rank for c in result.categories] == category_ranks
    assert result.rank == rank
    assert not result.HasField("score")  # Account Health has no numeric score


def test_high_touch_onboarding_reasons(impl):
    rules = _high_touch_onboarding()
    values = HIGH_TOUCH_CASES["blocked-and-at-risk"][0]
    result = support.run(
        impl, rules, request(_onboarding_account("c", **values), view=FULL)
    ).results[0]
    assert list(result.reasons) == [
        H.Reason(
            kind=POOR_HELD, criterion="profiles[0].categories[0].poor[1]", subject="Onboarding"
        ),
        H.Reason(kind=POOR_HELD, criterion="profiles[0].categories[1].poor[0]", subject="Risk"),
        H.Reason(
            kind=GOOD_FAILED, criterion="profiles[0].categories[0].good[1]", subject="Onboarding"
        ),
        H.Reason(kind=GOOD_FAILED, criterion="profiles[0].categories[1].good[0]", subject="Risk"),
    ]


# ---------------------------------------------------------------------------------------------
# Multidimensional: the five-metric scorecard (seed 002)
# ---------------------------------------------------------------------------------------------

FREQUENCY = ["inactive", "monthly", "weekly", "daily"]


def _five_metric_scorecard():
    cat = catalog(
        attr("usage_frequency", ORDINAL, "usage", FREQUENCY),
        attr("license_utilization", NUMBER, "usage"),
        attr("engagement", NUMBER, "engagement"),
        attr("active_clients", NUMBER, "adoption"),
        attr("invoices_per_month", NUMBER, "financial"),
        dimensions=["usage", "engagement", "adoption", "financial"],
    )
    ge, gt, lt, le = (
        O.OPERATOR_GREATER_THAN_OR_EQUAL,
        O.OPERATOR_GREATER_THAN,
        O.OPERATOR_LESS_THAN,
        O.OPERATOR_LESS_THAN_OR_EQUAL,
    )
    del gt
    metrics = [
        metric(
            "usage_frequency",
            50,
            pred("usage_frequency", O.OPERATOR_AT_LEAST, "weekly"),
            pred("usage_frequency", O.OPERATOR_EQUAL, "inactive"),
        ),
        metric(
            "license_utilization",
            50,
            pred("license_utilization", ge, 50),
            pred("license_utilization", lt, 20),
        ),
        metric("engagement", 100, pred("engagement", ge, 60), pred("engagement", lt, 10)),
        metric("active_clients", 100, pred("active_clients", ge, 3), pred("active_clients", le, 1)),
        metric(
            "invoices_per_month",
            100,
            pred("invoices_per_month", ge, 15),
            pred("invoices_per_month", le, 3),
        ),
    ]
    dims = [("usage", 40), ("engagement", 20), ("adoption", 20), ("financial", 20)]
    return ruleset(MD, cat, profile("scorecard", dimensions=dims, metrics=metrics))


SCORECARD_CASES = {
    # id: (values, score, rank, {dimension: score})
    "all-good-at-the-boundaries": (
        dict(
            usage_frequency="weekly",
            license_utilization=50,
            engagement=60,
            active_clients=3,
            invoices_per_month=15,
        ),
        100,
        GOOD,
        {"usage": 100, "engagement": 100, "adoption": 100, "financial": 100},
    ),
    "all-poor-at-the-boundaries": (
        dict(
            usage_frequency="inactive",
            license_utilization=19.999,
            engagement=9.999,
            active_clients=1,
            invoices_per_month=3,
        ),
        0,
        POOR,
        {"usage": 0, "engagement": 0, "adoption": 0, "financial": 0},
    ),
    "all-average": (
        dict(
            usage_frequency="monthly",
            license_utilization=20,
            engagement=10,
            active_clients=2,
            invoices_per_month=3.5,
        ),
        60,
        AVERAGE,
        {"usage": 60, "engagement": 60, "adoption": 60, "financial": 60},
    ),
    "mixed": (
        dict(
            usage_frequency="daily",
            license_utilization=19,
            engagement=59.99,
            active_clients=3,
            invoices_per_month=16,
        ),
        72,  # (50*40 + 60*20 + 100*20 + 100*20) / 100
        GOOD,
        {"usage": 50, "engagement": 60, "adoption": 100, "financial": 100},
    ),
}


@pytest.mark.parametrize("case", sorted(SCORECARD_CASES))
def test_five_metric_scorecard(impl, case):
    values, score, rank, dims = SCORECARD_CASES[case]
    result = support.run(
        impl, _five_metric_scorecard(), request(account(case, **values), view=DIMS)
    ).results[0]
    assert (result.score, result.rank) == (score, rank)
    assert {d.dimension: d.score for d in result.dimensions} == dims
    assert [d.dimension for d in result.dimensions] == [
        "usage",
        "engagement",
        "adoption",
        "financial",
    ]


# ---------------------------------------------------------------------------------------------
# The subjective CSM risk rating (seed 002): good only with no risk or empty; poor on high/critical
# ---------------------------------------------------------------------------------------------

RISK_LEVELS = ["none", "low", "high", "critical"]


def _csm_risk(ignore_missing=True):
    cat = catalog(attr("csm_risk", ORDINAL, "sentiment", RISK_LEVELS), dimensions=["sentiment"])
    m = metric(
        "csm_risk",
        100,
        any_(pred("csm_risk", O.OPERATOR_EQUAL, "none"), pred("csm_risk", O.OPERATOR_IS_EMPTY)),
        pred("csm_risk", O.OPERATOR_IN, {"high", "critical"}),
    )
    return ruleset(
        MD,
        cat,
        profile("high-touch", dimensions=[("sentiment", 100)], metrics=[m]),
        ignore_missing=ignore_missing,
    )


@pytest.mark.parametrize(
    ("value", "outcome", "score"),
    [
        ("none", H.METRIC_OUTCOME_GOOD, 100),
        ("", H.METRIC_OUTCOME_GOOD, 100),
        (None, H.METRIC_OUTCOME_GOOD, 100),
        ("low", H.METRIC_OUTCOME_AVERAGE, 60),
        ("high", H.METRIC_OUTCOME_POOR, 0),
        ("critical", H.METRIC_OUTCOME_POOR, 0),
    ],
)
def test_csm_risk_rating(impl, value, outcome, score):
    acct = account("a") if value is None else account("a", csm_risk=value)
    result = support.run(impl, _csm_risk(), request(acct, view=FULL)).results[0]
    assert result.dimensions[0].metrics[0].outcome == outcome
    assert result.score == score


# ---------------------------------------------------------------------------------------------
# Good / poor / average columns (seed 000): AND of good, OR of poor, poor takes precedence
# ---------------------------------------------------------------------------------------------


def _columns_ruleset():
    cat = catalog(*(attr(n, BOOL) for n in "abcd"))
    x = category(
        "X",
        good=[pred("a", O.OPERATOR_IS_TRUE), pred("b", O.OPERATOR_IS_TRUE)],
        poor=[pred("c", O.OPERATOR_IS_TRUE), pred("d", O.OPERATOR_IS_TRUE)],
    )
    y = category("Y", good=[pred("a", O.OPERATOR_IS_TRUE)])
    z = category("Z")  # empty columns: GOOD
    return ruleset(AH, cat, profile("p", categories=[x, y, z]))


@pytest.mark.parametrize(
    ("values", "x_rank", "rank"),
    [
        (dict(a=True, b=True, c=False, d=False), GOOD, GOOD),
        (dict(a=True, b=False), AVERAGE, AVERAGE),
        (dict(a=True), AVERAGE, AVERAGE),  # b has no value: its good criterion fails
        (dict(a=True, b=True, c=True), POOR, POOR),  # poor precedence over a full good column
        (dict(a=False, d=True), POOR, POOR),  # any poor criterion
        ({}, AVERAGE, AVERAGE),
    ],
)
def test_good_poor_average_columns(impl, values, x_rank, rank):
    result = support.run(
        impl, _columns_ruleset(), request(account("a", **values), view=DIMS)
    ).results[0]
    ranks = {c.category: c.rank for c in result.categories}
    assert ranks["X"] == x_rank
    assert ranks["Z"] == GOOD
    assert result.rank == rank


# ---------------------------------------------------------------------------------------------
# Order of precedence and the default profile (seed 000)
# ---------------------------------------------------------------------------------------------


def _precedence_ruleset(with_default=True):
    cat = catalog(attr("stage", TEXT), attr("program", TEXT), attr("account_type", TEXT))
    c = [category("C")]
    profiles = [
        profile(
            "high-touch-onboarding",
            all_(
                pred("stage", O.OPERATOR_EQUAL, "onboarding"),
                pred("program", O.OPERATOR_EQUAL, "project"),
            ),
            categories=c,
        ),
        profile("digital-onboarding", pred("stage", O.OPERATOR_EQUAL, "onboarding"), categories=c),
        profile("company", pred("account_type", O.OPERATOR_EQUAL, "Company"), categories=c),
    ]
    if with_default:
        profiles.append(profile("default", all_(), categories=c))
    return ruleset(AH, cat, *profiles)


@pytest.mark.parametrize(
    ("values", "expected_profile"),
    [
        (
            dict(stage="onboarding", program="project", account_type="Company"),
            "high-touch-onboarding",
        ),
        (dict(stage="onboarding", program="digital", account_type="Company"), "digital-onboarding"),
        (dict(stage="onboarding"), "digital-onboarding"),
        (dict(stage="adoption", program="project", account_type="Company"), "company"),
        (dict(stage="", account_type="Partner"), "default"),
        ({}, "default"),
    ],
)
def test_profile_precedence_and_default_profile(impl, values, expected_profile):
    result = support.run(impl, _precedence_ruleset(), request(account("a", **values))).results[0]
    assert result.profile == expected_profile
    assert result.rank == GOOD


def test_default_profile_by_unset_segment(impl):
    rules = _precedence_ruleset(with_default=False)
    rules.profiles.append(profile("fallback", None, categories=[category("C")]))
    assert support.run(impl, rules, request(account("a"))).results[0].profile == "fallback"


def test_profiles_after_a_default_profile_are_allowed_with_a_warning():
    rules = _precedence_ruleset()
    rules.profiles.insert(1, profile("catch-all", None, categories=[category("C")]))
    compiled = support.engine().compile_ruleset(rules)
    warned = " ".join(f"{w.path} {w.message}" for w in compiled.warnings)
    for index, name in ((2, "digital-onboarding"), (3, "company"), (4, "default")):
        assert f"profiles[{index}]" in warned or name in warned, compiled.warnings
    result = compiled.score(request(account("a", stage="onboarding")))
    assert result.results[0].profile == "catch-all"


# ---------------------------------------------------------------------------------------------
# UNKNOWN health (seed 000): cancelled accounts and accounts no profile applies to
# ---------------------------------------------------------------------------------------------


def test_unknown_for_cancelled_and_unmatched_accounts(impl):
    rules = _precedence_ruleset(with_default=False)
    req = request(
        account("cancelled", "cancelled", stage="onboarding", program="project"),
        account("unmatched", stage="adoption"),
        account("matched", stage="onboarding"),
        view=FULL,
    )
    results = by_id(support.run(impl, rules, req))
    assert results["cancelled"] == health(
        account_id="cancelled",
        model=AH,
        ruleset_version="v-test",
        rank=UNKNOWN,
        unknown_reason=H.UNKNOWN_REASON_CANCELLED,
    )
    assert results["unmatched"] == health(
        account_id="unmatched",
        model=AH,
        ruleset_version="v-test",
        rank=UNKNOWN,
        unknown_reason=H.UNKNOWN_REASON_NO_PROFILE,
    )
    assert results["matched"].profile == "digital-onboarding"
    assert [r.account_id for r in support.run(impl, rules, req).results] == [
        "cancelled",
        "unmatched",
        "matched",
    ]


def test_cancelled_multidimensional_account_is_unknown(impl):
    rules = _five_metric_scorecard()
    values = SCORECARD_CASES["all-good-at-the-boundaries"][0]
    result = support.run(
        impl, rules, request(account("x", "cancelled", **values), view=FULL)
    ).results[0]
    assert result == health(
        account_id="x",
        model=MD,
        ruleset_version="v-test",
        rank=UNKNOWN,
        unknown_reason=H.UNKNOWN_REASON_CANCELLED,
    )


# ---------------------------------------------------------------------------------------------
# "No value" in a condition (seed 001): the metric gets that column's score, it is not ignored
# ---------------------------------------------------------------------------------------------


def _no_value_ruleset():
    cat = catalog(
        attr("m_poor", NUMBER, "usage"),
        attr("m_good", NUMBER, "usage"),
        attr("m_plain", NUMBER, "usage"),
        dimensions=["usage"],
    )
    metrics = [
        metric(
            "m_poor",
            50,
            pred("m_poor", O.OPERATOR_GREATER_THAN_OR_EQUAL, 50),
            any_(pred("m_poor", O.OPERATOR_LESS_THAN, 10), pred("m_poor", O.OPERATOR_IS_EMPTY)),
        ),
        metric(
            "m_good",
            30,
            any_(
                pred("m_good", O.OPERATOR_IS_EMPTY),
                pred("m_good", O.OPERATOR_GREATER_THAN_OR_EQUAL, 50),
            ),
            pred("m_good", O.OPERATOR_LESS_THAN, 10),
        ),
        metric(
            "m_plain",
            20,
            pred("m_plain", O.OPERATOR_GREATER_THAN_OR_EQUAL, 50),
            pred("m_plain", O.OPERATOR_LESS_THAN, 10),
        ),
    ]
    return ruleset(
        MD, cat, profile("p", dimensions=[("usage", 100)], metrics=metrics), ignore_missing=True
    )


def test_no_value_in_a_condition_is_scored_not_ignored(impl):
    result = support.run(impl, _no_value_ruleset(), request(account("a"), view=FULL)).results[0]
    metrics = result.dimensions[0].metrics
    assert [(m.outcome, m.score if m.HasField("score") else None) for m in metrics] == [
        (H.METRIC_OUTCOME_POOR, 0),
        (H.METRIC_OUTCOME_GOOD, 100),
        (H.METRIC_OUTCOME_IGNORED, None),
    ]
    # m_plain ignored: 50/30 -> round(5000/80)=63 (62.5 half up), round(3000/80)=38 (37.5 half up)
    assert [m.effective_weight for m in metrics] == [63, 38, 0]
    assert result.score == 38  # round((0*63 + 100*38) / 101) = round(37.62)
    assert result.rank == POOR


def test_no_value_in_an_account_health_poor_column(impl):
    cat = catalog(attr("csm_sentiment", TEXT))
    rules = ruleset(
        AH,
        cat,
        profile(
            "p",
            categories=[
                category(
                    "Sentiment",
                    good=[pred("csm_sentiment", O.OPERATOR_EQUAL, "happy")],
                    poor=[pred("csm_sentiment", O.OPERATOR_IS_EMPTY)],
                )
            ],
        ),
    )
    req = request(
        account("empty", csm_sentiment=""),
        account("absent"),
        account("happy", csm_sentiment="happy"),
    )
    assert [r.rank for r in support.run(impl, rules, req).results] == [POOR, POOR, GOOD]


def test_not_in_alone_does_not_match_a_missing_value(impl):
    cat = catalog(attr("project_status", TEXT))
    c = category("C", good=[pred("project_status", O.OPERATOR_NOT_IN, BLOCKED)])
    rules = ruleset(AH, cat, profile("p", categories=[c]))
    req = request(
        account("absent"), account("fine", project_status="fine"), account("nan", project_status="")
    )
    assert [r.rank for r in support.run(impl, rules, req).results] == [AVERAGE, GOOD, AVERAGE]


def test_negation_of_a_predicate_on_a_missing_value_holds(impl):
    cat = catalog(attr("n", NUMBER))
    c = category("C", good=[not_(pred("n", O.OPERATOR_LESS_THAN, 10))])
    rules = ruleset(AH, cat, profile("p", categories=[c]))
    req = request(account("absent"), account("nan", n=NAN), account("small", n=5))
    assert [r.rank for r in support.run(impl, rules, req).results] == [GOOD, GOOD, AVERAGE]


# ---------------------------------------------------------------------------------------------
# Thresholds: poor up to 50 at most, good from 55 at least (seed 001)
# ---------------------------------------------------------------------------------------------


def _threshold_ruleset(good_weight: int, **settings):
    cat = catalog(attr("g", BOOL, "usage"), attr("b", BOOL, "usage"), dimensions=["usage"])
    metrics = [
        metric("g", good_weight, pred("g", O.OPERATOR_IS_TRUE), pred("g", O.OPERATOR_IS_FALSE)),
        metric(
            "b", 100 - good_weight, pred("b", O.OPERATOR_IS_TRUE), pred("b", O.OPERATOR_IS_FALSE)
        ),
    ]
    return ruleset(MD, cat, profile("p", dimensions=[("usage", 100)], metrics=metrics), **settings)


@pytest.mark.parametrize(
    ("good_weight", "settings", "rank"),
    [
        (50, dict(poor_max=50, good_min=55), POOR),
        (51, dict(poor_max=50, good_min=55), AVERAGE),
        (54, dict(poor_max=50, good_min=55), AVERAGE),
        (55, dict(poor_max=50, good_min=55), GOOD),
        (40, {}, POOR),  # defaults 40 / 70
        (41, {}, AVERAGE),
        (69, {}, AVERAGE),
        (70, {}, GOOD),
        (0, dict(poor_max=0, good_min=100), POOR),
        (1, dict(poor_max=0, good_min=100), AVERAGE),
        (99, dict(poor_max=0, good_min=100), AVERAGE),
        (100, dict(poor_max=0, good_min=100), GOOD),
    ],
)
def test_threshold_limits(impl, good_weight, settings, rank):
    req = request(account("a", g=True, b=False), view=DIMS)
    result = support.run(impl, _threshold_ruleset(good_weight, **settings), req).results[0]
    assert result.score == good_weight
    assert result.rank == rank
    assert result.dimensions[0].rank == rank  # dimensions use the same thresholds


@pytest.mark.parametrize(
    ("settings", "path"),
    [
        (dict(poor_max=51), "settings.poor_max"),
        (dict(poor_max=-1), "settings.poor_max"),
        (dict(good_min=54), "settings.good_min"),
        (dict(good_min=101), "settings.good_min"),
    ],
)
def test_invalid_thresholds_are_rejected(settings, path):
    errors = support.errors()
    with pytest.raises(errors.InvalidRulesetError) as info:
        support.engine().compile_ruleset(_threshold_ruleset(50, **settings))
    assert path in [v.path for v in info.value.violations]
    assert path in str(info.value)


# ---------------------------------------------------------------------------------------------
# Weight-sum rules (seed 001): integers, metrics of a dimension sum to 100, dimensions sum to 100
# ---------------------------------------------------------------------------------------------


def _weights_ruleset(dims, metrics):
    cat = catalog(
        attr("u1", NUMBER, "usage"),
        attr("u2", NUMBER, "usage"),
        attr("s1", NUMBER, "support"),
        attr("free", NUMBER),
        dimensions=["usage", "support", "financial"],
    )
    ms = [
        metric(a, w, pred(a, O.OPERATOR_GREATER_THAN, 1), pred(a, O.OPERATOR_LESS_THAN, 0))
        for a, w in metrics
    ]
    return ruleset(MD, cat, profile("p", dimensions=dims, metrics=ms))


def test_weight_sums_valid_with_zero_weights(impl):
    rules = _weights_ruleset(
        [("usage", 100), ("support", 0)], [("u1", 100), ("u2", 0), ("s1", 100)]
    )
    if impl == "engine":
        assert support.engine().compile_ruleset(rules).warnings == []  # valid, no warning
    result = support.run(impl, rules, request(account("a", u1=2, u2=-1, s1=-1), view=FULL)).results[
        0
    ]
    assert result.score == 100
    assert [d.effective_weight for d in result.dimensions] == [100, 0]
    assert result.dimensions[1].score == 0 and not result.dimensions[1].ignored


@pytest.mark.parametrize(
    ("dims", "metrics", "prefixes"),
    [
        pytest.param(
            [("usage", 50), ("support", 50)],
            [("u1", 60), ("u2", 30), ("s1", 100)],
            ["profiles[0]"],
            id="metric-weights-sum-90",
        ),
        pytest.param(
            [("usage", 60), ("support", 50)],
            [("u1", 60), ("u2", 40), ("s1", 100)],
            ["profiles[0]"],
            id="dimension-weights-sum-110",
        ),
        pytest.param(
            [("usage", 100)],
            [("u1", 101), ("u2", -1)],
            ["profiles[0].metrics[0].weight", "profiles[0].metrics[1].weight"],
            id="weights-outside-0-100",
        ),
        pytest.param(
            [("usage", 50), ("financial", 50)],
            [("u1", 50), ("u2", 50)],
            ["profiles[0].dimensions[1]"],
            id="dimension-without-metric",
        ),
        pytest.param(
            [("usage", 100)],
            [("u1", 50), ("u2", 50), ("s1", 100)],
            ["profiles[0].metrics[2]"],
            id="metric-outside-profile-dimensions",
        ),
        pytest.param(
            [("usage", 100)],
            [("u1", 50), ("u1", 50)],
            ["profiles[0].metrics[1]"],
            id="attribute-used-twice",
        ),
        pytest.param(
            [("usage", 100)],
            [("u1", 50), ("u2", 50), ("free", 0)],
            ["profiles[0].metrics[2]"],
            id="attribute-without-dimension",
        ),
    ],
)
def test_weight_sum_rules(dims, metrics, prefixes):
    errors = support.errors()
    with pytest.raises(errors.InvalidRulesetError) as info:
        support.engine().compile_ruleset(_weights_ruleset(dims, metrics))
    paths = [v.path for v in info.value.violations]
    for prefix in prefixes:
        assert any(p.startswith(prefix) for p in paths), paths
        assert prefix in str(info.value)


def test_every_weight_violation_is_listed():
    errors = support.errors()
    rules = _weights_ruleset(
        [("usage", 60), ("support", 50)], [("u1", 101), ("u2", 30), ("s1", 90)]
    )
    with pytest.raises(errors.InvalidRulesetError) as info:
        support.engine().compile_ruleset(rules)
    assert len(info.value.violations) >= 4, info.value.violations  # u1>100, two sums, dim sum


# ---------------------------------------------------------------------------------------------
# Enterprise health (seeds 000/003): parent poor when more than 50 % of its children are poor
# ---------------------------------------------------------------------------------------------

CV = ruleset_pb2.ENTERPRISE_METHOD_CONTRACT_VALUE
COUNT = ruleset_pb2.ENTERPRISE_METHOD_COUNT


def _roll_up(model, children, method=None, **shares):
    req = enterprise_pb2.RollUpEnterpriseHealthRequest(model=model)
    if method is not None:
        req.settings.method = method
    for key, value in shares.items():
        setattr(req.settings, key, value)
    parent = req.parents.add(parent_id="parent")
    for account_id, rank, score, cv in children:
        child = parent.children.add(account_id=account_id, rank=rank)
        if score is not None:
            child.score = score
        if cv is not None:
            child.contract_value = cv
    return req


@pytest.mark.parametrize(
    ("ranks", "expected"),
    [
        ([POOR, POOR, GOOD], POOR),  # 2/3 poor > 50 %
        ([POOR, GOOD], GOOD),  # exactly 50 % poor is not "more than"; 50 % good >= 50 %
        ([POOR, AVERAGE], AVERAGE),
        ([POOR, POOR, GOOD, AVERAGE, UNKNOWN], AVERAGE),  # UNKNOWN left out: 2/4 poor
        ([POOR, POOR, GOOD, UNKNOWN], POOR),
        ([GOOD, AVERAGE, AVERAGE], AVERAGE),  # 1/3 good < 50 %
    ],
)
def test_enterprise_health_by_count(impl, ranks, expected):
    children = [(f"c{i}", r, None, None) for i, r in enumerate(ranks)]
    out = support.run_roll_up(impl, _roll_up(AH, children)).parents[0]
    assert out.rank == expected
    assert out.known_weight == sum(r != UNKNOWN for r in ranks)
    assert list(out.unknown_children) == [f"c{i}" for i, r in enumerate(ranks) if r == UNKNOWN]
    assert list(out.pulled_down_by) == [f"c{i}" for i, r in enumerate(ranks) if r == POOR]
    assert not out.HasField("score")


def test_enterprise_health_count_vs_contract_value(impl):
    children = [
        ("big", POOR, 20, 900_00),
        ("small-1", GOOD, 90, 100_00),
        ("small-2", GOOD, 80, 100_00),
        ("no-contract", GOOD, 100, None),
        ("negative", POOR, 0, -5),
    ]
    by_count = support.run_roll_up(impl, _roll_up(MD, children, COUNT)).parents[0]
    assert (by_count.rank, by_count.known_weight, by_count.poor_weight, by_count.good_weight) == (
        GOOD,
        5,
        2,
        3,
    )
    assert by_count.score == 58  # (20+90+80+100+0)/5
    by_value = support.run_roll_up(impl, _roll_up(MD, children, CV)).parents[0]
    assert (by_value.rank, by_value.known_weight, by_value.poor_weight, by_value.good_weight) == (
        POOR,
        1100_00,
        900_00,
        200_00,
    )
    assert by_value.score == 32  # (20*90000 + 90*10000 + 80*10000) / 110000 = 31.8
    assert list(by_value.pulled_down_by) == ["big", "negative"]  # heaviest first


def test_enterprise_health_without_known_children(impl):
    out = support.run_roll_up(
        impl, _roll_up(MD, [("u", UNKNOWN, None, 5), ("z", GOOD, 80, 0)], CV)
    ).parents[0]
    assert out.rank == UNKNOWN and out.unknown_reason == H.UNKNOWN_REASON_NO_CHILD_DATA
    assert not out.HasField("score")
    assert list(out.unknown_children) == ["u"]
    empty = support.run_roll_up(impl, _roll_up(AH, [])).parents[0]
    assert empty.rank == UNKNOWN and empty.unknown_reason == H.UNKNOWN_REASON_NO_CHILD_DATA


def test_enterprise_shares(impl):
    children = [("p", POOR, None, None), ("g", GOOD, None, None), ("a", AVERAGE, None, None)]
    strict = support.run_roll_up(impl, _roll_up(AH, children, poor_share_percent=33)).parents[0]
    assert strict.rank == POOR  # 1/3 > 33 %
    lenient = support.run_roll_up(
        impl, _roll_up(AH, children, poor_share_percent=34, good_share_percent=33)
    ).parents[0]
    assert lenient.rank == GOOD  # 1/3 >= 33 %
    zero = support.run_roll_up(impl, _roll_up(AH, children, poor_share_percent=0)).parents[0]
    assert zero.rank == POOR  # any poor child
    hundred = support.run_roll_up(
        impl, _roll_up(AH, children, poor_share_percent=100, good_share_percent=100)
    ).parents[0]
    assert hundred.rank == AVERAGE
