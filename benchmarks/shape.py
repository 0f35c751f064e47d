"""The workload's shape alone (`Workload`), importing nothing heavy: the Polars script's process
loads this and Polars, and nothing of ours (numpy, pyarrow and the messages would add 0.2 s to
the baseline's time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workload:
    dimensions: int = 5
    metrics_per_dimension: int = 4
    missing_share: float = 0.05
    seed: int = 20261122
    dimension_weights: tuple[int, ...] = (30, 25, 20, 15, 10)
    metric_weights: tuple[int, ...] = (40, 30, 20, 10)
    # (good_min_value, poor_below_value) per profile: enterprise first, default second.
    thresholds: tuple[tuple[float, float], ...] = ((60.0, 20.0), (70.0, 30.0))
    poor_max: int = 40
    good_min: int = 70

    @property
    def metric_names(self) -> list[str]:
        count = self.dimensions * self.metrics_per_dimension
        return [f"m{i:02d}" for i in range(count)]

    def dimension_of(self, metric_index: int) -> int:
        return metric_index // self.metrics_per_dimension
