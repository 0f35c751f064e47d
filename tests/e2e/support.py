"""Building blocks of the end-to-end tests: small profiles over the default catalog, accounts,
and the details of a failed call's status."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from healthscore_client.v1 import criteria_pb2, ruleset_pb2, scoring_pb2

MD_DRAFT = "models/multidimensional/draft"
AH_DRAFT = "models/account-health/draft"


def number(attribute: str, op: int, x: float) -> criteria_pb2.Criterion:
    return criteria_pb2.Criterion(
        predicate=criteria_pb2.Predicate(attribute=attribute, operator=op, number=x)
    )


def engagement_profile(name: str = "engagement", good: float = 70, poor: float = 30) -> Any:
    """A multidimensional profile on `engagement_score` alone: good >= `good`, poor < `poor`."""
    return ruleset_pb2.Profile(
        name=name,
        dimensions=[ruleset_pb2.ProfileDimension(dimension="usage", weight=100)],
        metrics=[
            ruleset_pb2.Metric(
                attribute="engagement_score",
                weight=100,
                good=number("engagement_score", criteria_pb2.OPERATOR_GREATER_THAN_OR_EQUAL, good),
                poor=number("engagement_score", criteria_pb2.OPERATOR_LESS_THAN, poor),
            )
        ],
    )


def engagement_category_profile(name: str = "engagement-rules") -> Any:
    """An Account Health profile with one category on `engagement_score`."""
    return ruleset_pb2.Profile(
        name=name,
        categories=[
            ruleset_pb2.Category(
                name="usage",
                good=[number("engagement_score", criteria_pb2.OPERATOR_GREATER_THAN_OR_EQUAL, 70)],
                poor=[number("engagement_score", criteria_pb2.OPERATOR_LESS_THAN, 30)],
            )
        ],
    )


def accounts_request(**engagement: float) -> scoring_pb2.ScoreAccountsRequest:
    """One account per keyword: id = the keyword, `engagement_score` = its value."""
    request = scoring_pb2.ScoreAccountsRequest()
    for account_id, value in engagement.items():
        account = request.accounts.add(id=account_id)
        account.attributes["engagement_score"].number_value = value
    return request


def rpc_error(call: Callable[[], object]) -> grpc.RpcError:
    """The error a call fails with (the test fails if it succeeds)."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded")


def details(error: grpc.RpcError) -> dict[str, Any]:
    """The status details of a failed call, by message name."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    found: dict[str, Any] = {}
    assert status is not None, "no rich status"
    for packed in status.details:
        for kind in (
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ErrorInfo,
        ):
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found[kind.DESCRIPTOR.name] = message
    return found


def violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) of a BadRequest, or (subject, description) of a
    PreconditionFailure."""
    d = details(error)
    if "BadRequest" in d:
        return [(v.field, v.description) for v in d["BadRequest"].field_violations]
    return [(v.subject, v.description) for v in d["PreconditionFailure"].violations]
