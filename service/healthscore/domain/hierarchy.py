"""Enterprise health over account hierarchies (SPEC §6).

Every account's own health comes from one scoring call on the request bytes as they are; each
parent's enterprise health is then rolled up bottom-up, one core call per level, so that a child
with children counts with its enterprise health and a parent reflects its whole subtree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from healthscore import engine
from healthscore.errors import (
    InvalidAccountsError,
    InvalidInputError,
    MalformedInputError,
    Violation,
)
from healthscore_client.v1 import (
    enterprise_pb2,
    ruleset_pb2,
    scoring_service_pb2,
)

# The request is parsed once in Python (a message object per account) and every parent costs a
# Python roll-up entry: 100,000 accounts keep a hierarchy call within about a second (a preview,
# which summarizes two rulesets' results in Python, within about three); bigger sets belong to
# bulk scoring. Previews use the same limit.
MAX_ACCOUNTS = 100_000
# Real hierarchies (enterprise, region, business unit, department, product) are a handful of
# levels deep; each level is one core call, and a chain deeper than 32 is almost surely a data
# error (e.g. an export that linked every account to the previous one).
MAX_DEPTH = 32

_NO_PARENT = -1
_UNSEEN = -1  # a depth not measured yet
_ON_PATH = -2  # being walked: meeting it again closes a cycle
_NO_ROOT = -3  # on a cycle, or leading into one: it has no depth
_CYCLE_NAMES_SHOWN = 10


@dataclass(frozen=True)
class RequestAccounts:
    """What the domain needs of a request's accounts besides their data, in either form."""

    ids: list[str]
    parent_ids: list[str]  # "" = no parent
    contract_values: list[int | None]  # None = missing
    columnar: bool

    def path(self, i: int, field: str) -> str:
        """The request path of account `i`'s `field` (`id`, `parent_id`, `contract_value`)."""
        if not self.columnar:
            return f"accounts[{i}].{field}"
        column = {"id": "ids", "parent_id": "parent_ids", "contract_value": "contract_values"}
        return f"account_columns.{column[field]}[{i}]"


def request_accounts(
    request: scoring_service_pb2.ScoreHierarchyRequest | scoring_service_pb2.PreviewDraftRequest,
    max_accounts: int,
) -> RequestAccounts:
    """Ids, parent ids and contract values of a request's rows or columns; raises
    `InvalidAccountsError` for more than `max_accounts` accounts and for columns whose lengths do
    not match the ids."""
    columnar = request.HasField("account_columns")
    n = len(request.account_columns.ids) if columnar else len(request.accounts)
    if n > max_accounts:
        field = "account_columns.ids" if columnar else "accounts"
        raise InvalidAccountsError(
            "too many accounts",
            [Violation(field, f"at most {max_accounts} accounts per request, got {n}")],
        )
    if not columnar:
        rows = request.accounts
        return RequestAccounts(
            ids=[a.id for a in rows],
            parent_ids=[a.parent_id for a in rows],
            contract_values=[
                a.contract_value if a.HasField("contract_value") else None for a in rows
            ],
            columnar=False,
        )
    if request.accounts:
        raise InvalidAccountsError(
            "invalid accounts",
            [Violation("account_columns", "set accounts or account_columns, not both")],
        )
    cols = request.account_columns
    bad: list[Violation] = []
    parent_ids = list(cols.parent_ids) or [""] * n
    if len(parent_ids) != n:
        bad.append(Violation("account_columns.parent_ids", "empty, or one per account"))
    values = list(cols.contract_values)
    bitmap = cols.contract_values_validity
    if values and len(values) != n:
        bad.append(Violation("account_columns.contract_values", "empty, or one per account"))
    if bitmap and len(bitmap) < (n + 7) // 8:
        bad.append(
            Violation("account_columns.contract_values_validity", "the bitmap must cover every id")
        )
    if bad:
        raise InvalidAccountsError("invalid accounts", bad)
    contract_values: list[int | None] = [None] * n
    for i, value in enumerate(values):
        if not bitmap or bitmap[i // 8] >> (i % 8) & 1:
            contract_values[i] = value
    return RequestAccounts(list(cols.ids), parent_ids, contract_values, columnar=True)


def _parse(request: bytes) -> scoring_service_pb2.ScoreHierarchyRequest:
    try:
        return scoring_service_pb2.ScoreHierarchyRequest.FromString(request)
    except DecodeError as exc:
        raise MalformedInputError(f"malformed input: {exc}") from exc


@dataclass
class _Forest:
    parent: list[int]  # index of the parent in the request, or _NO_PARENT
    depth: list[int]  # parent links up to the root
    detached: list[int]  # accounts whose parent id names no account of the request


def _link(accounts: RequestAccounts, max_depth: int) -> tuple[_Forest, list[Violation]]:
    """Resolves parent ids to indices and measures depths, naming self-parents, every cycle's
    accounts and accounts deeper than `max_depth`. Iterative and linear: no recursion to
    overflow and no walk that can loop."""
    ids = accounts.ids
    n = len(ids)
    index: dict[str, int] = {}
    for i, account_id in enumerate(ids):
        index.setdefault(account_id, i)  # duplicate ids are the scoring call's violation
    bad: list[tuple[int, Violation]] = []
    parent = [_NO_PARENT] * n
    detached: list[int] = []
    for i, parent_id in enumerate(accounts.parent_ids):
        if parent_id == ids[i]:
            bad.append(
                (i, Violation(accounts.path(i, "parent_id"), "an account cannot be its own parent"))
            )
        elif parent_id:
            # A parent that is not in the request leaves the account a root, reported as
            # such (SPEC §6).
            parent[i] = index.get(parent_id, _NO_PARENT)
            if parent[i] == _NO_PARENT:
                detached.append(i)

    depth = [_UNSEEN] * n
    root = list(range(n))
    for start in range(n):
        path: list[int] = []
        i = start
        while i != _NO_PARENT and depth[i] == _UNSEEN:
            depth[i] = _ON_PATH
            path.append(i)
            i = parent[i]
        if i != _NO_PARENT and depth[i] == _ON_PATH:
            cycle = path[path.index(i) :]
            message = _cycle_message([ids[j] for j in cycle])
            bad.extend((j, Violation(accounts.path(j, "parent_id"), message)) for j in cycle)
        if i != _NO_PARENT and depth[i] in (_ON_PATH, _NO_ROOT):
            for j in path:
                depth[j] = _NO_ROOT
            continue
        level = -1 if i == _NO_PARENT else depth[i]
        top = path[-1] if i == _NO_PARENT else root[i]
        for j in reversed(path):
            level += 1
            depth[j], root[j] = level, top
            if level == max_depth + 1:
                message = f"more than {max_depth} levels below its root {ids[top]!r}"
                bad.append((j, Violation(accounts.path(j, "parent_id"), message)))
    bad.sort(key=lambda iv: iv[0])
    return _Forest(parent, depth, detached), [v for _, v in bad]


def _cycle_message(cycle: list[str]) -> str:
    shown = cycle[:_CYCLE_NAMES_SHOWN]
    tail = " → …" if len(cycle) > len(shown) else f" → {cycle[0]!r}"
    chain = " → ".join(repr(c) for c in shown)
    return f"parent links form a cycle of {len(cycle)} accounts: {chain}{tail}"


_ROLL_UP_PATH = re.compile(r"^parents\[(\d+)\](?:\.children\[(\d+)\])?")


def _roll_up(
    request: enterprise_pb2.RollUpEnterpriseHealthRequest,
    parents: list[int],
    children: list[list[int]],
    accounts: RequestAccounts,
) -> enterprise_pb2.RollUpEnterpriseHealthResponse:
    """One level's roll-up, with violation paths (e.g. a contract value sum beyond int64) made
    to name the caller's accounts instead of the internal roll-up request."""
    try:
        return engine.roll_up_enterprise_health(request)
    except InvalidInputError as exc:
        violations = []
        for v in exc.violations:
            match = _ROLL_UP_PATH.match(v.path)
            if match is None:
                violations.append(v)
                continue
            p = parents[int(match[1])]
            i = p if match[2] is None else children[p][int(match[2])]
            violations.append(Violation(accounts.path(i, "id"), v.message))
        raise InvalidAccountsError(str(exc), violations) from exc


def score_hierarchy(
    compiled: engine.CompiledRuleset,
    ruleset: ruleset_pb2.Ruleset,
    request: bytes,
    *,
    ruleset_name: str,
    max_accounts: int = MAX_ACCOUNTS,
    max_depth: int = MAX_DEPTH,
    cancel: engine.CancelToken | None = None,
) -> scoring_service_pb2.ScoreHierarchyResponse:
    """Scores a serialized `ScoreHierarchyRequest`: own health of every account, enterprise
    health of every parent. `ruleset` is the one `compiled` was compiled from (its model and
    enterprise settings drive the roll-up). Raises `InvalidAccountsError` naming every bad link
    (self-parent, cycle, too deep) and every bad account value together. With `cancel`, the
    own-health scoring stops early once the token is cancelled or its deadline passes."""
    accounts = request_accounts(_parse(request), max_accounts)
    n = len(accounts.ids)
    forest, bad = _link(accounts, max_depth)
    try:
        # ScoreHierarchyRequest shares fields 1-5 with ScoreAccountsRequest: the bytes go as
        # they are, and the core skips the rest.
        # The response's `results` is field 1 of both messages, so it parses as ours directly.
        own = compiled.score_bytes(request, cancel)
    except InvalidAccountsError as exc:
        raise InvalidAccountsError(str(exc), [*bad, *exc.violations]) from exc
    if bad:
        raise InvalidAccountsError("invalid account hierarchy", bad)

    children: list[list[int]] = [[] for _ in range(n)]
    for i, p in enumerate(forest.parent):
        if p != _NO_PARENT:
            children[p].append(i)
    by_depth: dict[int, list[int]] = {}
    for i in range(n):
        if children[i]:
            by_depth.setdefault(forest.depth[i], []).append(i)

    response = scoring_service_pb2.ScoreHierarchyResponse.FromString(own)
    response.ruleset = ruleset_name
    response.detached_account_ids.extend(accounts.ids[i] for i in forest.detached)
    # The health each account brings to its parent: its own, replaced by its enterprise health
    # once it has been rolled up.
    rank = [r.rank for r in response.results]
    score = [r.score if r.HasField("score") else None for r in response.results]
    for level in sorted(by_depth, reverse=True):
        parents = by_depth[level]
        roll_up = enterprise_pb2.RollUpEnterpriseHealthRequest(
            model=ruleset.model, settings=ruleset.settings.enterprise
        )
        for p in parents:
            entry = roll_up.parents.add(parent_id=accounts.ids[p])
            for c in children[p]:
                entry.children.add(
                    account_id=accounts.ids[c],
                    rank=rank[c],
                    score=score[c],
                    contract_value=accounts.contract_values[c],
                )
        rolled = _roll_up(roll_up, parents, children, accounts)
        for p, health in zip(parents, rolled.parents, strict=True):
            rank[p] = health.rank
            score[p] = health.score if health.HasField("score") else None
        response.enterprise.extend(rolled.parents)
    return response
