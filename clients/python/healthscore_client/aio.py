"""`AsyncHealthScoreClient`: `HealthScoreClient`'s surface on grpc.aio.

Every method is a coroutine except the ones that return async iterators (`list_versions`,
`list_activations`, `stream_score_accounts`). Requests, deadlines, retries and errors are those of
the sync client (`healthscore_client.client`): both build their calls with `_calls`.
"""

from __future__ import annotations

from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, TypeVar, cast

import grpc
import grpc.aio
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


class AsyncHealthScoreClient:
    """A grpc.aio connection to a healthscore server; the arguments are `HealthScoreClient`'s.
    Use as an async context manager, or `await close()`. Create and use it on one event loop."""

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
            grpc.aio.insecure_channel(address, options=connection.options)
            if connection.credentials is None
            else grpc.aio.secure_channel(
                address, connection.credentials, options=connection.options
            )
        )

    @property
    def address(self) -> str:
        return self._connection.address

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self._channel.close(grace=None)

    async def __aenter__(self) -> AsyncHealthScoreClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _invoke(self, call: Call[ResponseT], timeout: float | None) -> ResponseT:
        """Sends `call` (gRPC retries it as the service config says); a failure raises
        `HealthScoreError`."""
        method = self._channel.unary_unary(
            call.method,
            request_serializer=_calls.serialize,
            response_deserializer=call.response_type.FromString,
        )
        try:
            response = await method(
                call.request,
                timeout=self._timeout if timeout is None else timeout,
                metadata=self._connection.metadata,
            )
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error
        return cast(ResponseT, response)

    async def _follow(
        self, pages: _calls.Pages[ResponseT, ItemT], timeout: float | None
    ) -> AsyncIterator[ItemT]:
        """`HealthScoreClient._follow`: every item of every page, fetched as the iteration goes."""
        token = ""
        while True:
            page = await self._invoke(pages.call(token), timeout)
            for item in pages.items(page):
                yield item
            token = pages.next_token(page)
            if not token:
                return

    # ProfileService. Each method is documented on `HealthScoreClient`.

    async def get_catalog(self, *, timeout: float | None = None) -> catalog_pb2.Catalog:
        """See `HealthScoreClient.get_catalog`."""
        return await self._invoke(_calls.get_catalog(), timeout)

    async def update_catalog(
        self,
        catalog: catalog_pb2.Catalog,
        *,
        update_mask: Sequence[str] | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> catalog_pb2.Catalog:
        """See `HealthScoreClient.update_catalog`."""
        return await self._invoke(_calls.update_catalog(catalog, update_mask, etag), timeout)

    async def get_draft(
        self, model: ModelLike, *, timeout: float | None = None
    ) -> profile_service_pb2.Draft:
        """See `HealthScoreClient.get_draft`."""
        return await self._invoke(_calls.get_draft(model), timeout)

    async def update_draft(
        self,
        model: ModelLike,
        draft: profile_service_pb2.Draft,
        *,
        update_mask: Sequence[str] | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """See `HealthScoreClient.update_draft`."""
        return await self._invoke(_calls.update_draft(model, draft, update_mask, etag), timeout)

    async def validate_draft(
        self, model: ModelLike, *, timeout: float | None = None
    ) -> profile_service_pb2.ValidateDraftResponse:
        """See `HealthScoreClient.validate_draft`."""
        return await self._invoke(_calls.validate_draft(model), timeout)

    async def publish_draft(
        self,
        model: ModelLike,
        *,
        comment: str = "",
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Version:
        """See `HealthScoreClient.publish_draft`."""
        return await self._invoke(_calls.publish_draft(model, comment, etag), timeout)

    async def get_profile(
        self, model: ModelLike, profile: str, *, timeout: float | None = None
    ) -> ruleset_pb2.Profile:
        """See `HealthScoreClient.get_profile`."""
        return await self._invoke(_calls.get_profile(model, profile), timeout)

    async def create_profile(
        self,
        model: ModelLike,
        profile: ruleset_pb2.Profile,
        *,
        position: int | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """See `HealthScoreClient.create_profile`."""
        return await self._invoke(_calls.create_profile(model, profile, position, etag), timeout)

    async def update_profile(
        self,
        model: ModelLike,
        name: str,
        profile: ruleset_pb2.Profile,
        *,
        update_mask: Sequence[str] | None = None,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """See `HealthScoreClient.update_profile`."""
        call = _calls.update_profile(model, name, profile, update_mask, etag)
        return await self._invoke(call, timeout)

    async def delete_profile(
        self,
        model: ModelLike,
        name: str,
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """See `HealthScoreClient.delete_profile`."""
        return await self._invoke(_calls.delete_profile(model, name, etag), timeout)

    async def reorder_profiles(
        self,
        model: ModelLike,
        names: Sequence[str],
        *,
        etag: str | None = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Draft:
        """See `HealthScoreClient.reorder_profiles`."""
        return await self._invoke(_calls.reorder_profiles(model, names, etag), timeout)

    async def get_version(
        self,
        model: ModelLike,
        version: int | None = None,
        *,
        view: VersionViewLike = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.Version:
        """See `HealthScoreClient.get_version`."""
        return await self._invoke(_calls.get_version(model, version, view), timeout)

    async def list_versions_page(
        self,
        model: ModelLike,
        *,
        page_size: int = 0,
        page_token: str = "",
        view: VersionViewLike = None,
        timeout: float | None = None,
    ) -> profile_service_pb2.ListVersionsResponse:
        """See `HealthScoreClient.list_versions_page`."""
        call = _calls.list_versions(model, page_size, page_token, view)
        return await self._invoke(call, timeout)

    def list_versions(
        self,
        model: ModelLike,
        *,
        page_size: int = 0,
        view: VersionViewLike = None,
        timeout: float | None = None,
    ) -> AsyncIterator[profile_service_pb2.Version]:
        """Every version of a model, newest first (`async for`); see
        `HealthScoreClient.list_versions`."""
        return self._follow(_calls.versions(model, page_size, view), timeout)

    async def activate_version(
        self,
        model: ModelLike,
        version: int | None = None,
        *,
        comment: str = "",
        timeout: float | None = None,
    ) -> profile_service_pb2.Activation:
        """See `HealthScoreClient.activate_version`."""
        return await self._invoke(_calls.activate_version(model, version, comment), timeout)

    async def get_active_version(
        self, *, timeout: float | None = None
    ) -> profile_service_pb2.Activation:
        """See `HealthScoreClient.get_active_version`."""
        return await self._invoke(_calls.get_active_version(), timeout)

    async def list_activations_page(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> profile_service_pb2.ListActivationsResponse:
        """See `HealthScoreClient.list_activations_page`."""
        return await self._invoke(_calls.list_activations(page_size, page_token), timeout)

    def list_activations(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> AsyncIterator[profile_service_pb2.Activation]:
        """Every activation, newest first (`async for`)."""
        return self._follow(_calls.activations(page_size), timeout)

    # ScoringService.

    async def score_accounts(
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
        """See `HealthScoreClient.score_accounts`."""
        options = ScoreOptions(
            ruleset, as_of, view, include_other_model, other_model_ruleset, catalog
        )
        return await self._invoke(_calls.score_accounts(accounts, options), timeout)

    async def stream_score_accounts(
        self,
        batches: Iterable[AccountsInput] | AsyncIterable[AccountsInput],
        *,
        ruleset: ModelLike | None = None,
        as_of: Instant = None,
        view: ScoreViewLike = None,
        include_other_model: bool = False,
        other_model_ruleset: str = "",
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[scoring_pb2.ScoreAccountsResponse]:
        """One response per batch (`async for`); `batches` may be an async iterable. See
        `HealthScoreClient.stream_score_accounts`."""
        options = ScoreOptions(
            ruleset, as_of, view, include_other_model, other_model_ruleset, catalog
        )
        requests = _calls.RequestStream(batches, options.request)
        method = self._channel.stream_stream(
            _calls.STREAM_SCORE_ACCOUNTS,
            request_serializer=_calls.serialize,
            response_deserializer=scoring_pb2.ScoreAccountsResponse.FromString,
        )
        call: Any = method(
            requests.__aiter__(),
            timeout=self._timeout if timeout is None else timeout,
            metadata=self._connection.metadata,
        )
        try:
            async for response in call:
                yield cast(scoring_pb2.ScoreAccountsResponse, response)
        except grpc.aio.AioRpcError as error:
            requests.raise_for(error)
        finally:
            call.cancel()

    async def preview_draft(
        self,
        accounts: AccountsInput,
        ruleset: ModelLike,
        *,
        baseline: ModelLike | None = None,
        as_of: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> scoring_service_pb2.PreviewDraftResponse:
        """See `HealthScoreClient.preview_draft`."""
        call = _calls.preview_draft(accounts, ruleset, baseline, as_of, catalog)
        return await self._invoke(call, timeout)

    async def score_hierarchy(
        self,
        accounts: AccountsInput,
        *,
        ruleset: ModelLike | None = None,
        view: ScoreViewLike = None,
        as_of: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> scoring_service_pb2.ScoreHierarchyResponse:
        """See `HealthScoreClient.score_hierarchy`."""
        call = _calls.score_hierarchy(accounts, ruleset, view, as_of, catalog)
        return await self._invoke(call, timeout)

    # AccountService.

    async def write_account_data(
        self,
        records: RecordsInput,
        *,
        observe_time: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> account_service_pb2.WriteAccountDataResponse:
        """See `HealthScoreClient.write_account_data`."""
        return await self._invoke(
            _calls.write_account_data(records, catalog, observe_time), timeout
        )

    async def stream_write_account_data(
        self,
        batches: Iterable[RecordsInput] | AsyncIterable[RecordsInput],
        *,
        observe_time: Instant = None,
        catalog: catalog_pb2.Catalog | None = None,
        timeout: float | None = None,
    ) -> account_service_pb2.WriteAccountDataResponse:
        """See `HealthScoreClient.stream_write_account_data`; batches may be an async iterable."""
        requests = _calls.write_stream(batches, catalog, observe_time)
        method = self._channel.stream_unary(
            _calls.STREAM_WRITE_ACCOUNT_DATA,
            request_serializer=_calls.serialize,
            response_deserializer=account_service_pb2.WriteAccountDataResponse.FromString,
        )
        try:
            response = await method(
                requests.__aiter__(),
                timeout=self._timeout if timeout is None else timeout,
                metadata=self._connection.metadata,
            )
        except grpc.aio.AioRpcError as error:
            requests.raise_for(error)
        return cast(account_service_pb2.WriteAccountDataResponse, response)

    async def get_account_health(
        self, account: str, *, view: ScoreViewLike = None, timeout: float | None = None
    ) -> account_service_pb2.StoredAccountHealth:
        """See `HealthScoreClient.get_account_health`."""
        return await self._invoke(_calls.get_account_health(account, view), timeout)

    async def batch_get_account_health(
        self, accounts: Sequence[str], *, view: ScoreViewLike = None, timeout: float | None = None
    ) -> list[account_service_pb2.StoredAccountHealth]:
        """See `HealthScoreClient.batch_get_account_health`."""
        response = await self._invoke(_calls.batch_get_account_health(accounts, view), timeout)
        return list(response.healths)

    # HistoryService.

    async def get_health_trend(
        self,
        account: str,
        start: Day | None = None,
        end: Day | None = None,
        *,
        granularity: GranularityLike = None,
        timeout: float | None = None,
    ) -> history_service_pb2.HealthTrend:
        """See `HealthScoreClient.get_health_trend`."""
        return await self._invoke(
            _calls.get_health_trend(account, start, end, granularity), timeout
        )

    async def list_health_trends_page(
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
        """See `HealthScoreClient.list_health_trends_page`."""
        where = (parent, owner, attributes)
        call = _calls.list_health_trends(
            accounts, where, start, end, granularity, page_size, page_token
        )
        return await self._invoke(call, timeout)

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
    ) -> AsyncIterator[history_service_pb2.HealthTrend]:
        """See `HealthScoreClient.list_health_trends`."""
        pages = _calls.health_trends(
            accounts, (parent, owner, attributes), start, end, granularity, page_size
        )
        return self._follow(pages, timeout)

    async def create_snapshot(
        self, day: Day | None = None, *, timeout: float | None = None
    ) -> history_service_pb2.Snapshot:
        """See `HealthScoreClient.create_snapshot`."""
        return await self._invoke(_calls.create_snapshot(day), timeout)

    def list_snapshots(
        self, *, page_size: int = 0, timeout: float | None = None
    ) -> AsyncIterator[history_service_pb2.Snapshot]:
        """See `HealthScoreClient.list_snapshots`."""
        return self._follow(_calls.snapshots(page_size), timeout)

    # PortfolioService.

    async def summarize_portfolio(
        self,
        day: Day | None = None,
        *,
        parent: str | None = None,
        owner: str | None = None,
        attributes: Mapping[str, Sequence[Any]] | None = None,
        order_by: str = "",
        timeout: float | None = None,
    ) -> portfolio_service_pb2.PortfolioSummary:
        """See `HealthScoreClient.summarize_portfolio`."""
        where = (parent, owner, attributes)
        return await self._invoke(_calls.summarize_portfolio(where, day, order_by), timeout)

    async def list_portfolio_accounts_page(
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
        """See `HealthScoreClient.list_portfolio_accounts_page`."""
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
        return await self._invoke(call, timeout)

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
    ) -> AsyncIterator[portfolio_service_pb2.PortfolioAccount]:
        """See `HealthScoreClient.list_portfolio_accounts`."""
        pages = _calls.portfolio_accounts(
            (parent, owner, attributes), day, rank, dimension, dimension_rank, order_by, page_size
        )
        return self._follow(pages, timeout)
