"""Preview of a ruleset (a draft, or a version) over a set of accounts, side by side with a
baseline: what each would make of the accounts, and which accounts would change rank.

The admins' "preview" and "side-by-side" views of the seeds: the two rulesets may be of different
models (Account Health against Multidimensional, before switching).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Protocol

from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError

from healthscore import engine, wire
from healthscore.domain.hierarchy import MAX_ACCOUNTS, RequestAccounts, request_accounts
from healthscore.errors import InvalidAccountsError, MalformedInputError, Violation
from healthscore_client.v1 import (
    health_pb2,
    ruleset_pb2,
    scoring_pb2,
    scoring_service_pb2,
)

_RANKS = (
    health_pb2.HEALTH_RANK_GOOD,
    health_pb2.HEALTH_RANK_AVERAGE,
    health_pb2.HEALTH_RANK_POOR,
    health_pb2.HEALTH_RANK_UNKNOWN,
)
_I64 = range(-(2**63), 2**63)
# Fields of PreviewDraftRequest that ScoreAccountsRequest reads alike: the accounts.
_ACCOUNT_FIELDS = (1, 2)


class NamedRuleset(Protocol):
    """A ruleset to score with and what to call it (`registry.Scorer` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def ruleset(self) -> ruleset_pb2.Ruleset: ...
    @property
    def compiled(self) -> engine.CompiledRuleset: ...


def preview(
    preview: NamedRuleset,
    baseline: NamedRuleset,
    request: bytes,
    *,
    max_accounts: int = MAX_ACCOUNTS,
    cancel: engine.CancelToken | None = None,
) -> scoring_service_pb2.PreviewDraftResponse:
    """Scores a serialized `PreviewDraftRequest`'s accounts with both rulesets and summarizes
    each (`RulesetSummary`), listing the accounts whose rank differs. Raises
    `InvalidAccountsError` naming every bad account field (or more than `max_accounts`
    accounts), `MalformedInputError` for bytes that are not the message; with `cancel`, the
    scoring stops early once the token is cancelled or its deadline passes."""
    try:
        parsed = scoring_service_pb2.PreviewDraftRequest.FromString(request)
    except DecodeError as exc:
        raise MalformedInputError(f"malformed input: {exc}") from exc
    accounts = request_accounts(parsed, max_accounts)
    as_of = parsed.as_of if parsed.HasField("as_of") else _now()
    # The accounts go to the core as the caller's bytes (fields 1-2 shared with
    # ScoreAccountsRequest), followed by an encoded ScoreAccountsRequest holding only `as_of` and
    # `view`: concatenated protobuf messages merge, so the core reads one request with both.
    # Fields 5-6 are left out: PreviewDraftRequest's field 6 is a string where
    # ScoreAccountsRequest's is a bool, and the core rejects the wire type. One `as_of` for both
    # rulesets, so that "now" cannot differ between them.
    options = scoring_pb2.ScoreAccountsRequest(as_of=as_of, view=scoring_pb2.SCORE_VIEW_DIMENSIONS)
    scoring_request = _account_fields(request) + options.SerializeToString()
    previewed = _score(preview.compiled, scoring_request, cancel)
    compared = _score(baseline.compiled, scoring_request, cancel)
    response = scoring_service_pb2.PreviewDraftResponse(
        ruleset=preview.name,
        baseline_ruleset=baseline.name,
        preview=_summary(preview.ruleset, previewed, accounts),
        baseline=_summary(baseline.ruleset, compared, accounts),
    )
    for p, b in zip(previewed, compared, strict=True):
        if p.rank != b.rank:
            response.rank_changes.add(
                account_id=p.account_id,
                baseline_rank=b.rank,
                preview_rank=p.rank,
                baseline_score=b.score if b.HasField("score") else None,
                preview_score=p.score if p.HasField("score") else None,
            )
    return response


def _now() -> timestamp_pb2.Timestamp:
    instant = timestamp_pb2.Timestamp()
    instant.FromNanoseconds(time.time_ns())
    return instant


def _score(
    compiled: engine.CompiledRuleset, request: bytes, cancel: engine.CancelToken | None
) -> Sequence[health_pb2.AccountHealth]:
    return scoring_pb2.ScoreAccountsResponse.FromString(
        compiled.score_bytes(request, cancel)
    ).results


def _skip(data: bytes, pos: int, wire_type: int) -> int:
    """The position after a field's value (bytes a protobuf parser has accepted already)."""
    if wire_type == 0:
        return wire.read_varint(data, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 2:
        length, pos = wire.read_varint(data, pos)
        return pos + length
    if wire_type == 5:
        return pos + 4
    while True:  # a group: its fields up to the end-group key
        key, pos = wire.read_varint(data, pos)
        if key & 7 == 4:
            return pos
        pos = _skip(data, pos, key & 7)


def _account_fields(request: bytes) -> bytes:
    """The request without its top-level fields other than the accounts: a walk over field keys
    and lengths that copies no account (only the few spans between dropped fields)."""
    spans: list[bytes] = []
    kept_from = pos = 0
    while pos < len(request):
        field_start = pos
        key, pos = wire.read_varint(request, pos)
        pos = _skip(request, pos, key & 7)
        if key >> 3 not in _ACCOUNT_FIELDS:
            spans.append(request[kept_from:field_start])
            kept_from = pos
    if not spans:
        return request
    spans.append(request[kept_from:])
    return b"".join(spans)


def _mean(scores: Sequence[int]) -> float | None:
    return sum(scores) / len(scores) if scores else None


def _rank_summaries(
    ranked: Iterable[tuple[int, health_pb2.HealthRank.ValueType]], accounts: RequestAccounts
) -> list[scoring_service_pb2.RankSummary]:
    """Count and contract value per rank (GOOD, AVERAGE, POOR, UNKNOWN) of (account index, rank)
    pairs; anything but GOOD, AVERAGE or POOR counts as UNKNOWN."""
    counts = dict.fromkeys(_RANKS, 0)
    values = dict.fromkeys(_RANKS, 0)
    for i, rank in ranked:
        rank = rank if rank in counts else health_pb2.HEALTH_RANK_UNKNOWN
        counts[rank] += 1
        values[rank] += accounts.contract_values[i] or 0
        if values[rank] not in _I64:
            name = health_pb2.HealthRank.Name(rank)
            raise InvalidAccountsError(
                "contract values too large",
                [
                    Violation(
                        accounts.path(i, "contract_value"),
                        f"the contract values of the {name} accounts sum beyond int64",
                    )
                ],
            )
    return [
        scoring_service_pb2.RankSummary(rank=r, account_count=counts[r], contract_value=values[r])
        for r in _RANKS
    ]


def _dimension_names(ruleset: ruleset_pb2.Ruleset) -> list[str]:
    """Every dimension (Account Health: category) of the ruleset, in order of first use."""
    names: dict[str, None] = {}
    for profile in ruleset.profiles:
        names.update(dict.fromkeys(d.dimension for d in profile.dimensions))
        names.update(dict.fromkeys(c.name for c in profile.categories))
    return list(names)


def _summary(
    ruleset: ruleset_pb2.Ruleset,
    results: Sequence[health_pb2.AccountHealth],
    accounts: RequestAccounts,
) -> scoring_service_pb2.RulesetSummary:
    matched: dict[str, list[health_pb2.AccountHealth]] = {p.name: [] for p in ruleset.profiles}
    unmatched: list[str] = []
    dimension_ranks: dict[str, list[tuple[int, health_pb2.HealthRank.ValueType]]] = {
        name: [] for name in _dimension_names(ruleset)
    }
    dimension_scores: dict[str, list[int]] = {name: [] for name in dimension_ranks}
    for i, result in enumerate(results):
        if result.profile:
            matched[result.profile].append(result)
        elif result.unknown_reason == health_pb2.UNKNOWN_REASON_NO_PROFILE:
            unmatched.append(result.account_id)
        for dimension in result.dimensions:
            dimension_ranks[dimension.dimension].append((i, dimension.rank))
            if dimension.HasField("score"):
                dimension_scores[dimension.dimension].append(dimension.score)
        for category in result.categories:
            dimension_ranks[category.category].append((i, category.rank))

    summary = scoring_service_pb2.RulesetSummary(
        account_count=len(results),
        unmatched_account_ids=unmatched,
        average_score=_mean([r.score for r in results if r.HasField("score")]),
        ranks=_rank_summaries(((i, r.rank) for i, r in enumerate(results)), accounts),
    )
    for name, members in matched.items():
        summary.profiles.add(
            profile=name,
            account_ids=[r.account_id for r in members],
            average_score=_mean([r.score for r in members if r.HasField("score")]),
        )
    for name, ranked in dimension_ranks.items():
        summary.dimensions.add(
            dimension=name,
            average_score=_mean(dimension_scores[name]),
            ranks=_rank_summaries(ranked, accounts),
        )
    return summary
