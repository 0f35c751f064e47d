"""Python SDK for the healthscore gRPC service.

    from healthscore_client import HealthScoreClient

    with HealthScoreClient("127.0.0.1:50051", token="hs_...") as client:
        draft = client.get_draft("multidimensional")
        response = client.score_accounts([{"id": "a1", "nps": 42}])

`HealthScoreClient` has one typed method per RPC (`AsyncHealthScoreClient`: the same on
grpc.aio); failures raise `HealthScoreError` subclasses;
`from_dicts`, `from_arrow` and `from_pandas` build accounts. The generated messages are in
`healthscore_client.v1`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from healthscore_client._calls import Model
    from healthscore_client.accounts import AccountsInput, from_arrow, from_dicts, from_pandas
    from healthscore_client.aio import AsyncHealthScoreClient
    from healthscore_client.client import HealthScoreClient
    from healthscore_client.errors import (
        AbortedError,
        AlreadyExistsError,
        CancelledError,
        DataLossError,
        DeadlineExceededError,
        FailedPreconditionError,
        FieldViolation,
        HealthScoreError,
        InternalError,
        InvalidArgumentError,
        NotFoundError,
        OutOfRangeError,
        PermissionDeniedError,
        PreconditionViolation,
        ResourceExhaustedError,
        UnauthenticatedError,
        UnavailableError,
        UnimplementedError,
        UnknownError,
    )

# Imported on first use (PEP 562): `import healthscore_client.v1` (the server, the CLI) loads only
# the messages, not grpc.aio and the client stack (~0.4 s).
_LAZY = {
    "AbortedError": "healthscore_client.errors",
    "AccountsInput": "healthscore_client.accounts",
    "AlreadyExistsError": "healthscore_client.errors",
    "AsyncHealthScoreClient": "healthscore_client.aio",
    "CancelledError": "healthscore_client.errors",
    "DataLossError": "healthscore_client.errors",
    "DeadlineExceededError": "healthscore_client.errors",
    "FailedPreconditionError": "healthscore_client.errors",
    "FieldViolation": "healthscore_client.errors",
    "HealthScoreClient": "healthscore_client.client",
    "HealthScoreError": "healthscore_client.errors",
    "InternalError": "healthscore_client.errors",
    "InvalidArgumentError": "healthscore_client.errors",
    "Model": "healthscore_client._calls",
    "NotFoundError": "healthscore_client.errors",
    "OutOfRangeError": "healthscore_client.errors",
    "PermissionDeniedError": "healthscore_client.errors",
    "PreconditionViolation": "healthscore_client.errors",
    "ResourceExhaustedError": "healthscore_client.errors",
    "UnauthenticatedError": "healthscore_client.errors",
    "UnavailableError": "healthscore_client.errors",
    "UnimplementedError": "healthscore_client.errors",
    "UnknownError": "healthscore_client.errors",
    "from_arrow": "healthscore_client.accounts",
    "from_dicts": "healthscore_client.accounts",
    "from_pandas": "healthscore_client.accounts",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'healthscore_client' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "AbortedError",
    "AccountsInput",
    "AlreadyExistsError",
    "AsyncHealthScoreClient",
    "CancelledError",
    "DataLossError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "HealthScoreClient",
    "HealthScoreError",
    "InternalError",
    "InvalidArgumentError",
    "Model",
    "NotFoundError",
    "OutOfRangeError",
    "PermissionDeniedError",
    "PreconditionViolation",
    "ResourceExhaustedError",
    "UnauthenticatedError",
    "UnavailableError",
    "UnimplementedError",
    "UnknownError",
    "from_arrow",
    "from_dicts",
    "from_pandas",
]
