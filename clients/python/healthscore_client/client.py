"""`HealthScoreClient`: the blocking client, one typed method per RPC of both services.

Every method takes an optional `timeout` (seconds; default: the client's `timeout`): the deadline
of the whole call, retries included. Retries and default deadlines are gRPC's, from the service
config every healthscore client shares (`_calls.SERVICE_CONFIG`): reads, scoring and account data
writes (idempotent: a record written twice is stored once) are retried on UNAVAILABLE only, with
exponential backoff and jitter; design writes never are (a write may have been applied before the
connection broke). Failures raise `HealthScoreError` subclasses (`healthscore_client.errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.message import Message

from healthscore_client import _calls
from healthscore_client._calls import (
    Call,
    Day,
    GranularityLike,
    Instant,
    ModelLike,
    RankLike,
    ScoreOptions,
    ScoreViewLike,
    VersionViewLike,
)
from healthscore_client.accounts import AccountsInput, RecordsInput
from healthscore_client.errors import from_rpc_error
from healthscore_client.v1 import (
    account_service_pb2,
    catalog_pb2,
    history_service_pb2,
    portfolio_service_pb2,
    profile_service_pb2,
    ruleset_pb2,
    scoring_pb2,
    scoring_service_pb2,
)

ResponseT = TypeVar("ResponseT", bound=Message)
ItemT = TypeVar("ItemT")


class HealthScoreClient:
    """A connection to a healthscore server.

    `address` is `host:port`. `token` is sent as `authorization: Bearer <token>`. `tls` (implied by
    any certificate argument) verifies the server against `root_certificates` (PEM; None: the
    system's roots); `certificate_chain` and `private_key` (PEM) authenticate the client (mTLS).
    `timeout` is each call's default deadline in seconds; None: the service config's (30 s for a
    unary call, none for a stream), which then also bounds a per-call `timeout`. `max_attempts`
    (1 to 5, gRPC's limit) bounds the attempts of a retried call. `max_message_bytes` bounds the
    messages sent and received (default 64 MiB, the server's limit; gRPC's own is 4 MiB).
    `options` are gRPC channel options. Use as a context manager, or `close()`.
    """

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        *,
        token: str | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        timeout: float | None = None,
        max_attempts: int = _calls.MAX_ATTEMPTS,
        max_message_bytes: int = _calls.DEFAULT_MAX_MESSAGE_BYTES,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        self._connection = _calls.Connection.build(
            address,
            token=token,
            tls=tls,
            root_certificates=root_certificates,
            certificate_chain=certificate_chain,
            private_key=private_key,
            options=options,
            max_attempts=max_attempts,
            timeouts=timeout is None,
            max_message_bytes=max_message_bytes,
        )
        self._timeout = timeout
        connection = self._connection
        self._channel = (
            grpc.insecure_channel(address, options=connection.options)
            if connection.credentials is None
            else grpc.secure_channel(address, connection.credentials, options=connection.options)
        )

    @property
    def address(self) -> str:
        return self._connection.address

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> HealthScoreClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _invoke(self, call: Call[ResponseT], timeout: float | None) -> ResponseT:
        """Sends `call` (gRPC retries it as the service config says); a failure raises
        `HealthScoreError`."""
        method = self._channel.unary_unary(
            call.method,
            request_serializer=_calls.serialize,
            response_deserializer=call.response_type.FromString,
        )
        try:
            response = method(
                call.request,
                timeout=self._timeout if timeout is None else timeout,
                metadata=self._connection.metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return cast(ResponseT, response)

    def _follow(
        self, pages: _calls.Pages[ResponseT, ItemT], timeout: float | None
    ) -> Iterator[ItemT]:
        """The items of every page, from page token "" until a page's `next_page_token` is empty;
        the first page is fetched on the first `next()`. `timeout` applies to each page."""
        token = ""
        while True:
            page = self._invoke(pages.call(token), timeout)
            yield from pages.items(page)
            token = pages.next_token(page)
            if not token:
                return

    # ProfileService: the catalog.

    def get_catalog(self, *, timeout: float | None = None) -> catalog_pb2.Catalog:
        """The attribute catalog."""
        return self._invoke(_calls.get_catalog(), timeout)

    def update_catalog(
        self,
        catalog: catalog_pb2.Catalog,
        *,
        update_mask: Sequence[str] | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> catalog_pb2.Catalog:
        """Replaces the catalog's `attributes` and/or `dimensions` (`update_mask`; default both).
        `etag` (default: `catalog.etag`) makes the update conditional: a stale one raises
        `AbortedError`. Needs the admin role."""
        return self._invoke(_calls.update_catalog(catalog, update_mask, etag), timeout)

    # ProfileService: drafts.

    def get_draft(
        self, model: ModelLike, *, timeout: float | None = None
    ) -> profile_service_pb2.Draft:
        """A model's draft (`models/{model}/draft`)."""
        return self._invoke(_calls.get_draft(model), timeout)

    def update_draft(
        self,
        model: ModelLike,
        draft: profile_service_pb2.Draft,
        *,
        update_mask: Sequence[str] | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """Replaces the draft's `settings` (or one of `settings.poor_max`, `settings.good_min`,
        `settings.ignore_missing`, `settings.enterprise`) and/or `profiles` (`update_mask`;
        default both) with those of `draft`. `etag` (default: `draft.etag`) makes the update
        conditional. Needs the editor role."""
        return self._invoke(_calls.update_draft(model, draft, update_mask, etag), timeout)

    def validate_draft(
        self, model: ModelLike, *, timeout: float | None = None
    ) -> profile_service_pb2.ValidateDraftResponse:
        """Every error of the draft with its field path, and the warnings."""
        return self._invoke(_calls.validate_draft(model), timeout)

    def publish_draft(
        self,
        model: ModelLike,
        *,
        comment: str = "",
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Version:
        """Publishes the draft as a new version. `etag`: only if the draft is still the one
        reviewed. A draft that does not validate raises `FailedPreconditionError` listing the
        errors in `precondition_violations`. Needs the editor role."""
        return self._invoke(_calls.publish_draft(model, comment, etag), timeout)

    # ProfileService: the profiles of a draft.

    def get_profile(
        self, model: ModelLike, profile: str, *, timeout: float | None = None
    ) -> ruleset_pb2.Profile:
        """One profile of a draft, by its name."""
        return self._invoke(_calls.get_profile(model, profile), timeout)

    def create_profile(
        self,
        model: ModelLike,
        profile: ruleset_pb2.Profile,
        *,
        position: int | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """Adds a profile to the draft at `position` in the order of precedence (0 = first;
        default last). Returns the draft."""
        return self._invoke(_calls.create_profile(model, profile, position, etag), timeout)

    def update_profile(
        self,
        model: ModelLike,
        name: str,
        profile: ruleset_pb2.Profile,
        *,
        update_mask: Sequence[str] | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """Updates the profile `name` with the fields of `profile` named in `update_mask`
        (default all); a different `profile.name` renames it. Returns the draft."""
        return self._invoke(_calls.update_profile(model, name, profile, update_mask, etag), timeout)

    def delete_profile(
        self,
        model: ModelLike,
        name: str,
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """Removes a profile from the draft. Returns the draft."""
        return self._invoke(_calls.delete_profile(model, name, etag), timeout)

    def reorder_profiles(
        self,
        model: ModelLike,
        names: Sequence[str],
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """Sets the order of precedence: every profile name of the draft, once each."""
        return self._invoke(_calls.reorder_profiles(model, names, etag), timeout)

    # ProfileService: versions and activations.

    def get_version(
        self,
        model: ModelLike,
        version: int | None = None,
        *,
        view: VersionViewLike = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Version:
        """A published version: `get_version("multidimensional", 3)`, or by its full name
        `get_version("models/multidimensional/versions/3")`. `view`: "full" (default, with the
        ruleset) or "basic"."""
        return self._invoke(_calls.get_version(model, version, view), timeout)

    def list_versions_page(
        self,
        model: ModelLike,
        *,
        page_size: int = 0,
        page_token: str = "",
        view: VersionViewLike = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.ListVersionsResponse:
        """One page of a model's versions, newest first, with the `next_page_token`."""
        return self._invoke(_calls.list_versions(model, page_size, page_token, view), timeout)

    def list_versions(
        self,
        model: ModelLike,
        *,
        page_size: int = 0,
        view: VersionViewLike = None,
        timeout: float | None = None,
    ) -> Iterator[profile_service_pb2.Version]:
        """Every version of a model, newest first, fetching pages of `page_size` (0: the server's
        default) as the iteration goes; `timeout` applies to each page."""
        return self._follow(_calls.versions(model, page_size, view), timeout)

    def activate_version(
        self,
        model: ModelLike,
        version: int | None = None,
        *,
        comment: str = "",
        timeout: float | None = None,
    ) -> profile_service_pb2.Activation:
        """Makes a version the one the service scores with: `activate_version("multidimensional",
        3)` or by its full name; rolling back is activating an earlier version, e.g.
        `activate_version(activation.previous_version)`. Activating the version that is already
        active changes nothing and returns the current activation (no new audit row). Needs the
        admin role."""
        return self._invoke(_calls.activate_version(model, version, comment), timeout)

    def get_active_version(self, *, timeout: float | None = None) -> profile_service_pb2.Activation:
        """The current activation: the version the service scores with."""
        return self._invoke(_calls.get_active_version(), timeout)

    def list_activations_page(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> profile_service_pb2.ListActivationsResponse:
        """One page of the activations, newest first, with the `next_page_token`."""
        return self._invoke(_calls.list_activations(page_size, page_token), timeout)

    def list_activations(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> Iterator[profile_service_pb2.Activation]:
        """Every activation (the audit trail), newest first, page by page as the iteration goes."""
        return self._follow(_calls.activations(page_size), timeout)

    # ScoringService.

    def score_accounts(
        self,
        accounts: AccountsInput,
        *,
        ruleset: ModelLike | None = None,
        as_of: Instant = None,
        view: ScoreViewLike = None,
        include_other_model: bool = False,
        other_model_ruleset: str = "",
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> scoring_pb2.ScoreAccountsResponse:
        """Scores accounts: `Account` messages, flat dicts (typed by `catalog` when given), an
        `AccountColumns`, a pyarrow Table or a pandas DataFrame. `ruleset`: None for the active
        version, a version's name, a draft's name, or a model for its draft. `view`: "basic",
        "dimensions" or "full". `include_other_model` also scores with the other model (its
        active version, or `other_model_ruleset`)."""
        options = ScoreOptions(
            ruleset, as_of, view, include_other_model, other_model_ruleset, catalog
        )
        return self._invoke(_calls.score_accounts(accounts, options), timeout)

    def stream_score_accounts(
        self,
        batches: Iterable[AccountsInput],
        *,
        ruleset: ModelLike | None = None,
        as_of: Instant = None,
        view: ScoreViewLike = None,
        include_other_model: bool = False,
        other_model_ruleset: str = "",
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> Iterator[scoring_pb2.ScoreAccountsResponse]:
        """Scores a stream of batches (each as `score_accounts` accepts), one response per batch
        in order, all with the ruleset resolved at the first batch. Batches are converted as gRPC
        sends them. Not retried; `timeout` bounds the whole stream. Leaving the iteration early
        cancels the call."""
        options = ScoreOptions(
            ruleset, as_of, view, include_other_model, other_model_ruleset, catalog
        )
        requests = _calls.RequestStream(batches, options.request)
        method = self._channel.stream_stream(
            _calls.STREAM_SCORE_ACCOUNTS,
            request_serializer=_calls.serialize,
            response_deserializer=scoring_pb2.ScoreAccountsResponse.FromString,
        )
        responses: Any = method(
            iter(requests),
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._connection.metadata,
        )
        try:
            for response in responses:
                yield cast(scoring_pb2.ScoreAccountsResponse, response)
        except grpc.RpcError as error:
            requests.raise_for(error)
        finally:
            responses.cancel()

    def preview_draft(
        self,
        accounts: AccountsInput,
        ruleset: ModelLike,
        *,
        baseline: ModelLike | None = None,
        as_of: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> scoring_service_pb2.PreviewDraftResponse:
        """What `ruleset` (a model for its draft, or a draft's or version's name) makes of
        `accounts`, side by side with `baseline` (default: the active version): per profile, rank
        and dimension, and every account whose rank would change."""
        return self._invoke(
            _calls.preview_draft(accounts, ruleset, baseline, as_of, catalog), timeout
        )

    def score_hierarchy(
        self,
        accounts: AccountsInput,
        *,
        ruleset: ModelLike | None = None,
        view: ScoreViewLike = None,
        as_of: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> scoring_service_pb2.ScoreHierarchyResponse:
        """Scores accounts linked by `parent_id`: each account's own health and every parent's
        enterprise health, bottom-up."""
        return self._invoke(
            _calls.score_hierarchy(accounts, ruleset, view, as_of, catalog), timeout
        )

    # AccountService.

    def write_account_data(
        self,
        records: RecordsInput,
        *,
        observe_time: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> account_service_pb2.WriteAccountDataResponse:
        """Records account data: `AccountData` messages, or flat dicts as for `score_accounts`
        with an `observe_time` key (default: `observe_time`), typed by `catalog` when given. The
        write is atomic; the accounts it touches are rescored at once. Retried on UNAVAILABLE
        (writing a record twice stores it once)."""
        return self._invoke(_calls.write_account_data(records, catalog, observe_time), timeout)

    def stream_write_account_data(
        self,
        batches: Iterable[RecordsInput],
        *,
        observe_time: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> account_service_pb2.WriteAccountDataResponse:
        """Records a stream of batches (each as `write_account_data` takes, each atomic); returns
        the totals. Not retried; a failed batch raises, the batches before it are kept."""
        requests = _calls.write_stream(batches, catalog, observe_time)
        method = self._channel.stream_unary(
            _calls.STREAM_WRITE_ACCOUNT_DATA,
            request_serializer=_calls.serialize,
            response_deserializer=account_service_pb2.WriteAccountDataResponse.FromString,
        )
        try:
            response = method(
                iter(requests),
                timeout=self._timeout if timeout is None else timeout,
                metadata=self._connection.metadata,
            )
        except grpc.RpcError as error:
            requests.raise_for(error)
        return cast(account_service_pb2.WriteAccountDataResponse, response)

    def get_account_health(
        self, account: str, *, view: ScoreViewLike = None, timeout: float | None = None
    ) -> account_service_pb2.StoredAccountHealth:
        """An account's current health (`account`: an id or `accounts/{id}`), always of the active
        version; view "full" adds the stored values it used."""
        return self._invoke(_calls.get_account_health(account, view), timeout)

    def batch_get_account_health(
        self, accounts: Sequence[str], *, view: ScoreViewLike = None, timeout: float | None = None
    ) -> list[account_service_pb2.StoredAccountHealth]:
        """The current health of up to 1,000 accounts, in order (NotFound if any has no data)."""
        return list(self._invoke(_calls.batch_get_account_health(accounts, view), timeout).healths)

    # HistoryService.

    def get_health_trend(
        self,
        account: str,
        start: Day | None = None,
        end: Day | None = None,
        *,
        granularity: GranularityLike = None,
        timeout: float | None = None,
    ) -> history_service_pb2.HealthTrend:
        """One account's stored health per "day" (default), "week" or "month" from `start` to
        `end` (dates or `YYYY-MM-DD`, inclusive; default: the 30 days up to the server's today);
        `account`: an id or `accounts/{id}`."""
        return self._invoke(_calls.get_health_trend(account, start, end, granularity), timeout)

    def list_health_trends_page(
        self,
        start: Day | None = None,
        end: Day | None = None,
        *,
        accounts: Sequence[str] | None = None,
        parent: str | None = None,
        owner: str | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        granularity: GranularityLike = None,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> history_service_pb2.ListHealthTrendsResponse:
        """One page of trends (accounts in id order) of `accounts`, or of the accounts a filter
        selects: `parent`'s children, `owner`, `attributes` ({name: [values, any of which]})."""
        where = (parent, owner, attributes)
        call = _calls.list_health_trends(
            accounts, where, start, end, granularity, page_size, page_token
        )
        return self._invoke(call, timeout)

    def list_health_trends(
        self,
        start: Day | None = None,
        end: Day | None = None,
        *,
        accounts: Sequence[str] | None = None,
        parent: str | None = None,
        owner: str | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        granularity: GranularityLike = None,
        page_size: int = 0,
        timeout: float | None = None,
    ) -> Iterator[history_service_pb2.HealthTrend]:
        """Every trend `list_health_trends_page` selects, page by page as the iteration goes."""
        pages = _calls.health_trends(
            accounts, (parent, owner, attributes), start, end, granularity, page_size
        )
        return self._follow(pages, timeout)

    def create_snapshot(
        self, day: Day | None = None, *, timeout: float | None = None
    ) -> history_service_pb2.Snapshot:
        """Takes `day`'s snapshot (default: today in the server's zone) now, replacing it if
        stored. Needs the admin role."""
        return self._invoke(_calls.create_snapshot(day), timeout)

    def list_snapshots(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> Iterator[history_service_pb2.Snapshot]:
        """Every stored day, newest first, page by page."""
        return self._follow(_calls.snapshots(page_size), timeout)

    # PortfolioService.

    def summarize_portfolio(
        self,
        day: Day | None = None,
        *,
        parent: str | None = None,
        owner: str | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        order_by: str = "",
        timeout: float | None = None,
    ) -> portfolio_service_pb2.PortfolioSummary:
        """The portfolio summary ("My Portfolio") of the accounts a filter selects (`parent`'s
        children, `owner`, `attributes` ({name: [values, any of which]}); none: every account):
        the average score, accounts and contract value per rank, and per dimension its average
        score and contract value at risk, sorted by `order_by` (e.g. "value_at_risk desc").
        Of the current health, or of a stored `day`."""
        where = (parent, owner, attributes)
        return self._invoke(_calls.summarize_portfolio(where, day, order_by), timeout)

    def list_portfolio_accounts_page(
        self,
        day: Day | None = None,
        *,
        parent: str | None = None,
        owner: str | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        rank: RankLike = None,
        dimension: str | None = None,
        dimension_rank: RankLike = None,
        order_by: str = "",
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> portfolio_service_pb2.ListPortfolioAccountsResponse:
        """One page of a portfolio's accounts, or of a section: `rank`, or `dimension` (and its
        `dimension_rank`, e.g. "poor": the accounts whose value is at risk in it), sorted by
        `order_by` (`name`, `score`, `contract_value`, `rank`, each optionally ` desc`)."""
        call = _calls.list_portfolio_accounts(
            (parent, owner, attributes),
            day,
            rank,
            dimension,
            dimension_rank,
            order_by,
            page_size,
            page_token,
        )
        return self._invoke(call, timeout)

    def list_portfolio_accounts(
        self,
        day: Day | None = None,
        *,
        parent: str | None = None,
        owner: str | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        rank: RankLike = None,
        dimension: str | None = None,
        dimension_rank: RankLike = None,
        order_by: str = "",
        page_size: int = 0,
        timeout: float | None = None,
    ) -> Iterator[portfolio_service_pb2.PortfolioAccount]:
        """Every account `list_portfolio_accounts_page` selects, page by page."""
        pages = _calls.portfolio_accounts(
            (parent, owner, attributes), day, rank, dimension, dimension_rank, order_by, page_size
        )
        return self._follow(pages, timeout)
