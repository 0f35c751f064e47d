"""PreviewDraft's domain function: both rulesets' summaries checked against the reference
implementation (the expected summary computed plainly here), rank changes, both models, contract
values, row and columnar form."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthscore import engine
from healthscore.domain import preview as preview_module
from healthscore.domain.preview import preview
from healthscore.errors import (
    CancelledError,
    DeadlineExceededError,
    InvalidAccountsError,
    MalformedInputError,
)
from healthscore_client.v1 import health_pb2 as H
from healthscore_client.v1 import ruleset_pb2, scoring_pb2, scoring_service_pb2
from tests import reference, strategies
from tests.core.builders import AS_OF_NS
from tests.domain.support import (
    AVERAGE,
    GOOD,
    POOR,
    UNKNOWN,
    acct,
    ah_ruleset,
    md_ruleset,
)
from tests.reference.convert import to_columns


@dataclass(frozen=True)
class Named:
    name: str
    ruleset: ruleset_pb2.Ruleset
    compiled: engine.CompiledRuleset


def named(name, rs):
    return Named(name, rs, engine.compile_ruleset(rs))


def preview_request(*accounts, baseline="models/account-health/versions/1"):
    r = scoring_service_pb2.PreviewDraftRequest(
        accounts=list(accounts),
        ruleset="models/multidimensional/draft",
        baseline_ruleset=baseline,
    )
    r.as_of.seconds, r.as_of.nanos = divmod(AS_OF_NS, 10**9)
    return r


def reference_results(rs, request):
    scoring = scoring_pb2.ScoreAccountsRequest(
        accounts=request.accounts, as_of=request.as_of, view=scoring_pb2.SCORE_VIEW_DIMENSIONS
    )
    return list(reference.score(rs, scoring).results)


def expected_summary(rs, results, contract_values):
    """RulesetSummary, written out plainly from the reference's results."""
    summary = scoring_service_pb2.RulesetSummary(account_count=len(results))

    def mean(scores):
        return statistics.mean(scores) if scores else None

    for p in rs.profiles:
        members = [r for r in results if r.profile == p.name]
        summary.profiles.add(
            profile=p.name,
            account_ids=[r.account_id for r in members],
            average_score=mean([r.score for r in members if r.HasField("score")]),
        )
    summary.unmatched_account_ids.extend(
        r.account_id for r in results if r.unknown_reason == H.UNKNOWN_REASON_NO_PROFILE
    )
    scores = [r.score for r in results if r.HasField("score")]
    if scores:
        summary.average_score = mean(scores)

    def ranks(pairs):  # (account index, rank)
        return [
            scoring_service_pb2.RankSummary(
                rank=rank,
                account_count=sum(1 for _, r in pairs if r == rank),
                contract_value=sum(contract_values[i] or 0 for i, r in pairs if r == rank),
            )
            for rank in (GOOD, AVERAGE, POOR, UNKNOWN)
        ]

    summary.ranks.extend(ranks([(i, r.rank) for i, r in enumerate(results)]))
    names = []
    for p in rs.profiles:
        for name in [d.dimension for d in p.dimensions] + [c.name for c in p.categories]:
            if name not in names:
                names.append(name)
    for name in names:
        dims = [(i, d) for i, r in enumerate(results) for d in r.dimensions if d.dimension == name]
        cats = [(i, c) for i, r in enumerate(results) for c in r.categories if c.category == name]
        summary.dimensions.add(
            dimension=name,
            average_score=mean([d.score for _, d in dims if d.HasField("score")]),
            ranks=ranks([(i, d.rank) for i, d in dims] + [(i, c.rank) for i, c in cats]),
        )
    return summary


def expected_response(preview_side, baseline_side, request):
    cvs = [a.contract_value if a.HasField("contract_value") else None for a in request.accounts]
    previewed = reference_results(preview_side.ruleset, request)
    compared = reference_results(baseline_side.ruleset, request)
    response = scoring_service_pb2.PreviewDraftResponse(
        ruleset=preview_side.name,
        baseline_ruleset=baseline_side.name,
        preview=expected_summary(preview_side.ruleset, previewed, cvs),
        baseline=expected_summary(baseline_side.ruleset, compared, cvs),
    )
    for p, b in zip(previewed, compared, strict=True):
        if p.rank != b.rank:
            change = response.rank_changes.add(
                account_id=p.account_id, baseline_rank=b.rank, preview_rank=p.rank
            )
            if b.HasField("score"):
                change.baseline_score = b.score
            if p.HasField("score"):
                change.preview_score = p.score
    return response


MD_DRAFT = named("models/multidimensional/draft", md_ruleset(ignore_missing=True))
AH_ACTIVE = named("models/account-health/versions/1", ah_ruleset())


def mixed_accounts():
    return [
        acct("p-good", cv=1000, x=90),
        acct("p-poor", cv=250, x=10),
        acct("p-missing", cv=-50),  # premium, no x: NO_DATA under ignore-missing
        acct("s-good", tier=1, cv=400, x=90, y=80),
        acct("s-mixed", tier=1, x=90, y=10),  # no contract value
        acct("s-no-y", tier=1, cv=7, x=50),  # support ignored
        acct("nobody", tier=None, cv=99, x=90),
        acct("gone", cv=5, x=90, cancelled=True),
    ]


def test_two_models_side_by_side_match_the_reference():
    request = preview_request(*mixed_accounts())
    response = preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString())
    assert response == expected_response(MD_DRAFT, AH_ACTIVE, request)


def test_numbers_by_hand():
    request = preview_request(*mixed_accounts())
    summary = preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString()).preview
    assert summary.account_count == 8
    premium, standard = summary.profiles
    # cancelled accounts match no profile and are not "unmatched" either
    assert (premium.profile, list(premium.account_ids)) == (
        "premium",
        ["p-good", "p-poor", "p-missing"],
    )
    assert premium.average_score == 50.0  # 100 and 0; p-missing has no score
    # s-good 100; s-mixed round((100 + 0) / 2) = 50; s-no-y: support ignored, usage 60
    assert list(standard.account_ids) == ["s-good", "s-mixed", "s-no-y"]
    assert standard.average_score == pytest.approx((100 + 50 + 60) / 3)
    assert list(summary.unmatched_account_ids) == ["nobody"]
    assert summary.average_score == pytest.approx((100 + 0 + 100 + 50 + 60) / 5)
    ranks = {r.rank: (r.account_count, r.contract_value) for r in summary.ranks}
    assert [r.rank for r in summary.ranks] == [GOOD, AVERAGE, POOR, UNKNOWN]
    assert ranks[GOOD] == (2, 1400)
    assert ranks[AVERAGE] == (2, 7)  # s-mixed (50) without a contract value, s-no-y (60)
    assert ranks[POOR] == (1, 250)
    assert ranks[UNKNOWN] == (3, -50 + 99 + 5)  # NO_DATA, NO_PROFILE, CANCELLED
    usage, support = summary.dimensions
    assert (usage.dimension, support.dimension) == ("usage", "support")
    # usage has a score for p-good 100, p-poor 0, s-good 100, s-mixed 100, s-no-y 60
    assert usage.average_score == pytest.approx(360 / 5)
    assert {r.rank: r.account_count for r in usage.ranks}[UNKNOWN] == 1  # p-missing
    # support: s-good 100, s-mixed 0, s-no-y ignored (UNKNOWN)
    assert support.average_score == 50.0
    assert [r.account_count for r in support.ranks] == [1, 0, 1, 1]


def test_account_health_summary_has_categories_and_no_scores():
    request = preview_request(*mixed_accounts())
    summary = preview(AH_ACTIVE, MD_DRAFT, request.SerializeToString()).preview
    assert not summary.HasField("average_score")
    assert all(not p.HasField("average_score") for p in summary.profiles)
    assert [d.dimension for d in summary.dimensions] == ["Usage", "Support"]
    assert all(not d.HasField("average_score") for d in summary.dimensions)


def test_rank_changes_between_versions_of_one_model():
    baseline = named("models/multidimensional/versions/2", md_ruleset(ignore_missing=True))
    stricter = md_ruleset(ignore_missing=True, good_min=90, poor_max=50)
    draft = named("models/multidimensional/draft", stricter)
    request = preview_request(*mixed_accounts())
    response = preview(draft, baseline, request.SerializeToString())
    # s-mixed scores 50: AVERAGE before, POOR with poor_max 50; every other rank stays
    (change,) = response.rank_changes
    assert (change.account_id, change.baseline_rank, change.preview_rank) == (
        "s-mixed",
        AVERAGE,
        POOR,
    )
    assert (change.baseline_score, change.preview_score) == (50, 50)
    assert response == expected_response(draft, baseline, request)


def test_rank_changes_in_request_order_with_scores_only_where_known():
    request = preview_request(*mixed_accounts())
    changes = preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString()).rank_changes
    ids = [a.id for a in request.accounts]
    assert [ids.index(c.account_id) for c in changes] == sorted(
        ids.index(c.account_id) for c in changes
    )
    assert all(not c.HasField("baseline_score") for c in changes)  # Account Health: no score
    by_id = {c.account_id: c for c in changes}
    assert by_id["p-missing"].preview_rank == UNKNOWN
    assert not by_id["p-missing"].HasField("preview_score")


def test_profiles_that_match_nothing_are_listed_empty():
    request = preview_request(acct("only-standard", tier=1, x=90, y=90))
    summary = preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString()).preview
    assert [(p.profile, list(p.account_ids)) for p in summary.profiles] == [
        ("premium", []),
        ("standard", ["only-standard"]),
    ]
    assert not summary.profiles[0].HasField("average_score")


def test_no_accounts():
    response = preview(MD_DRAFT, AH_ACTIVE, preview_request().SerializeToString())
    assert response.preview.account_count == 0
    assert [r.account_count for r in response.preview.ranks] == [0, 0, 0, 0]
    assert not response.preview.HasField("average_score")


def test_columnar_form_with_a_baseline_name_gives_the_row_form_result():
    rows = preview_request(*mixed_accounts())
    cols = scoring_service_pb2.PreviewDraftRequest(
        ruleset=rows.ruleset, baseline_ruleset=rows.baseline_ruleset, as_of=rows.as_of
    )
    cols.account_columns.CopyFrom(to_columns(MD_DRAFT.ruleset, rows.accounts, AS_OF_NS))
    assert preview(MD_DRAFT, AH_ACTIVE, cols.SerializeToString()) == preview(
        MD_DRAFT, AH_ACTIVE, rows.SerializeToString()
    )


def test_without_as_of_both_rulesets_score_at_one_instant():
    request = preview_request(*mixed_accounts())
    request.ClearField("as_of")
    response = preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString())
    assert response.preview.account_count == 8


def test_only_the_account_fields_reach_the_core():
    request = preview_request(acct("a", x=1))
    stripped = preview_module._account_fields(request.SerializeToString())
    assert scoring_service_pb2.PreviewDraftRequest.FromString(stripped) == (
        scoring_service_pb2.PreviewDraftRequest(accounts=request.accounts)
    )
    # fields in any order, and unknown ones of every wire type (a group included)
    unknown = bytes([0x38, 0x01, 0x41, *[0] * 8, 0x4D, *[0] * 4, 0x53, 0x08, 0x01, 0x54])
    fields = (
        scoring_service_pb2.PreviewDraftRequest(ruleset="r").SerializeToString()
        + unknown
        + request.SerializeToString()
    )
    # Compared as messages: map entries may serialize in any order.
    assert scoring_service_pb2.PreviewDraftRequest.FromString(
        preview_module._account_fields(fields)
    ) == scoring_service_pb2.PreviewDraftRequest(accounts=request.accounts)


def test_bad_account_values_are_named():
    request = preview_request(acct("a"), acct("b"))
    request.accounts[1].attributes["x"].text_value = "ten"
    with pytest.raises(InvalidAccountsError) as info:
        preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString())
    assert [v.path for v in info.value.violations] == ['accounts[1].attributes["x"]']


def test_contract_values_beyond_int64():
    request = preview_request(acct("a", cv=2**62, x=90), acct("b", cv=2**62, x=90))
    with pytest.raises(InvalidAccountsError) as info:
        preview(MD_DRAFT, AH_ACTIVE, request.SerializeToString())
    assert [v.path for v in info.value.violations] == ["accounts[1].contract_value"]


def test_size_limit():
    request = preview_request(acct("a"), acct("b"), acct("c")).SerializeToString()
    assert preview(MD_DRAFT, AH_ACTIVE, request, max_accounts=3).preview.account_count == 3
    with pytest.raises(InvalidAccountsError) as info:
        preview(MD_DRAFT, AH_ACTIVE, request, max_accounts=2)
    assert [v.path for v in info.value.violations] == ["accounts"]


def test_malformed_bytes():
    with pytest.raises(MalformedInputError):
        preview(MD_DRAFT, AH_ACTIVE, b"\x0a\x05ab")


@st.composite
def preview_cases(draw):
    """A generated ruleset, the same profiles under other settings as the baseline, and
    accounts for them."""
    rs, ctx = draw(strategies.rulesets_with_ctx())
    baseline = ruleset_pb2.Ruleset()
    baseline.CopyFrom(rs)
    baseline.settings.CopyFrom(draw(strategies.model_settings()))
    as_of = draw(st.integers(strategies.NS_2000, strategies.NS_2100))
    request = scoring_service_pb2.PreviewDraftRequest(
        accounts=draw(strategies.accounts(ctx, as_of, max_size=10)), baseline_ruleset="b"
    )
    strategies.ns_to_timestamp(as_of, request.as_of)
    return named("draft", rs), named("baseline", baseline), request


@settings(max_examples=strategies.examples(400))
@given(preview_cases())
def test_matches_the_reference(case):
    draft, baseline, request = case
    expected = expected_response(draft, baseline, request)
    assert preview(draft, baseline, request.SerializeToString()) == expected


def test_a_cancelled_call_stops_and_a_live_token_changes_nothing():
    request = preview_request(*mixed_accounts()).SerializeToString()
    live = engine.CancelToken(timeout=3600)
    assert preview(MD_DRAFT, AH_ACTIVE, request, cancel=live) == preview(
        MD_DRAFT, AH_ACTIVE, request
    )
    cancelled = engine.CancelToken()
    cancelled.cancel()
    with pytest.raises(CancelledError):
        preview(MD_DRAFT, AH_ACTIVE, request, cancel=cancelled)
    with pytest.raises(DeadlineExceededError):
        preview(MD_DRAFT, AH_ACTIVE, request, cancel=engine.CancelToken(timeout=0))
