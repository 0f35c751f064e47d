"""What a data engineer would write instead of our kernel: the workload as Polars expressions.

Same arithmetic as SPEC §5 (exact integers, half-up rounding), for this workload's shape only:
single-predicate good/poor thresholds per profile, ignore-missing on.
"""

from __future__ import annotations

import polars as pl

from benchmarks.workload import Workload


def _round_div(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    """Half-up rounding of num/den for non-negative integers: floor((2n + d) / 2d)."""
    return (2 * num + den) // (2 * den)


def score_frame(w: Workload, frame: pl.DataFrame) -> pl.DataFrame:
    """Returns `account_id`, `score` (null when no data) and `rank` for every account."""
    enterprise = pl.col("segment") == "enterprise"
    (good_a, poor_a), (good_b, poor_b) = w.thresholds
    good = pl.when(enterprise).then(good_a).otherwise(good_b)
    poor = pl.when(enterprise).then(poor_a).otherwise(poor_b)

    dimension_scores = []
    for d in range(w.dimensions):
        metric_scores = []
        weights = []
        for k in range(w.metrics_per_dimension):
            value = pl.col(w.metric_names[d * w.metrics_per_dimension + k])
            metric_scores.append(
                pl.when(value < poor)
                .then(0)
                .when(value >= good)
                .then(100)
                .when(value.is_null())
                .then(None)
                .otherwise(60)
                .cast(pl.Int64)
            )
            weights.append(w.metric_weights[k])
        present_weight = pl.sum_horizontal(
            [
                s.is_not_null().cast(pl.Int64) * wt
                for s, wt in zip(metric_scores, weights, strict=True)
            ]
        )
        effective = [
            pl.when(s.is_not_null()).then(_round_div(pl.lit(100 * wt), present_weight)).otherwise(0)
            for s, wt in zip(metric_scores, weights, strict=True)
        ]
        num = pl.sum_horizontal(
            [s.fill_null(0) * e for s, e in zip(metric_scores, effective, strict=True)]
        )
        den = pl.sum_horizontal(effective)
        dimension_scores.append(pl.when(den > 0).then(_round_div(num, den)).otherwise(None))

    present_weight = pl.sum_horizontal(
        [
            s.is_not_null().cast(pl.Int64) * wt
            for s, wt in zip(dimension_scores, w.dimension_weights, strict=True)
        ]
    )
    effective = [
        pl.when(s.is_not_null()).then(_round_div(pl.lit(100 * wt), present_weight)).otherwise(0)
        for s, wt in zip(dimension_scores, w.dimension_weights, strict=True)
    ]
    num = pl.sum_horizontal(
        [s.fill_null(0) * e for s, e in zip(dimension_scores, effective, strict=True)]
    )
    den = pl.sum_horizontal(effective)
    score = pl.when(den > 0).then(_round_div(num, den)).otherwise(None)
    rank = (
        pl.when(score.is_null())
        .then(pl.lit("UNKNOWN"))
        .when(score <= w.poor_max)
        .then(pl.lit("POOR"))
        .when(score >= w.good_min)
        .then(pl.lit("GOOD"))
        .otherwise(pl.lit("AVERAGE"))
    )
    return frame.select(pl.col("id").alias("account_id"), score.alias("score"), rank.alias("rank"))
