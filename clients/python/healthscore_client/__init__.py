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
