"""Rich renderings of the scoring responses: result tables, explanations, preview comparisons and
hierarchy trees. Pure functions of the messages (and of the accounts sent, for the values shown);
`scoring.py` does the I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from healthscore.admin.common import rank_text
from healthscore_client.v1 import (
    account_pb2,
    enterprise_pb2,
    health_pb2,
    scoring_service_pb2,
)

_NO_VALUE = "[dim]no value[/]"
_UNKNOWN_REASONS: dict[int, str] = {
    health_pb2.UNKNOWN_REASON_CANCELLED: "cancelled",
    health_pb2.UNKNOWN_REASON_NO_PROFILE: "no profile matches",
    health_pb2.UNKNOWN_REASON_NO_DATA: "every dimension ignored: no data",
    health_pb2.UNKNOWN_REASON_NO_CHILD_DATA: "no child with known health",
}
_RANKS = (
    health_pb2.HEALTH_RANK_GOOD,
    health_pb2.HEALTH_RANK_AVERAGE,
    health_pb2.HEALTH_RANK_POOR,
    health_pb2.HEALTH_RANK_UNKNOWN,
)


def rank(value: int, reason: int = health_pb2.UNKNOWN_REASON_UNSPECIFIED) -> str:
    """A rank in its colour, with the reason when it is UNKNOWN."""
    text = rank_text(health_pb2.HealthRank.Name(value))  # type: ignore[arg-type]
    return f"{text} ({_UNKNOWN_REASONS[reason]})" if reason in _UNKNOWN_REASONS else text


def score_and_rank(has_score: bool, score: int, value: int, reason: int = 0) -> str:
    return f"{score} {rank(value, reason)}" if has_score else rank(value, reason)


def _optional(message: object, field: str, fmt: str = "{}") -> str:
    has = message.HasField(field)  # type: ignore[attr-defined]
    return fmt.format(getattr(message, field)) if has else "-"


def money(minor_units: int) -> str:
    """Integer minor units as major units, exactly (no binary floating point)."""
    sign = "-" if minor_units < 0 else ""
    major, minor = divmod(abs(minor_units), 100)
    return f"{sign}{major:,}.{minor:02d}"


def value_text(value: account_pb2.Value | None) -> str:
    """An attribute value as sent; `no value` when absent or empty (SPEC §1)."""
    if value is None:
        return _NO_VALUE
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        return _NO_VALUE if value.number_value != value.number_value else f"{value.number_value:g}"
    if kind == "text_value":
        return value.text_value or _NO_VALUE
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "time_value":
        instant = value.time_value.ToDatetime(tzinfo=dt.UTC)
        return instant.strftime("%Y-%m-%d" if instant.time() == dt.time() else "%Y-%m-%d %H:%M")
    return _NO_VALUE


# --- score ---------------------------------------------------------------------------------------


def results_table(ruleset: str, results: Iterable[health_pb2.AccountHealth]) -> Table:
    """One row per account: id, profile, score, rank."""
    table = Table(title=f"Health ({ruleset})", title_justify="left")
    table.add_column("account")
    table.add_column("profile")
    table.add_column("score", justify="right")
    table.add_column("rank")
    for result in results:
        table.add_row(
            result.account_id,
            result.profile or "-",
            _optional(result, "score"),
            rank(result.rank, result.unknown_reason),
        )
    return table


def explanation(result: health_pb2.AccountHealth, account: account_pb2.Account) -> RenderableType:
    """Why an account has its health (a FULL view result): multidimensional, each dimension and
    metric with its value, outcome, score and effective weight; Account Health, each category and
    the criteria that explain it."""
    health = score_and_rank(
        result.HasField("score"), result.score, result.rank, result.unknown_reason
    )
    headline = Text.from_markup(
        f"[bold]{result.account_id}[/]  profile {result.profile or '-'}  {health}"
    )
    if result.categories:
        return Group(headline, _categories_table(result))
    if not result.dimensions:
        return headline
    return Group(headline, _dimensions_table(result, account), Text(_score_formula(result)))


def _within(criterion: str) -> str:
    # `profiles[0].metrics[2].poor` -> `metrics[2].poor`: the headline names the profile.
    return criterion.split(".", 1)[1] if criterion.startswith("profiles[") else criterion


def _criteria_by_subject(result: health_pb2.AccountHealth) -> dict[str, list[str]]:
    """Per metric (or category), the criteria behind its rank: the poor ones that held, or when
    none did, the good ones that failed (poor takes precedence; the JSON output has both)."""
    held: dict[str, list[str]] = {}
    failed: dict[str, list[str]] = {}
    for reason in result.reasons:
        if reason.kind == health_pb2.REASON_KIND_POOR_CRITERION_HELD:
            held.setdefault(reason.subject, []).append(f"poor held: {_within(reason.criterion)}")
        else:
            failed.setdefault(reason.subject, []).append(
                f"good failed: {_within(reason.criterion)}"
            )
    return {subject: held.get(subject) or failed[subject] for subject in {*held, *failed}}


def _metric_note(metric: health_pb2.MetricHealth, has_value: bool, criteria: Sequence[str]) -> str:
    if metric.outcome == health_pb2.METRIC_OUTCOME_IGNORED:
        return "weight redistributed"
    if not has_value and metric.outcome == health_pb2.METRIC_OUTCOME_AVERAGE:
        return "no value: average (ignore missing is off)"
    return "\n".join(criteria)


def _score_formula(result: health_pb2.AccountHealth) -> str:
    """SPEC §5's account score from the rounded dimension scores and their effective weights."""
    kept = [d for d in result.dimensions if not d.ignored]
    if not kept or not result.HasField("score"):
        return ""
    terms = " + ".join(f"{d.score}*{d.effective_weight}" for d in kept)
    total = sum(d.effective_weight for d in kept)
    return f"score = round(({terms}) / {total}) = {result.score}"


def _dimensions_table(result: health_pb2.AccountHealth, account: account_pb2.Account) -> Table:
    table = Table()
    table.add_column("dimension / metric", no_wrap=True)
    table.add_column("value")
    table.add_column("outcome")
    table.add_column("score", justify="right")
    table.add_column("eff. weight", justify="right")
    table.add_column("why")
    criteria = _criteria_by_subject(result)
    for dimension in result.dimensions:
        table.add_row(
            Text(dimension.dimension, style="bold"),
            "",
            rank(dimension.rank),
            _optional(dimension, "score"),
            f"{dimension.effective_weight}%",
            "every metric ignored" if dimension.ignored else "",
        )
        for metric in dimension.metrics:
            value = account.attributes.get(metric.attribute)
            has_value = value_text(value) != _NO_VALUE
            outcome = health_pb2.MetricOutcome.Name(metric.outcome)
            outcome = outcome.removeprefix("METRIC_OUTCOME_")
            table.add_row(
                f"  {metric.attribute}",
                value_text(value),
                rank_text(outcome) if outcome != "IGNORED" else "[dim]ignored[/]",
                _optional(metric, "score"),
                f"{metric.effective_weight}%",
                _metric_note(metric, has_value, criteria.get(metric.attribute, ())),
            )
    return table


def _categories_table(result: health_pb2.AccountHealth) -> Table:
    table = Table()
    table.add_column("category")
    table.add_column("rank")
    table.add_column("why")
    criteria = _criteria_by_subject(result)
    for category in result.categories:
        table.add_row(
            category.category,
            rank(category.rank),
            "\n".join(criteria.get(category.category, ())),
        )
    return table


# --- preview -------------------------------------------------------------------------------------


def _average(summary: object) -> str:
    return _optional(summary, "average_score", "{:.1f}")


def _ranks(summaries: Iterable[scoring_service_pb2.RankSummary]) -> dict[int, tuple[int, int]]:
    return {s.rank: (s.account_count, s.contract_value) for s in summaries}


def _change(before: float | None, after: float | None, fmt: str = "{:+g}") -> str:
    if before is None or after is None or before == after:
        return ""
    return fmt.format(after - before)


def preview_tables(response: scoring_service_pb2.PreviewDraftResponse) -> RenderableType:
    """The previewed ruleset's numbers side by side with the baseline's, and the rank changes."""
    base, new = response.baseline, response.preview
    heads = (f"baseline\n{response.baseline_ruleset}", f"preview\n{response.ruleset}")

    summary = Table(title="Summary", title_justify="left")
    summary.add_column("")
    for head in heads:
        summary.add_column(head, justify="right")
    summary.add_column("change", justify="right")
    summary.add_row(
        "accounts",
        str(base.account_count),
        str(new.account_count),
        _change(base.account_count, new.account_count),
    )
    summary.add_row(
        "no profile matched",
        str(len(base.unmatched_account_ids)),
        str(len(new.unmatched_account_ids)),
        _change(len(base.unmatched_account_ids), len(new.unmatched_account_ids)),
    )
    summary.add_row(
        "average score",
        _average(base),
        _average(new),
        _change(
            base.average_score if base.HasField("average_score") else None,
            new.average_score if new.HasField("average_score") else None,
            "{:+.1f}",
        ),
    )
    base_ranks, new_ranks = _ranks(base.ranks), _ranks(new.ranks)
    for value in _RANKS:
        (b_count, b_value), (n_count, n_value) = (
            base_ranks.get(value, (0, 0)),
            new_ranks.get(value, (0, 0)),
        )
        summary.add_row(
            rank(value),
            f"{b_count}  ({money(b_value)})",
            f"{n_count}  ({money(n_value)})",
            _change(b_count, n_count),
        )

    profiles = Table(title="Profiles (matched accounts, average score)", title_justify="left")
    profiles.add_column("profile")
    for head in heads:
        profiles.add_column(head, justify="right")
    base_profiles = {p.profile: p for p in base.profiles}
    new_profiles = {p.profile: p for p in new.profiles}
    for name in [*new_profiles, *(p for p in base_profiles if p not in new_profiles)]:
        profiles.add_row(
            name,
            *(
                f"{len(p.account_ids)}  avg {_average(p)}" if p is not None else "-"
                for p in (base_profiles.get(name), new_profiles.get(name))
            ),
        )

    dimensions = Table(
        title="Dimensions (average score; accounts good/average/poor/unknown)",
        title_justify="left",
    )
    dimensions.add_column("dimension")
    for head in heads:
        dimensions.add_column(head, justify="right")
    base_dimensions = {d.dimension: d for d in base.dimensions}
    new_dimensions = {d.dimension: d for d in new.dimensions}
    for name in [*new_dimensions, *(d for d in base_dimensions if d not in new_dimensions)]:
        dimensions.add_row(
            name,
            *(
                _dimension_cell(d) if d is not None else "-"
                for d in (base_dimensions.get(name), new_dimensions.get(name))
            ),
        )

    parts: list[RenderableType] = [summary, profiles, dimensions]
    if response.rank_changes:
        changes = Table(title="Rank changes", title_justify="left")
        changes.add_column("account")
        changes.add_column("baseline")
        changes.add_column("preview")
        for change in response.rank_changes:
            changes.add_row(
                change.account_id,
                score_and_rank(
                    change.HasField("baseline_score"), change.baseline_score, change.baseline_rank
                ),
                score_and_rank(
                    change.HasField("preview_score"), change.preview_score, change.preview_rank
                ),
            )
        parts.append(changes)
    else:
        parts.append(Text("No account changes rank."))
    return Group(*parts)


def _dimension_cell(summary: scoring_service_pb2.DimensionSummary) -> str:
    counts = _ranks(summary.ranks)
    spread = "/".join(str(counts.get(value, (0, 0))[0]) for value in _RANKS)
    return f"avg {_average(summary)}  {spread}"


# --- hierarchy -----------------------------------------------------------------------------------


def _enterprise_text(parent: enterprise_pb2.EnterpriseHealth) -> str:
    text = "enterprise " + score_and_rank(
        parent.HasField("score"), parent.score, parent.rank, parent.unknown_reason
    )
    if parent.pulled_down_by:
        text += f"  [red]pulled down by {', '.join(parent.pulled_down_by)}[/]"
    if parent.unknown_children:
        text += f"  [dim]left out (unknown): {', '.join(parent.unknown_children)}[/]"
    return text


def hierarchy_tree(
    accounts: Sequence[account_pb2.Account],
    response: scoring_service_pb2.ScoreHierarchyResponse,
) -> RenderableType:
    """Every account under its parent, with its own health and, for a parent, its enterprise
    health; roots (and detached accounts, whose parent is not among the accounts) at the top."""
    own: Mapping[str, health_pb2.AccountHealth] = {r.account_id: r for r in response.results}
    enterprise = {e.account_id: e for e in response.enterprise}
    detached = set(response.detached_account_ids)
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for account in accounts:
        if account.parent_id and account.id not in detached:
            children.setdefault(account.parent_id, []).append(account.id)
        else:
            roots.append(account.id)
    parent_of = {a.id: a.parent_id for a in accounts}

    def label(account_id: str) -> str:
        result = own[account_id]
        text = f"[bold]{account_id}[/]  own " + score_and_rank(
            result.HasField("score"), result.score, result.rank, result.unknown_reason
        )
        if account_id in enterprise:
            text += "  " + _enterprise_text(enterprise[account_id])
        if account_id in detached:
            text += f"  [dim](detached: parent {parent_of[account_id]} not given)[/]"
        return text

    tree = Tree(f"Hierarchy ({response.ruleset})")

    def grow(node: Tree, account_id: str) -> None:
        branch = node.add(label(account_id))
        for child in children.get(account_id, ()):
            grow(branch, child)

    for root in roots:
        grow(tree, root)
    parts: list[RenderableType] = [tree]
    if response.detached_account_ids:
        parts.append(
            Text(
                "Detached (parent not among the accounts, scored as roots): "
                + ", ".join(
                    f"{a} (parent {parent_of.get(a, '?')})" for a in response.detached_account_ids
                )
            )
        )
    return Group(*parts)
