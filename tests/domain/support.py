"""Small rulesets and requests for the domain tests, and the expected hierarchy computed plainly
with the reference implementation (tests/reference/)."""

from __future__ import annotations

from healthscore import engine
from healthscore_client.v1 import account_pb2, enterprise_pb2, scoring_pb2, scoring_service_pb2
from healthscore_client.v1 import health_pb2 as H
from tests import reference
from tests.core.builders import (
    AH,
    AS_OF_NS,
    MD,
    NUMBER,
    O,
    attr,
    catalog,
    category,
    metric,
    pred,
    profile,
    ruleset,
)

GOOD, AVERAGE, POOR, UNKNOWN = (
    H.HEALTH_RANK_GOOD,
    H.HEALTH_RANK_AVERAGE,
    H.HEALTH_RANK_POOR,
    H.HEALTH_RANK_UNKNOWN,
)


def usage_catalog():
    return catalog(
        attr("x", NUMBER, "usage"),
        attr("y", NUMBER, "support"),
        attr("tier", NUMBER),
        dimensions=["usage", "support"],
    )


def md_ruleset(*, version="md-test", **settings):
    """Multidimensional: x >= 70 scores 100 (GOOD), x <= 40 scores 0 (POOR), else 60; one
    profile for tier >= 2 (usage only) and a default profile (usage 50 / support 50)."""
    x = metric(
        "x",
        100,
        pred("x", O.OPERATOR_GREATER_THAN_OR_EQUAL, 70),
        pred("x", O.OPERATOR_LESS_THAN_OR_EQUAL, 40),
    )
    y = metric(
        "y",
        100,
        pred("y", O.OPERATOR_GREATER_THAN_OR_EQUAL, 70),
        pred("y", O.OPERATOR_LESS_THAN_OR_EQUAL, 40),
    )
    return ruleset(
        MD,
        usage_catalog(),
        profile(
            "premium",
            pred("tier", O.OPERATOR_GREATER_THAN_OR_EQUAL, 2),
            dimensions=[("usage", 100)],
            metrics=[x],
        ),
        profile(
            "standard",
            pred("tier", O.OPERATOR_GREATER_THAN_OR_EQUAL, 1),
            dimensions=[("usage", 50), ("support", 50)],
            metrics=[x, y],
        ),
        version=version,
        **settings,
    )


def ah_ruleset(*, version="ah-test", **settings):
    """Account Health: categories Usage (x) and Support (y), good >= 70, poor <= 40; accounts
    without a tier match no profile."""
    usage = category(
        "Usage",
        good=[pred("x", O.OPERATOR_GREATER_THAN_OR_EQUAL, 70)],
        poor=[pred("x", O.OPERATOR_LESS_THAN_OR_EQUAL, 40)],
    )
    support = category(
        "Support",
        good=[pred("y", O.OPERATOR_GREATER_THAN_OR_EQUAL, 70)],
        poor=[pred("y", O.OPERATOR_LESS_THAN_OR_EQUAL, 40)],
    )
    return ruleset(
        AH,
        usage_catalog(),
        profile("premium", pred("tier", O.OPERATOR_GREATER_THAN_OR_EQUAL, 2), categories=[usage]),
        profile("any tier", pred("tier", O.OPERATOR_IS_NOT_EMPTY), categories=[usage, support]),
        version=version,
        **settings,
    )


def with_enterprise(rs, method=None, poor_share=None, good_share=None):
    if method is not None:
        rs.settings.enterprise.method = method
    if poor_share is not None:
        rs.settings.enterprise.poor_share_percent = poor_share
    if good_share is not None:
        rs.settings.enterprise.good_share_percent = good_share
    return rs


def acct(account_id, parent="", *, cv=None, cancelled=False, tier=2, **values):
    """An account; tier 2 (the default) puts it in the `premium` profile, tier None in none."""
    a = account_pb2.Account(id=account_id, parent_id=parent)
    if tier is not None:
        a.attributes["tier"].number_value = tier
    if cv is not None:
        a.contract_value = cv
    if cancelled:
        a.status = account_pb2.ACCOUNT_STATUS_CANCELLED
    for name, v in values.items():
        a.attributes[name].number_value = float(v)
    return a


def hierarchy_request(*accounts, view=scoring_pb2.SCORE_VIEW_BASIC):
    r = scoring_service_pb2.ScoreHierarchyRequest(accounts=list(accounts), view=view)
    r.as_of.seconds, r.as_of.nanos = divmod(AS_OF_NS, 10**9)
    return r


def compiled(rs):
    return engine.compile_ruleset(rs)


def expected_hierarchy(rs, request, *, ruleset_name="test"):
    """SPEC §6 computed plainly: the reference's own health of every account, then, recursively,
    each parent's roll-up from its children's health (their enterprise health if they have
    children). Row form only."""
    own = reference.score(
        rs,
        scoring_pb2.ScoreAccountsRequest(
            accounts=request.accounts, as_of=request.as_of, view=request.view
        ),
    )
    index = {a.id: i for i, a in enumerate(request.accounts)}
    children = {a.id: [] for a in request.accounts}
    for a in request.accounts:
        if a.parent_id in index:
            children[a.parent_id].append(a)

    def depth(account_id):
        parent = request.accounts[index[account_id]].parent_id
        return 0 if parent not in index else 1 + depth(parent)

    def enterprise(account_id):
        roll_up = enterprise_pb2.RollUpEnterpriseHealthRequest(
            model=rs.model, settings=rs.settings.enterprise
        )
        parent = roll_up.parents.add(parent_id=account_id)
        for child in children[account_id]:
            health = health_of(child.id)
            entry = parent.children.add(account_id=child.id, rank=health.rank)
            if health.HasField("score"):
                entry.score = health.score
            if child.HasField("contract_value"):
                entry.contract_value = child.contract_value
        return reference.roll_up(roll_up).parents[0]

    def health_of(account_id):
        if children[account_id]:
            return enterprise(account_id)
        return own.results[index[account_id]]

    parents = [a.id for a in request.accounts if children[a.id]]
    parents.sort(key=lambda p: (-depth(p), index[p]))
    return scoring_service_pb2.ScoreHierarchyResponse(
        results=own.results,
        enterprise=[enterprise(p) for p in parents],
        ruleset=ruleset_name,
        detached_account_ids=[
            a.id for a in request.accounts if a.parent_id and a.parent_id not in index
        ],
    )
