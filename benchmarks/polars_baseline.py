"""What a data engineer would write instead of our kernel: the workload as Polars expressions.

Same arithmetic as SPEC §5 (exact integers, half-up rounding), for this workload's shape only:
single-predicate good/poor thresholds per profile, ignore-missing on. Written for speed, as a
competent engineer would: 32-bit integers, ranks as an Enum, the per-row thresholds computed
once, and weight redistribution from tables. The effective weights of a dimension depend only on
which of its scores are present (2^k patterns), so they are precomputed per pattern and looked up
with `gather` instead of being divided out row by row. Each level (metric scores, dimension scores,
account score) is materialised once before the next refers to it by name.
"""

from __future__ import annotations

import sys

import polars as pl

from benchmarks.shape import Workload

INT = pl.Int32


def _redistribution(weights: list[int]) -> tuple[list[pl.Series], pl.Series]:
    """Per presence pattern (bit j set = score j present): each effective weight
    round(100 w / S), S = the present weights' sum (0 when absent), and their sum."""
    patterns = range(1 << len(weights))
    effective = [[0] * len(patterns) for _ in weights]
    for mask in patterns:
        total = sum(w for j, w in enumerate(weights) if mask >> j & 1)
        for j, w in enumerate(weights):
            if mask >> j & 1 and total > 0:
                effective[j][mask] = (200 * w + total) // (2 * total)
    sums = [sum(e[mask] for e in effective) for mask in patterns]
    return [pl.Series(e, dtype=INT) for e in effective], pl.Series(sums, dtype=INT)


def _weighted_mean(
    lazy: pl.LazyFrame, scores: list[str], weights: list[int], name: str
) -> pl.LazyFrame:
    """Adds `name`: round(sum(score * w') / sum(w')) over the non-null `scores`, null when
    none is present (or their weights are all 0)."""
    pattern = f"{name}_present"
    lazy = lazy.with_columns(
        pl.sum_horizontal(
            [pl.col(s).is_not_null().cast(INT) * (1 << j) for j, s in enumerate(scores)]
        ).alias(pattern)
    )
    effective, sums = _redistribution(weights)
    index = pl.col(pattern)
    num = pl.sum_horizontal(
        [
            pl.col(s).fill_null(0) * pl.lit(e).gather(index)
            for s, e in zip(scores, effective, strict=True)
        ]
    )
    den = pl.lit(sums).gather(index)
    return lazy.with_columns(pl.when(den > 0).then((2 * num + den) // (2 * den)).alias(name))


RANK = pl.Enum(["GOOD", "AVERAGE", "POOR", "UNKNOWN"])


def _rank(w: Workload, score: pl.Expr) -> pl.Expr:
    """UNKNOWN without a score; else POOR, GOOD or AVERAGE by the workload's thresholds. An
    Enum, not a string per row: faster to build and to write, and what rescore writes too (a
    dictionary column)."""
    return (
        pl.when(score.is_null())
        .then(pl.lit("UNKNOWN", RANK))
        .when(score <= w.poor_max)
        .then(pl.lit("POOR", RANK))
        .when(score >= w.good_min)
        .then(pl.lit("GOOD", RANK))
        .otherwise(pl.lit("AVERAGE", RANK))
    )


def score_frame(w: Workload, frame: pl.DataFrame, dimensions: bool = False) -> pl.DataFrame:
    """Returns `account_id`, `score` (null when no data) and `rank` for every account; with
    `dimensions`, also each dimension's score and rank (`d0.score`, `d0.rank`, ...: what
    `rescore --view dimensions` adds)."""
    enterprise = pl.col("segment") == "enterprise"
    (good_a, poor_a), (good_b, poor_b) = w.thresholds
    lazy = (
        frame.lazy()
        .with_columns(
            pl.when(enterprise).then(good_a).otherwise(good_b).alias("_good"),
            pl.when(enterprise).then(poor_a).otherwise(poor_b).alias("_poor"),
        )
        .with_columns(
            pl.when(pl.col(name) < pl.col("_poor"))
            .then(0)
            .when(pl.col(name) >= pl.col("_good"))
            .then(100)
            .when(pl.col(name).is_not_null())
            .then(60)
            .cast(INT)
            .alias(f"s_{name}")
            for name in w.metric_names
        )
    )
    per_dim = w.metrics_per_dimension
    dimension_names = [f"dim{d}" for d in range(w.dimensions)]
    for d, dim in enumerate(dimension_names):
        scores = [f"s_{n}" for n in w.metric_names[d * per_dim : (d + 1) * per_dim]]
        lazy = _weighted_mean(lazy, scores, list(w.metric_weights), dim)
    lazy = _weighted_mean(lazy, dimension_names, list(w.dimension_weights), "score")
    outputs = [pl.col("id").alias("account_id"), "score", _rank(w, pl.col("score")).alias("rank")]
    if dimensions:
        for d, dim in enumerate(dimension_names):
            outputs += [
                pl.col(dim).alias(f"d{d}.score"),
                _rank(w, pl.col(dim)).alias(f"d{d}.rank"),
            ]
    return lazy.select(outputs).collect()


def main(argv: list[str]) -> int:
    """`python -m benchmarks.polars_baseline SOURCE TARGET VIEW`: the script as a data engineer
    would run it (read, score, write; VIEW "dimensions" writes each dimension's score and rank
    too). Prints its thread pool's size first (the rescore benchmark checks it)."""
    source, target, view = argv
    print(f"polars_threads {pl.thread_pool_size()}", flush=True)
    frame = score_frame(Workload(), pl.read_parquet(source), dimensions=view == "dimensions")
    frame.write_parquet(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
