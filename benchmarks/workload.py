"""The core benchmark's workload: accounts x NUMBER metrics in dimensions, two profiles.

The first profile applies to accounts whose `segment` is "enterprise" (about half), the second is a
default profile; they differ in their good/poor thresholds. About 5 % of values are missing and
ignore-missing is on, so weight redistribution is exercised on most accounts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from benchmarks.shape import Workload
from healthscore_client.v1 import (
    account_pb2,
    catalog_pb2,
    criteria_pb2,
    ruleset_pb2,
    scoring_pb2,
)

__all__ = [
    "Workload",  # defined in benchmarks/shape.py, which the Polars script's process imports
    "build_batch",
    "build_request_columns",
    "build_request_rows",
    "build_ruleset",
]


def _number(
    attribute: str, op: criteria_pb2.Operator.ValueType, x: float
) -> criteria_pb2.Criterion:
    return criteria_pb2.Criterion(
        predicate=criteria_pb2.Predicate(attribute=attribute, operator=op, number=x)
    )


def build_ruleset(w: Workload) -> ruleset_pb2.Ruleset:
    catalog = catalog_pb2.Catalog(
        dimensions=[catalog_pb2.Dimension(name=f"d{d}") for d in range(w.dimensions)],
        attributes=[
            catalog_pb2.Attribute(
                name=name, type=catalog_pb2.ATTRIBUTE_TYPE_NUMBER, dimension=f"d{w.dimension_of(i)}"
            )
            for i, name in enumerate(w.metric_names)
        ]
        + [catalog_pb2.Attribute(name="segment", type=catalog_pb2.ATTRIBUTE_TYPE_TEXT)],
    )
    profiles = []
    for index, (good, poor) in enumerate(w.thresholds):
        profile = ruleset_pb2.Profile(name=f"profile-{index}")
        if index == 0:
            profile.segment.predicate.CopyFrom(
                criteria_pb2.Predicate(
                    attribute="segment", operator=criteria_pb2.OPERATOR_EQUAL, text="enterprise"
                )
            )
        for d, weight in enumerate(w.dimension_weights):
            profile.dimensions.add(dimension=f"d{d}", weight=weight)
        for i, name in enumerate(w.metric_names):
            profile.metrics.append(
                ruleset_pb2.Metric(
                    attribute=name,
                    weight=w.metric_weights[i % w.metrics_per_dimension],
                    good=_number(name, criteria_pb2.OPERATOR_GREATER_THAN_OR_EQUAL, good),
                    poor=_number(name, criteria_pb2.OPERATOR_LESS_THAN, poor),
                )
            )
        profiles.append(profile)
    return ruleset_pb2.Ruleset(
        version="bench/1",
        model=ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL,
        catalog=catalog,
        settings=ruleset_pb2.ModelSettings(
            poor_max=w.poor_max, good_min=w.good_min, ignore_missing=True
        ),
        profiles=profiles,
    )


def build_batch(w: Workload, accounts: int) -> pa.RecordBatch:
    """The accounts as an Arrow batch: `id`, `segment`, one float64 column per metric."""
    rng = np.random.default_rng(w.seed)
    columns: dict[str, pa.Array] = {
        "id": pa.array([f"acct-{i}" for i in range(accounts)], pa.string()),
        "segment": pa.array(np.where(rng.random(accounts) < 0.5, "enterprise", "smb"), pa.string()),
    }
    for name in w.metric_names:
        values = np.round(rng.random(accounts) * 100.0, 1)
        missing = rng.random(accounts) < w.missing_share
        columns[name] = pa.array(values, pa.float64(), mask=missing)
    return pa.RecordBatch.from_pydict(columns)


def build_request_rows(batch: pa.RecordBatch) -> scoring_pb2.ScoreAccountsRequest:
    """The same accounts in row form (one `Account` with a map of values each)."""
    request = scoring_pb2.ScoreAccountsRequest()
    data = batch.to_pydict()
    names = [n for n in batch.schema.names if n not in ("id", "segment")]
    for row in range(batch.num_rows):
        account = request.accounts.add(id=data["id"][row])
        account.attributes["segment"].text_value = data["segment"][row]
        for name in names:
            value = data[name][row]
            if value is not None:
                account.attributes[name].number_value = value
    return request


def build_request_columns(batch: pa.RecordBatch) -> scoring_pb2.ScoreAccountsRequest:
    """The same accounts in the columnar protobuf form."""
    columns = account_pb2.AccountColumns(ids=batch.column("id").to_pylist())
    segment = columns.columns.add(attribute="segment")
    segment.texts.values.extend(batch.column("segment").to_pylist())
    for name in batch.schema.names:
        if name in ("id", "segment"):
            continue
        array = batch.column(name)
        column = columns.columns.add(attribute=name)
        column.numbers.values.extend(array.fill_null(0.0).to_numpy(zero_copy_only=False))
        if array.null_count:
            validity = array.buffers()[0]
            column.validity = validity.to_pybytes()[: (len(array) + 7) // 8]
    return scoring_pb2.ScoreAccountsRequest(account_columns=columns)
