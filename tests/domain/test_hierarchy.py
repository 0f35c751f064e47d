"""ScoreHierarchy's domain function: own health, enterprise health bottom-up (SPEC §6), link
validation and limits, in row and columnar form."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthscore import engine
from healthscore.domain import hierarchy
from healthscore.domain.hierarchy import score_hierarchy
from healthscore.errors import (
    CancelledError,
    DeadlineExceededError,
    InvalidAccountsError,
    MalformedInputError,
)
from healthscore_client.v1 import health_pb2 as H
from healthscore_client.v1 import ruleset_pb2, scoring_pb2, scoring_service_pb2
from tests import strategies
from tests.core.builders import AS_OF_NS
from tests.domain.support import (
    AVERAGE,
    GOOD,
    POOR,
    UNKNOWN,
    acct,
    ah_ruleset,
    compiled,
    expected_hierarchy,
    hierarchy_request,
    md_ruleset,
    with_enterprise,
)
from tests.reference.convert import to_columns

COUNT = ruleset_pb2.ENTERPRISE_METHOD_COUNT
CONTRACT_VALUE = ruleset_pb2.ENTERPRISE_METHOD_CONTRACT_VALUE


def run(rs, request, **limits):
    data = request if isinstance(request, bytes) else request.SerializeToString()
    return score_hierarchy(compiled(rs), rs, data, ruleset_name="test", **limits)


def by_id(response):
    return {e.account_id: e for e in response.enterprise}


def tree(**cvs):
    """root > bu1 > (p1 GOOD, p2 POOR, p3 POOR); root > bu2 > (p4 AVERAGE, p5 cancelled);
    root > leaf GOOD. `root` has no value of its own; `bu1` is POOR on its own."""
    cv = cvs.get
    return hierarchy_request(
        acct("root", cv=cv("root")),
        acct("bu1", "root", cv=cv("bu1"), x=0),
        acct("p1", "bu1", cv=cv("p1"), x=90),
        acct("p2", "bu1", cv=cv("p2"), x=10),
        acct("p3", "bu1", cv=cv("p3"), x=10),
        acct("bu2", "root", cv=cv("bu2"), x=90),
        acct("p4", "bu2", cv=cv("p4"), x=50),
        acct("p5", "bu2", cv=cv("p5"), cancelled=True),
        acct("leaf", "root", cv=cv("leaf"), x=80),
    )


def test_three_levels_by_count():
    rs = md_ruleset()
    request = tree()
    response = run(rs, request)
    assert [r.account_id for r in response.results] == [a.id for a in request.accounts]
    assert response.ruleset == "test"
    # deepest parents first, ties in request order
    assert [e.account_id for e in response.enterprise] == ["bu1", "bu2", "root"]
    e = by_id(response)
    assert (e["bu1"].rank, e["bu1"].score) == (POOR, 33)  # 2 of 3 POOR; round(100 / 3)
    assert list(e["bu1"].pulled_down_by) == ["p2", "p3"]
    assert (e["bu2"].rank, e["bu2"].score, list(e["bu2"].unknown_children)) == (AVERAGE, 60, ["p5"])
    # root weighs bu1 and bu2 by their enterprise health (POOR 33, AVERAGE 60), not their own
    assert (e["root"].rank, e["root"].score) == (AVERAGE, round((33 + 60 + 100) / 3))
    assert list(e["root"].pulled_down_by) == ["bu1"]
    assert (e["root"].known_weight, e["root"].poor_weight, e["root"].good_weight) == (3, 1, 1)
    # own health is kept: bu2 is GOOD on its own data, root (no value) AVERAGE
    assert response.results[5].rank == GOOD
    assert response.results[0].rank == AVERAGE
    assert response == expected_hierarchy(rs, request)


def test_three_levels_by_contract_value():
    rs = with_enterprise(md_ruleset(), CONTRACT_VALUE)
    request = tree(p1=1000, p2=100, p3=300, bu1=500, bu2=700, leaf=200, p5=10**6)
    e = by_id(run(rs, request))
    # bu1: POOR weight 400 of 1400 (not over 50 %), GOOD 1000 of 1400 -> GOOD
    assert (e["bu1"].rank, e["bu1"].score) == (GOOD, 71)  # round(100 000 / 1 400)
    assert list(e["bu1"].pulled_down_by) == ["p3", "p2"]  # heaviest first
    # bu2: p4 has no contract value (weight 0), p5 is cancelled -> no child data
    assert (e["bu2"].rank, e["bu2"].unknown_reason) == (UNKNOWN, H.UNKNOWN_REASON_NO_CHILD_DATA)
    assert not e["bu2"].HasField("score")
    # root: bu2 (UNKNOWN) left out; bu1 GOOD 71 x 500, leaf GOOD 100 x 200
    assert list(e["root"].unknown_children) == ["bu2"]
    assert (e["root"].rank, e["root"].score) == (GOOD, 79)  # round(55 500 / 700)
    assert e["root"].known_weight == 700
    assert run(rs, request) == expected_hierarchy(rs, request)


@pytest.mark.parametrize("method", [COUNT, CONTRACT_VALUE])
@pytest.mark.parametrize("shares", [(None, None), (0, 100), (33, 66), (100, 0)])
def test_both_methods_and_shares_match_the_reference(method, shares):
    rs = with_enterprise(md_ruleset(), method, *shares)
    request = tree(p1=7, p2=3, p3=5, bu1=11, bu2=0, leaf=4, p4=-5)
    assert run(rs, request) == expected_hierarchy(rs, request)


def test_pulled_down_by_ties_in_request_order():
    rs = with_enterprise(md_ruleset(), CONTRACT_VALUE)
    request = hierarchy_request(
        acct("top"),
        acct("a", "top", cv=5, x=0),
        acct("b", "top", cv=9, x=0),
        acct("c", "top", cv=5, x=0),
        acct("d", "top", cv=0, x=0),
    )
    (top,) = run(rs, request).enterprise
    assert list(top.pulled_down_by) == ["b", "a", "c", "d"]


def test_account_health_rolls_up_ranks_without_scores():
    rs = ah_ruleset()
    request = tree()
    response = run(rs, request)
    assert all(not e.HasField("score") for e in response.enterprise)
    assert by_id(response)["bu1"].rank == POOR
    assert response == expected_hierarchy(rs, request)


def test_parent_without_own_data_still_gets_enterprise_health():
    rs = md_ruleset(ignore_missing=True)
    request = hierarchy_request(acct("top"), acct("a", "top", x=90), acct("b", "top", x=95))
    response = run(rs, request)
    assert (response.results[0].rank, response.results[0].unknown_reason) == (
        UNKNOWN,
        H.UNKNOWN_REASON_NO_DATA,
    )
    (top,) = response.enterprise
    assert (top.rank, top.score) == (GOOD, 100)


def test_unknown_children_and_a_parent_made_unknown_by_them():
    rs = md_ruleset()
    request = hierarchy_request(
        acct("top"),
        acct("mid", "top", x=90),
        acct("gone", "mid", cancelled=True),
        acct("no-profile", "mid", tier=None, x=90),
        acct("ok", "top", x=90),
    )
    e = by_id(run(rs, request))
    assert list(e["mid"].unknown_children) == ["gone", "no-profile"]
    assert e["mid"].rank == UNKNOWN
    # mid's own health is GOOD, but it counts with its enterprise health (UNKNOWN)
    assert list(e["top"].unknown_children) == ["mid"]
    assert (e["top"].rank, e["top"].score, e["top"].known_weight) == (GOOD, 100, 1)


def test_deepest_parents_first_in_an_unbalanced_forest():
    request = hierarchy_request(
        acct("r2"),
        acct("y", "x"),
        acct("r1"),
        acct("x", "r1"),
        acct("leaf", "y", x=0),
        acct("leaf2", "r2", x=90),
    )
    rs = md_ruleset()
    response = run(rs, request)
    assert [e.account_id for e in response.enterprise] == ["y", "x", "r2", "r1"]
    assert by_id(response)["r1"].rank == POOR  # the POOR leaf three levels down
    assert response == expected_hierarchy(rs, request)


def test_a_parent_outside_the_request_leaves_a_root():
    rs = md_ruleset()
    request = hierarchy_request(acct("a", "not-sent", x=90), acct("b", "a", x=0))
    response = run(rs, request)
    assert [e.account_id for e in response.enterprise] == ["a"]
    assert list(response.detached_account_ids) == ["a"]
    assert response == expected_hierarchy(rs, request)


def test_results_keep_the_requested_view():
    request = hierarchy_request(
        acct("a", x=90), acct("b", "a", x=0), view=scoring_pb2.SCORE_VIEW_DIMENSIONS
    )
    response = run(md_ruleset(), request)
    assert [d.dimension for d in response.results[1].dimensions] == ["usage"]


def test_no_accounts():
    response = run(md_ruleset(), hierarchy_request())
    assert (list(response.results), list(response.enterprise)) == ([], [])


# --- bad links --------------------------------------------------------------------------------


def violations(rs, request, **limits):
    with pytest.raises(InvalidAccountsError) as info:
        run(rs, request, **limits)
    return info.value.violations


def test_two_cycle_names_both_accounts():
    request = hierarchy_request(
        acct("ok"), acct("a", "b"), acct("b", "a"), acct("hangs-on", "a"), acct("c", "ok")
    )
    found = violations(md_ruleset(), request)
    assert [v.path for v in found] == ["accounts[1].parent_id", "accounts[2].parent_id"]
    assert "cycle of 2 accounts" in found[0].message
    assert "'a'" in found[0].message and "'b'" in found[0].message


def test_longer_cycle_and_self_parent_are_all_named():
    request = hierarchy_request(
        acct("a", "c"), acct("b", "a"), acct("c", "b"), acct("me", "me"), acct("fine")
    )
    found = violations(md_ruleset(), request)
    assert [v.path for v in found] == [f"accounts[{i}].parent_id" for i in (0, 1, 2, 3)]
    # named along the parent links
    assert found[0].message.endswith("cycle of 3 accounts: 'a' → 'c' → 'b' → 'a'")
    assert "own parent" in found[3].message


def test_a_long_cycle_is_named_without_recursion_or_a_huge_message():
    n = 5000
    request = hierarchy_request(*(acct(f"a{i}", f"a{(i + 1) % n}") for i in range(n)))
    found = violations(md_ruleset(), request)
    assert len(found) == n
    assert len(found[0].message) < 300


def test_bad_links_and_bad_values_are_reported_together():
    request = hierarchy_request(acct("a", "a"), acct("b"))
    request.accounts[1].attributes["x"].text_value = "not a number"
    paths = [v.path for v in violations(md_ruleset(), request)]
    assert paths == ["accounts[0].parent_id", 'accounts[1].attributes["x"]']


def test_malformed_bytes():
    with pytest.raises(MalformedInputError):
        run(md_ruleset(), b"\xff\xff")


# --- limits -----------------------------------------------------------------------------------


def chain(length):
    """`length` accounts, each the parent of the next: depth length - 1."""
    return hierarchy_request(
        *(acct(f"a{i}", f"a{i - 1}" if i else "", x=90) for i in range(length))
    )


def test_default_depth_limit():
    rs = md_ruleset()
    response = run(rs, chain(hierarchy.MAX_DEPTH + 1))
    assert len(response.enterprise) == hierarchy.MAX_DEPTH
    assert response.enterprise[-1].account_id == "a0"
    found = violations(rs, chain(hierarchy.MAX_DEPTH + 3))
    # only the first account past the limit is named
    assert [v.path for v in found] == [f"accounts[{hierarchy.MAX_DEPTH + 1}].parent_id"]
    assert "more than 32 levels below its root 'a0'" in found[0].message


def test_size_limit():
    rs = md_ruleset()
    assert len(run(rs, chain(4), max_accounts=4).results) == 4
    found = violations(rs, chain(5), max_accounts=4)
    assert [v.path for v in found] == ["accounts"]
    cols = scoring_service_pb2.ScoreHierarchyRequest()
    cols.account_columns.ids.extend(["a", "b", "c"])
    assert [v.path for v in violations(rs, cols, max_accounts=2)] == ["account_columns.ids"]


def test_contract_values_beyond_int64_name_the_parent():
    rs = with_enterprise(md_ruleset(), CONTRACT_VALUE)
    big = 2**62
    request = hierarchy_request(
        acct("fine"), acct("top"), *(acct(f"c{i}", "top", cv=big, x=90) for i in range(3))
    )
    assert [v.path for v in violations(rs, request)] == ["accounts[1].id"]


# --- columnar form ----------------------------------------------------------------------------


def columnar(rs, request):
    out = scoring_service_pb2.ScoreHierarchyRequest(as_of=request.as_of, view=request.view)
    out.account_columns.CopyFrom(to_columns(rs, request.accounts, AS_OF_NS))
    return out


@pytest.mark.parametrize("method", [COUNT, CONTRACT_VALUE])
def test_columnar_form_gives_the_row_form_result(method):
    rs = with_enterprise(md_ruleset(), method)
    request = tree(p1=1000, p2=100, p3=300, bu1=500, leaf=200)  # some values missing
    assert run(rs, columnar(rs, request)) == run(rs, request)


def test_columnar_paths():
    rs = md_ruleset()
    request = columnar(rs, hierarchy_request(acct("a", "b"), acct("b", "a"), acct("c", "c")))
    assert [v.path for v in violations(rs, request)] == [
        f"account_columns.parent_ids[{i}]" for i in range(3)
    ]


def test_columnar_lengths():
    rs = md_ruleset()
    request = columnar(rs, hierarchy_request(acct("a", cv=1), acct("b", "a", cv=2)))
    del request.account_columns.parent_ids[1:]
    del request.account_columns.contract_values[1:]
    request.account_columns.contract_values_validity = b""
    assert [v.path for v in violations(rs, request)] == [
        "account_columns.parent_ids",
        "account_columns.contract_values",
    ]
    request = columnar(rs, hierarchy_request(*(acct(f"a{i}", cv=1) for i in range(9))))
    request.account_columns.contract_values_validity = b"\x01"
    assert [v.path for v in violations(rs, request)] == ["account_columns.contract_values_validity"]


def test_rows_and_columns_together():
    rs = md_ruleset()
    request = columnar(rs, hierarchy_request(acct("a")))
    request.accounts.add(id="b")
    assert [v.path for v in violations(rs, request)] == ["account_columns"]


# --- property: the reference roll-up ---------------------------------------------------------


@st.composite
def hierarchy_cases(draw):
    """A generated ruleset, accounts for it, and random parent links forming a forest (some
    pointing outside the request), in a shuffled request order."""
    rs, ctx = draw(strategies.rulesets_with_ctx())
    as_of = draw(st.integers(strategies.NS_2000, strategies.NS_2100))
    accounts = draw(strategies.accounts(ctx, as_of, max_size=12))
    for k, account in enumerate(accounts):  # a parent is drawn among earlier accounts
        choice = draw(st.integers(-2, k - 1))
        links = {-2: "", -1: "outside"}
        account.parent_id = links[choice] if choice in links else accounts[choice].id
    accounts = draw(st.permutations(accounts))
    request = scoring_service_pb2.ScoreHierarchyRequest(
        accounts=accounts, view=draw(st.sampled_from(list(scoring_pb2.ScoreView.values())))
    )
    strategies.ns_to_timestamp(as_of, request.as_of)
    return rs, request


@settings(max_examples=strategies.examples(400))
@given(hierarchy_cases())
def test_matches_the_reference_roll_up(case):
    rs, request = case
    assert run(rs, request) == expected_hierarchy(rs, request)


def test_a_cancelled_call_stops_and_a_live_token_changes_nothing():
    rs = md_ruleset()
    request = tree()
    assert run(rs, request, cancel=engine.CancelToken(timeout=3600)) == run(rs, request)
    cancelled = engine.CancelToken()
    cancelled.cancel()
    with pytest.raises(CancelledError):
        run(rs, request, cancel=cancelled)
    with pytest.raises(DeadlineExceededError):
        run(rs, request, cancel=engine.CancelToken(timeout=0))
