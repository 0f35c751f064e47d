"""What a data engineer would write instead of our kernel: the workload as Polars expressions.

Same arithmetic as SPEC §5 (exact integers, half-up rounding), for this workload's shape only:
single-predicate good/poor thresholds per profile, ignore-missing on. Each level (metric scores,
effective weights, dimension scores, account score) is materialised as columns before the next
refers to it by name, as one would write it by hand.
"""

from __future__ import annotations

import polars as pl

from benchmarks.workload import Workload


def _round_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """Half-up rounding of num/den for non-negative integers: floor((2n + d) / 2d)."""
    return (2 * num + den) // (2 * den)


def _weighted_mean(
    scores: list[str], weights: list[int], prefix: str
) -> tuple[list[pl.Expr], pl.Expr]:
    """Effective weights (redistributed over the non-null scores) and the rounded mean."""
    present = pl.sum_horizontal(
        [pl.col(s).is_not_null().cast(pl.Int64) * w for s, w in zip(scores, weights, strict=True)]
    )
    effective = [
        pl.when(pl.col(s).is_not_null())
        .then(_round_div(pl.lit(100 * w), present))
        .otherwise(0)
        .alias(f"{prefix}{i}")
        for i, (s, w) in enumerate(zip(scores, weights, strict=True))
    ]
    names = [f"{prefix}{i}" for i in range(len(scores))]
    num = pl.sum_horizontal(
        [pl.col(s).fill_null(0) * pl.col(e) for s, e in zip(scores, names, strict=True)]
    )
    den = pl.sum_horizontal([pl.col(e) for e in names])
    return effective, pl.when(den > 0).then(_round_div(num, den)).otherwise(None)


def score_frame(w: Workload, frame: pl.DataFrame) -> pl.DataFrame:
    """Returns `account_id`, `score` (null when no data) and `rank` for every account."""
    enterprise = pl.col("segment") == "enterprise"
    (good_a, poor_a), (good_b, poor_b) = w.thresholds
    good = pl.when(enterprise).then(good_a).otherwise(good_b)
    poor = pl.when(enterprise).then(poor_a).otherwise(poor_b)
    lazy = frame.lazy().with_columns(
        pl.when(pl.col(name) < poor)
        .then(0)
        .when(pl.col(name) >= good)
        .then(100)
        .when(pl.col(name).is_null())
        .then(None)
        .otherwise(60)
        .cast(pl.Int64)
        .alias(f"s_{name}")
        for name in w.metric_names
    )
    per_dim = w.metrics_per_dimension
    dimension_names = [f"dim{d}" for d in range(w.dimensions)]
    for d, dim in enumerate(dimension_names):
        scores = [f"s_{n}" for n in w.metric_names[d * per_dim : (d + 1) * per_dim]]
        effective, mean = _weighted_mean(scores, list(w.metric_weights), f"w_{dim}_")
        lazy = lazy.with_columns(effective).with_columns(mean.alias(dim))
    effective, score = _weighted_mean(dimension_names, list(w.dimension_weights), "w_account_")
    lazy = lazy.with_columns(effective).with_columns(score.alias("score"))
    rank = (
        pl.when(pl.col("score").is_null())
        .then(pl.lit("UNKNOWN"))
        .when(pl.col("score") <= w.poor_max)
        .then(pl.lit("POOR"))
        .when(pl.col("score") >= w.good_min)
        .then(pl.lit("GOOD"))
        .otherwise(pl.lit("AVERAGE"))
    )
    return lazy.select(pl.col("id").alias("account_id"), "score", rank.alias("rank")).collect()
