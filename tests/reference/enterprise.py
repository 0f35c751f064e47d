"""Reference enterprise roll-up: SPEC §6 + docs/semantics.md "Enterprise roll-up (one parent)"."""

from __future__ import annotations

from healthscore_client.v1 import enterprise_pb2, health_pb2, ruleset_pb2

from .model import I64_MAX, ReferenceUnsupported, round_half_up

H = health_pb2
KNOWN = (H.HEALTH_RANK_GOOD, H.HEALTH_RANK_AVERAGE, H.HEALTH_RANK_POOR)


def _settings(request: enterprise_pb2.RollUpEnterpriseHealthRequest) -> tuple[int, int, int]:
    s = request.settings
    method = s.method or ruleset_pb2.ENTERPRISE_METHOD_COUNT
    if method not in (
        ruleset_pb2.ENTERPRISE_METHOD_COUNT,
        ruleset_pb2.ENTERPRISE_METHOD_CONTRACT_VALUE,
    ):
        raise ReferenceUnsupported(f"unknown enterprise method {method}")
    poor_share = s.poor_share_percent if s.HasField("poor_share_percent") else 50
    good_share = s.good_share_percent if s.HasField("good_share_percent") else 50
    if not (0 <= poor_share <= 100 and 0 <= good_share <= 100):
        raise ReferenceUnsupported("share percent outside 0..100")
    return method, poor_share, good_share


def _weight(method: int, child: enterprise_pb2.ChildHealth) -> int:
    if method == ruleset_pb2.ENTERPRISE_METHOD_COUNT:
        return 1
    if not child.HasField("contract_value"):
        return 0
    return max(child.contract_value, 0)


def roll_up(
    request: enterprise_pb2.RollUpEnterpriseHealthRequest,
) -> enterprise_pb2.RollUpEnterpriseHealthResponse:
    """Rolls up each parent's enterprise health from its children's health."""
    if request.model not in (
        ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH,
        ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL,
    ):
        raise ReferenceUnsupported("roll-up request without a model")
    multidimensional = request.model == ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL
    method, poor_share, good_share = _settings(request)
    response = enterprise_pb2.RollUpEnterpriseHealthResponse()
    for p, parent in enumerate(request.parents):
        out = response.parents.add(account_id=parent.parent_id)
        known = []  # (index, child, weight)
        for i, child in enumerate(parent.children):
            if child.rank in KNOWN:
                known.append((i, child, _weight(method, child)))
            else:
                out.unknown_children.append(child.account_id)
        total = sum(w for _, _, w in known)
        poor = sum(w for _, c, w in known if c.rank == H.HEALTH_RANK_POOR)
        good = sum(w for _, c, w in known if c.rank == H.HEALTH_RANK_GOOD)
        if total > I64_MAX:
            raise ReferenceUnsupported(f"parents[{p}]: weight sum does not fit int64")
        out.known_weight, out.poor_weight, out.good_weight = total, poor, good
        poor_children = [(i, c, w) for i, c, w in known if c.rank == H.HEALTH_RANK_POOR]
        poor_children.sort(key=lambda icw: (-icw[2], icw[0]))  # heaviest first, then request order
        out.pulled_down_by.extend(c.account_id for _, c, _ in poor_children)
        if not known or total == 0:
            out.rank = H.HEALTH_RANK_UNKNOWN
            out.unknown_reason = H.UNKNOWN_REASON_NO_CHILD_DATA
            continue
        if 100 * poor > poor_share * total:
            out.rank = H.HEALTH_RANK_POOR
        elif 100 * good >= good_share * total:
            out.rank = H.HEALTH_RANK_GOOD
        else:
            out.rank = H.HEALTH_RANK_AVERAGE
        if multidimensional:
            for i, child, _ in known:
                if not child.HasField("score") or not 0 <= child.score <= 100:
                    raise ReferenceUnsupported(
                        f"parents[{p}].children[{i}].score: a known child needs a score 0..100"
                    )
            out.score = round_half_up(sum(c.score * w for _, c, w in known), total)
    return response
