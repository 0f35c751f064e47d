"""What the sync and async clients share: resource names, one request builder per RPC, channel
credentials and the retry policy. A client only sends the `Call`s built here.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NoReturn, Protocol, TypeAlias, TypeVar, cast

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message

from healthscore_client import accounts as _accounts
from healthscore_client.errors import from_rpc_error
from healthscore_client.v1 import (
    account_pb2,
    account_service_pb2,
    catalog_pb2,
    health_pb2,
    history_service_pb2,
    portfolio_service_pb2,
    profile_service_pb2,
    ruleset_pb2,
    scoring_pb2,
    scoring_service_pb2,
)

ResponseT = TypeVar("ResponseT", bound=Message)


class Page(Protocol):
    """A List response (AIP-158): its items, and the token of the next page ("" on the last)."""

    @property
    def next_page_token(self) -> str: ...


_PROFILE_SERVICE = "/healthscore.v1.ProfileService/"
_SCORING_SERVICE = "/healthscore.v1.ScoringService/"
_ACCOUNT_SERVICE = "/healthscore.v1.AccountService/"
_HISTORY_SERVICE = "/healthscore.v1.HistoryService/"
_PORTFOLIO_SERVICE = "/healthscore.v1.PortfolioService/"


class Model(enum.StrEnum):
    """The health models, by the names they have in resource names (`models/{model}`)."""

    ACCOUNT_HEALTH = "account-health"
    MULTIDIMENSIONAL = "multidimensional"


ModelLike: TypeAlias = "Model | str | ruleset_pb2.HealthModel.ValueType"
"""A model: `Model.MULTIDIMENSIONAL`, `"multidimensional"` or `HEALTH_MODEL_MULTIDIMENSIONAL`."""
VersionViewLike: TypeAlias = "profile_service_pb2.VersionView.ValueType | str | None"
"""A version view: `VERSION_VIEW_FULL` or `"full"` / `"basic"`; None for the server's default."""
ScoreViewLike: TypeAlias = "scoring_pb2.ScoreView.ValueType | str | None"
"""A score view: `SCORE_VIEW_FULL` or `"basic"` / `"dimensions"` / `"full"`; None: BASIC."""
Instant: TypeAlias = "dt.datetime | timestamp_pb2.Timestamp | None"
"""An instant (a naive datetime is taken as UTC); None for now."""

_MODEL_BY_ENUM = {
    ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH: Model.ACCOUNT_HEALTH,
    ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL: Model.MULTIDIMENSIONAL,
}


def model_name(model: ModelLike) -> str:
    """`models/{model}` for any spelling of a model (ValueError for an unknown one)."""
    if isinstance(model, str):
        if model.startswith("models/"):
            return model
        return f"models/{Model(model).value}"
    if model in _MODEL_BY_ENUM:
        return f"models/{_MODEL_BY_ENUM[model].value}"
    raise ValueError(f"unknown model {model!r}: expected one of {[m.value for m in Model]}")


def draft_name(model: ModelLike) -> str:
    """`models/{model}/draft`."""
    return f"{model_name(model)}/draft"


def profile_name(model: ModelLike, profile: str) -> str:
    """`models/{model}/draft/profiles/{profile}` (a full name is returned as it is)."""
    return profile if profile.startswith("models/") else f"{draft_name(model)}/profiles/{profile}"


def version_name(model_or_name: ModelLike, version: int | None = None) -> str:
    """`models/{model}/versions/{version}`; with `version` None, `model_or_name` must be the full
    name already (e.g. an `Activation.previous_version`) and is returned as it is."""
    if version is None:
        if isinstance(model_or_name, str) and "/versions/" in model_or_name:
            return model_or_name
        raise ValueError(
            f"{model_or_name!r}: give a version number, or a full `models/{{model}}/versions/{{n}}`"
        )
    return f"{model_name(model_or_name)}/versions/{int(version)}"


def ruleset_name(ruleset: ModelLike | None) -> str:
    """A ruleset to score with: a model's spelling means its draft; a resource name (a draft or
    `models/{model}/versions/{n}`) is kept; None or "" means the active version ("")."""
    if ruleset is None or ruleset == "":
        return ""
    if isinstance(ruleset, str) and "/" in ruleset:
        return ruleset
    return draft_name(ruleset)


def _enum_value(prefix: str, enum_type: Any, view: Any) -> Any:
    if view is None:
        return 0
    if isinstance(view, str):
        return enum_type.Value(prefix + view.upper())
    return view


def version_view(view: VersionViewLike) -> profile_service_pb2.VersionView.ValueType:
    result: profile_service_pb2.VersionView.ValueType = _enum_value(
        "VERSION_VIEW_", profile_service_pb2.VersionView, view
    )
    return result


def score_view(view: ScoreViewLike) -> scoring_pb2.ScoreView.ValueType:
    result: scoring_pb2.ScoreView.ValueType = _enum_value(
        "SCORE_VIEW_", scoring_pb2.ScoreView, view
    )
    return result


def field_mask(paths: Sequence[str] | field_mask_pb2.FieldMask | None) -> field_mask_pb2.FieldMask:
    if isinstance(paths, field_mask_pb2.FieldMask):
        return paths
    if isinstance(paths, str):
        raise TypeError("update_mask: expected a sequence of paths, not one string")
    return field_mask_pb2.FieldMask(paths=list(paths or ()))


def timestamp(instant: Instant) -> timestamp_pb2.Timestamp | None:
    if instant is None or isinstance(instant, timestamp_pb2.Timestamp):
        return instant
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC))
    return stamp


def serialize(message: Message) -> bytes:
    """A request's wire form (gRPC's request serializer)."""
    return message.SerializeToString()


@dataclass(frozen=True)
class Call(Generic[ResponseT]):
    """One RPC ready to send: its method path, request and response type. Which calls gRPC
    retries, and their default deadlines, is the service config's (`service_config`)."""

    method: str
    request: Message
    response_type: type[ResponseT]


ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Pages(Generic[ResponseT, ItemT]):
    """A List RPC (AIP-158) read page by page: `call(page_token)` is the call for one page (""
    the first), `items(page)` the items of a response."""

    call: Callable[[str], Call[ResponseT]]
    items: Callable[[ResponseT], Iterable[ItemT]]

    @staticmethod
    def next_token(page: ResponseT) -> str:
        """The token of the page after `page` ("" after the last)."""
        return cast(Page, page).next_page_token


def _profiles(method: str, request: Message, response_type: type[ResponseT]) -> Call[ResponseT]:
    return Call(_PROFILE_SERVICE + method, request, response_type)


# ProfileService: the service config retries reads, never writes (a write may have happened
# before the connection broke).


def get_catalog() -> Call[catalog_pb2.Catalog]:
    request = profile_service_pb2.GetCatalogRequest(name="catalog")
    return _profiles("GetCatalog", request, catalog_pb2.Catalog)


def update_catalog(
    catalog: catalog_pb2.Catalog, update_mask: Sequence[str] | None, etag: str | None
) -> Call[catalog_pb2.Catalog]:
    request = profile_service_pb2.UpdateCatalogRequest(
        catalog=catalog, update_mask=field_mask(update_mask)
    )
    if etag is not None:
        request.catalog.etag = etag
    return _profiles("UpdateCatalog", request, catalog_pb2.Catalog)


def get_draft(model: ModelLike) -> Call[profile_service_pb2.Draft]:
    request = profile_service_pb2.GetDraftRequest(name=draft_name(model))
    return _profiles("GetDraft", request, profile_service_pb2.Draft)


def update_draft(
    model: ModelLike,
    draft: profile_service_pb2.Draft,
    update_mask: Sequence[str] | None,
    etag: str | None,
) -> Call[profile_service_pb2.Draft]:
    request = profile_service_pb2.UpdateDraftRequest(
        draft=draft, update_mask=field_mask(update_mask)
    )
    request.draft.name = draft_name(model)
    if etag is not None:
        request.draft.etag = etag
    return _profiles("UpdateDraft", request, profile_service_pb2.Draft)


def validate_draft(model: ModelLike) -> Call[profile_service_pb2.ValidateDraftResponse]:
    request = profile_service_pb2.ValidateDraftRequest(name=draft_name(model))
    return _profiles("ValidateDraft", request, profile_service_pb2.ValidateDraftResponse)


def publish_draft(
    model: ModelLike, comment: str, etag: str | None
) -> Call[profile_service_pb2.Version]:
    request = profile_service_pb2.PublishDraftRequest(
        name=draft_name(model), comment=comment, etag=etag or ""
    )
    return _profiles("PublishDraft", request, profile_service_pb2.Version)


def get_profile(model: ModelLike, profile: str) -> Call[ruleset_pb2.Profile]:
    request = profile_service_pb2.GetProfileRequest(name=profile_name(model, profile))
    return _profiles("GetProfile", request, ruleset_pb2.Profile)


def create_profile(
    model: ModelLike, profile: ruleset_pb2.Profile, position: int | None, etag: str | None
) -> Call[profile_service_pb2.Draft]:
    request = profile_service_pb2.CreateProfileRequest(
        parent=draft_name(model), profile=profile, etag=etag or "", position=position
    )
    return _profiles("CreateProfile", request, profile_service_pb2.Draft)


def update_profile(
    model: ModelLike,
    name: str,
    profile: ruleset_pb2.Profile,
    update_mask: Sequence[str] | None,
    etag: str | None,
) -> Call[profile_service_pb2.Draft]:
    request = profile_service_pb2.UpdateProfileRequest(
        name=profile_name(model, name),
        profile=profile,
        update_mask=field_mask(update_mask),
        etag=etag or "",
    )
    return _profiles("UpdateProfile", request, profile_service_pb2.Draft)


def delete_profile(
    model: ModelLike, name: str, etag: str | None
) -> Call[profile_service_pb2.Draft]:
    request = profile_service_pb2.DeleteProfileRequest(
        name=profile_name(model, name), etag=etag or ""
    )
    return _profiles("DeleteProfile", request, profile_service_pb2.Draft)


def reorder_profiles(
    model: ModelLike, names: Sequence[str], etag: str | None
) -> Call[profile_service_pb2.Draft]:
    if isinstance(names, str):
        raise TypeError("reorder_profiles: expected a sequence of profile names, not one string")
    request = profile_service_pb2.ReorderProfilesRequest(
        parent=draft_name(model), profile_names=list(names), etag=etag or ""
    )
    return _profiles("ReorderProfiles", request, profile_service_pb2.Draft)


def get_version(
    model_or_name: ModelLike, version: int | None, view: VersionViewLike
) -> Call[profile_service_pb2.Version]:
    request = profile_service_pb2.GetVersionRequest(
        name=version_name(model_or_name, version), view=version_view(view)
    )
    return _profiles("GetVersion", request, profile_service_pb2.Version)


def list_versions(
    model: ModelLike, page_size: int, page_token: str, view: VersionViewLike
) -> Call[profile_service_pb2.ListVersionsResponse]:
    request = profile_service_pb2.ListVersionsRequest(
        parent=model_name(model),
        page_size=page_size,
        page_token=page_token,
        view=version_view(view),
    )
    return _profiles("ListVersions", request, profile_service_pb2.ListVersionsResponse)


def versions(
    model: ModelLike, page_size: int, view: VersionViewLike
) -> Pages[profile_service_pb2.ListVersionsResponse, profile_service_pb2.Version]:
    return Pages(
        lambda token: list_versions(model, page_size, token, view), lambda page: page.versions
    )


def activate_version(
    model_or_name: ModelLike, version: int | None, comment: str
) -> Call[profile_service_pb2.Activation]:
    request = profile_service_pb2.ActivateVersionRequest(
        name=version_name(model_or_name, version), comment=comment
    )
    return _profiles("ActivateVersion", request, profile_service_pb2.Activation)


def get_active_version() -> Call[profile_service_pb2.Activation]:
    request = profile_service_pb2.GetActiveVersionRequest()
    return _profiles("GetActiveVersion", request, profile_service_pb2.Activation)


def list_activations(
    page_size: int, page_token: str
) -> Call[profile_service_pb2.ListActivationsResponse]:
    request = profile_service_pb2.ListActivationsRequest(page_size=page_size, page_token=page_token)
    return _profiles("ListActivations", request, profile_service_pb2.ListActivationsResponse)


def activations(
    page_size: int,
) -> Pages[profile_service_pb2.ListActivationsResponse, profile_service_pb2.Activation]:
    return Pages(lambda token: list_activations(page_size, token), lambda page: page.activations)


# ScoringService: every method is a pure function of its request: the service config retries
# the unary ones.

STREAM_SCORE_ACCOUNTS = _SCORING_SERVICE + "StreamScoreAccounts"


@dataclass(frozen=True)
class ScoreOptions:
    """How to score: the ruleset, the instant, the detail, the other model; and the catalog that
    types attributes of accounts given as dicts."""

    ruleset: ModelLike | None = None
    as_of: Instant = None
    view: ScoreViewLike = None
    include_other_model: bool = False
    other_model_ruleset: str = ""
    catalog: catalog_pb2.Catalog | None = None

    def request(self, accounts: _accounts.AccountsInput) -> scoring_pb2.ScoreAccountsRequest:
        request = scoring_pb2.ScoreAccountsRequest(
            as_of=timestamp(self.as_of),
            view=score_view(self.view),
            ruleset=ruleset_name(self.ruleset),
            include_other_model=self.include_other_model,
            other_model_ruleset=ruleset_name(self.other_model_ruleset),
        )
        _accounts.fill(request, accounts, self.catalog)
        return request


def score_accounts(
    accounts: _accounts.AccountsInput, options: ScoreOptions
) -> Call[scoring_pb2.ScoreAccountsResponse]:
    return Call(
        _SCORING_SERVICE + "ScoreAccounts",
        options.request(accounts),
        scoring_pb2.ScoreAccountsResponse,
    )


def preview_draft(
    accounts: _accounts.AccountsInput,
    ruleset: ModelLike,
    baseline: ModelLike | None,
    as_of: Instant,
    catalog: catalog_pb2.Catalog | None,
) -> Call[scoring_service_pb2.PreviewDraftResponse]:
    request = scoring_service_pb2.PreviewDraftRequest(
        ruleset=ruleset_name(ruleset),
        baseline_ruleset=ruleset_name(baseline),
        as_of=timestamp(as_of),
    )
    _accounts.fill(request, accounts, catalog)
    return Call(
        _SCORING_SERVICE + "PreviewDraft", request, scoring_service_pb2.PreviewDraftResponse
    )


def score_hierarchy(
    accounts: _accounts.AccountsInput,
    ruleset: ModelLike | None,
    view: ScoreViewLike,
    as_of: Instant,
    catalog: catalog_pb2.Catalog | None,
) -> Call[scoring_service_pb2.ScoreHierarchyResponse]:
    request = scoring_service_pb2.ScoreHierarchyRequest(
        ruleset=ruleset_name(ruleset), view=score_view(view), as_of=timestamp(as_of)
    )
    _accounts.fill(request, accounts, catalog)
    return Call(
        _SCORING_SERVICE + "ScoreHierarchy",
        request,
        scoring_service_pb2.ScoreHierarchyResponse,
    )


# AccountService: writes are idempotent (a record written twice is stored once), so the service
# config retries every unary method.

STREAM_WRITE_ACCOUNT_DATA = _ACCOUNT_SERVICE + "StreamWriteAccountData"


def account_name(account: str) -> str:
    """`accounts/{account}` (a name already of that form is kept)."""
    return account if account.startswith("accounts/") else f"accounts/{account}"


def write_request(
    records: _accounts.RecordsInput,
    catalog: catalog_pb2.Catalog | None,
    observe_time: Instant,
) -> account_service_pb2.WriteAccountDataRequest:
    when = (
        observe_time.ToDatetime(dt.UTC)
        if isinstance(observe_time, timestamp_pb2.Timestamp)
        else observe_time
    )
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return account_service_pb2.WriteAccountDataRequest(
        records=_accounts.to_records(records, catalog, when)
    )


def write_account_data(
    records: _accounts.RecordsInput, catalog: catalog_pb2.Catalog | None, observe_time: Instant
) -> Call[account_service_pb2.WriteAccountDataResponse]:
    return Call(
        _ACCOUNT_SERVICE + "WriteAccountData",
        write_request(records, catalog, observe_time),
        account_service_pb2.WriteAccountDataResponse,
    )


def get_account_health(
    account: str, view: ScoreViewLike
) -> Call[account_service_pb2.StoredAccountHealth]:
    request = account_service_pb2.GetAccountHealthRequest(
        name=account_name(account), view=score_view(view)
    )
    return Call(
        _ACCOUNT_SERVICE + "GetAccountHealth",
        request,
        account_service_pb2.StoredAccountHealth,
    )


def batch_get_account_health(
    accounts: Sequence[str], view: ScoreViewLike
) -> Call[account_service_pb2.BatchGetAccountHealthResponse]:
    request = account_service_pb2.BatchGetAccountHealthRequest(
        names=[account_name(a) for a in accounts], view=score_view(view)
    )
    return Call(
        _ACCOUNT_SERVICE + "BatchGetAccountHealth",
        request,
        account_service_pb2.BatchGetAccountHealthResponse,
    )


# HistoryService: the service config retries reads, and CreateSnapshot too (it replaces the day:
# taking it twice stores it once).

Day: TypeAlias = "dt.date | str"
GranularityLike: TypeAlias = "history_service_pb2.TrendGranularity.ValueType | str | None"


def day_text(day: Day | None) -> str:
    """`YYYY-MM-DD` ("" for None)."""
    if day is None:
        return ""
    return day.isoformat() if isinstance(day, dt.date) else day


def granularity(value: GranularityLike) -> history_service_pb2.TrendGranularity.ValueType:
    """ "day", "week", "month" (or the enum, or None: day)."""
    return cast(
        history_service_pb2.TrendGranularity.ValueType,
        _enum_value("TREND_GRANULARITY_", history_service_pb2.TrendGranularity, value),
    )


Where: TypeAlias = "tuple[str | None, str | None, Mapping[str, Sequence[Any]] | None]"
"""A filter's conditions as the clients take them: (`parent`, `owner`, `attributes`)."""


def account_filter(
    parent: str | None, owner: str | None, attributes: Mapping[str, Sequence[Any]] | None
) -> history_service_pb2.AccountFilter:
    """A filter: the parent's children, an owner, attribute values (each: any of a list)."""
    conditions = []
    for name, values in (attributes or {}).items():
        listed = values if isinstance(values, list | tuple) else [values]
        conditions.append(
            history_service_pb2.AttributeCondition(name=name, values=[_value(v) for v in listed])
        )
    return history_service_pb2.AccountFilter(
        parent=account_name(parent) if parent else "", owner=owner or "", attributes=conditions
    )


def _value(value: Any) -> account_pb2.Value:
    if isinstance(value, bool):
        return account_pb2.Value(bool_value=value)
    if isinstance(value, int | float):
        return account_pb2.Value(number_value=float(value))
    return account_pb2.Value(text_value=str(value))


def get_health_trend(
    account: str, start: Day | None, end: Day | None, every: GranularityLike
) -> Call[history_service_pb2.HealthTrend]:
    request = history_service_pb2.GetHealthTrendRequest(
        account=account_name(account),
        start_date=day_text(start),
        end_date=day_text(end),
        granularity=granularity(every),
    )
    return Call(_HISTORY_SERVICE + "GetHealthTrend", request, history_service_pb2.HealthTrend)


def list_health_trends(
    accounts: Sequence[str] | None,
    where: Where,
    start: Day | None,
    end: Day | None,
    every: GranularityLike,
    page_size: int,
    page_token: str,
) -> Call[history_service_pb2.ListHealthTrendsResponse]:
    """The trends of `accounts`, or (none given) of the accounts `where` selects."""
    request = history_service_pb2.ListHealthTrendsRequest(
        accounts=[account_name(a) for a in accounts or []],
        start_date=day_text(start),
        end_date=day_text(end),
        granularity=granularity(every),
        page_size=page_size,
        page_token=page_token,
    )
    if not accounts:
        request.filter.CopyFrom(account_filter(*where))
    return Call(
        _HISTORY_SERVICE + "ListHealthTrends",
        request,
        history_service_pb2.ListHealthTrendsResponse,
    )


def health_trends(
    accounts: Sequence[str] | None,
    where: Where,
    start: Day | None,
    end: Day | None,
    every: GranularityLike,
    page_size: int,
) -> Pages[history_service_pb2.ListHealthTrendsResponse, history_service_pb2.HealthTrend]:
    return Pages(
        lambda token: list_health_trends(accounts, where, start, end, every, page_size, token),
        lambda page: page.trends,
    )


def create_snapshot(day: Day | None) -> Call[history_service_pb2.Snapshot]:
    request = history_service_pb2.CreateSnapshotRequest(snapshot_id=day_text(day))
    return Call(_HISTORY_SERVICE + "CreateSnapshot", request, history_service_pb2.Snapshot)


def list_snapshots(
    page_size: int, page_token: str
) -> Call[history_service_pb2.ListSnapshotsResponse]:
    request = history_service_pb2.ListSnapshotsRequest(page_size=page_size, page_token=page_token)
    return Call(
        _HISTORY_SERVICE + "ListSnapshots",
        request,
        history_service_pb2.ListSnapshotsResponse,
    )


def snapshots(
    page_size: int,
) -> Pages[history_service_pb2.ListSnapshotsResponse, history_service_pb2.Snapshot]:
    return Pages(lambda token: list_snapshots(page_size, token), lambda page: page.snapshots)


# PortfolioService: reads, retried by the service config.

RankLike: TypeAlias = "health_pb2.HealthRank.ValueType | str | None"
"""A rank: `HEALTH_RANK_POOR` or "good" / "average" / "poor" / "unknown"; None for any."""


def health_rank(value: RankLike) -> health_pb2.HealthRank.ValueType:
    result: health_pb2.HealthRank.ValueType = _enum_value(
        "HEALTH_RANK_", health_pb2.HealthRank, value
    )
    return result


def _set_portfolio_filter(
    request: portfolio_service_pb2.SummarizePortfolioRequest
    | portfolio_service_pb2.ListPortfolioAccountsRequest,
    where: Where,
) -> None:
    """Sets `request.filter` from `where`, unless no condition is given (every account)."""
    if any(where):
        request.filter.CopyFrom(account_filter(*where))


def summarize_portfolio(
    where: Where, day: Day | None, order_by: str
) -> Call[portfolio_service_pb2.PortfolioSummary]:
    request = portfolio_service_pb2.SummarizePortfolioRequest(day=day_text(day), order_by=order_by)
    _set_portfolio_filter(request, where)
    return Call(
        _PORTFOLIO_SERVICE + "SummarizePortfolio",
        request,
        portfolio_service_pb2.PortfolioSummary,
    )


def list_portfolio_accounts(
    where: Where,
    day: Day | None,
    rank: RankLike,
    dimension: str | None,
    dimension_rank: RankLike,
    order_by: str,
    page_size: int,
    page_token: str,
) -> Call[portfolio_service_pb2.ListPortfolioAccountsResponse]:
    request = portfolio_service_pb2.ListPortfolioAccountsRequest(
        day=day_text(day),
        rank=health_rank(rank),
        dimension=dimension or "",
        dimension_rank=health_rank(dimension_rank),
        order_by=order_by,
        page_size=page_size,
        page_token=page_token,
    )
    _set_portfolio_filter(request, where)
    return Call(
        _PORTFOLIO_SERVICE + "ListPortfolioAccounts",
        request,
        portfolio_service_pb2.ListPortfolioAccountsResponse,
    )


def portfolio_accounts(
    where: Where,
    day: Day | None,
    rank: RankLike,
    dimension: str | None,
    dimension_rank: RankLike,
    order_by: str,
    page_size: int,
) -> Pages[
    portfolio_service_pb2.ListPortfolioAccountsResponse, portfolio_service_pb2.PortfolioAccount
]:
    return Pages(
        lambda token: list_portfolio_accounts(
            where, day, rank, dimension, dimension_rank, order_by, page_size, token
        ),
        lambda page: page.accounts,
    )


def write_stream(
    batches: Iterable[_accounts.RecordsInput] | AsyncIterable[_accounts.RecordsInput],
    catalog: catalog_pb2.Catalog | None,
    observe_time: Instant,
) -> RequestStream[_accounts.RecordsInput, account_service_pb2.WriteAccountDataRequest]:
    """The requests of a StreamWriteAccountData call."""
    return RequestStream(batches, lambda batch: write_request(batch, catalog, observe_time))


# Connection and retries.

SERVICE_CONFIG = Path(__file__).parent / "v1" / "service_config.json"
"""gRPC's service config for healthscore.v1, shared by every client (its source is
proto/healthscore/v1/service_config.json): reads, scoring and AccountService calls are retried on
UNAVAILABLE only, with exponential backoff and jitter; writes of ProfileService never are (a
write may have happened before the connection broke); unary calls have a 30 s deadline."""

MAX_ATTEMPTS = 5
"""The most attempts gRPC makes of a call, whatever a service config asks."""

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""The largest message sent or received: the server's own limit (`--max-message-bytes`)."""

# Reconnect quickly after a refused connection, so that a retry after a short backoff finds a
# server that has just come up (gRPC's own default waits a second or more).
DEFAULT_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
    ("grpc.enable_retries", 1),
)


def service_config(*, max_attempts: int = MAX_ATTEMPTS, timeouts: bool = True) -> str:
    """The shared service config as JSON, with at most `max_attempts` attempts of a retried call
    (1: no retries) and, unless `timeouts` is False, its per-method deadlines."""
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise ValueError(f"max_attempts: expected 1 to {MAX_ATTEMPTS} (gRPC's limit)")
    config = json.loads(SERVICE_CONFIG.read_text(encoding="utf-8"))
    for method in config["methodConfig"]:
        if not timeouts:
            method.pop("timeout", None)
        if "retryPolicy" in method:
            if max_attempts == 1:
                del method["retryPolicy"]
            else:
                method["retryPolicy"]["maxAttempts"] = max_attempts
    return json.dumps(config)


@dataclass(frozen=True)
class Connection:
    """How to reach the server: the address, channel credentials (None: insecure), options (the
    service config, message limits), and the metadata each call sends (the bearer token, on
    insecure channels only: on TLS channels it travels as call credentials)."""

    address: str
    credentials: grpc.ChannelCredentials | None
    options: tuple[tuple[str, Any], ...]
    metadata: tuple[tuple[str, str], ...]

    @classmethod
    def build(
        cls,
        address: str,
        *,
        token: str | None,
        tls: bool,
        root_certificates: bytes | None,
        certificate_chain: bytes | None,
        private_key: bytes | None,
        options: Sequence[tuple[str, Any]],
        max_attempts: int = MAX_ATTEMPTS,
        timeouts: bool = True,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> Connection:
        """`timeouts` False drops the service config's per-method deadlines (the client then sets
        every call's deadline itself)."""
        defaults = (
            *DEFAULT_CHANNEL_OPTIONS,
            ("grpc.service_config", service_config(max_attempts=max_attempts, timeouts=timeouts)),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            # A call is retried only while gRPC still holds its request: as large as it may be.
            ("grpc.per_rpc_retry_buffer_size", max_message_bytes),
        )
        given = {key for key, _ in options}
        merged = tuple(options) + tuple(o for o in defaults if o[0] not in given)
        if not (tls or root_certificates or certificate_chain or private_key):
            metadata = (("authorization", f"Bearer {token}"),) if token else ()
            return cls(address, None, merged, metadata)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
        )
        if token:
            # access_token_call_credentials sends `authorization: Bearer <token>`.
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(token)
            )
        return cls(address, credentials, merged, ())


BatchT = TypeVar("BatchT")
RequestT = TypeVar("RequestT", bound=Message)


class RequestStream(Generic[BatchT, RequestT]):
    """The requests of a client-streaming call (StreamScoreAccounts, StreamWriteAccountData), built
    from the caller's batches by `build` as gRPC asks for them. gRPC reports an exception raised
    while building one only as CANCELLED: `failure` keeps it, for `raise_for` to raise instead."""

    def __init__(
        self,
        batches: Iterable[BatchT] | AsyncIterable[BatchT],
        build: Callable[[BatchT], RequestT],
    ) -> None:
        self._batches = batches
        self._build_request = build
        self.failure: Exception | None = None

    def _build(self, batch: BatchT) -> RequestT:
        try:
            return self._build_request(batch)
        except Exception as exc:
            self.failure = exc
            raise

    def __iter__(self) -> Iterator[RequestT]:
        if not isinstance(self._batches, Iterable):
            raise TypeError("the sync client needs an iterable of batches, not an async one")
        for batch in self._batches:
            yield self._build(batch)

    async def __aiter__(self) -> AsyncIterator[RequestT]:
        if isinstance(self._batches, AsyncIterable):
            async for batch in self._batches:
                yield self._build(batch)
        else:
            for batch in self._batches:
                yield self._build(batch)

    def raise_for(self, error: grpc.RpcError) -> NoReturn:
        """Raises what ended the call: the exception building a request raised, else `error` as
        a `HealthScoreError`."""
        if self.failure is not None:
            raise self.failure from None
        raise from_rpc_error(error) from error
