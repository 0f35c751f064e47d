"""`AsyncHealthScoreClient` against the production server: the design flow, paging, streams
from async batches, scoring forms and errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from healthscore_client import (
    AbortedError,
    AsyncHealthScoreClient,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from tests.client.conftest import TOKENS, Live
from tests.e2e.support import engagement_profile

MD = "multidimensional"


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


def test_design_flow_and_paging(live: Live) -> None:
    async def flow() -> None:
        async with AsyncHealthScoreClient(live.address, timeout=20) as client:
            draft = await client.get_draft(MD)
            draft.ClearField("profiles")
            draft.profiles.append(engagement_profile())
            edited = await client.update_draft(MD, draft, update_mask=["profiles"])
            edited = await client.create_profile(MD, engagement_profile("x"), etag=edited.etag)
            edited = await client.update_profile(MD, "x", engagement_profile("y"))
            edited = await client.reorder_profiles(MD, ["y", "engagement"])
            edited = await client.delete_profile(MD, "y", etag=edited.etag)
            assert (await client.get_profile(MD, "engagement")).name == "engagement"
            assert (await client.validate_draft(MD)).valid
            version = await client.publish_draft(MD, comment="async", etag=edited.etag)
            activation = await client.activate_version(MD, version.version_number)
            assert (await client.get_active_version()).version == version.name
            scored = await client.score_accounts([{"id": "a", "engagement_score": 50}])
            assert (scored.ruleset, scored.results[0].score) == (version.name, 60)
            await client.activate_version(activation.previous_version, comment="rollback")
            assert (await client.get_version(version.name, view="basic")).comment == "async"

            names = [v.name async for v in client.list_versions(MD, page_size=1)]
            assert names == [version.name, "models/multidimensional/versions/1"]
            page = await client.list_versions_page(MD, page_size=1)
            assert page.next_page_token
            activations = [a.name async for a in client.list_activations(page_size=2)]
            assert activations == ["activations/3", "activations/2", "activations/1"]
            assert len((await client.list_activations_page(page_size=2)).activations) == 2
            catalog = await client.get_catalog()
            assert (await client.update_catalog(catalog)).etag != catalog.etag

    run(flow())


def test_scoring_streams_and_errors(live: Live) -> None:
    async def batches() -> AsyncIterator[list[dict[str, Any]]]:
        for i in range(3):
            yield [{"id": f"a{i}", "engagement_score": 10.0 * i}]

    async def scoring() -> None:
        async with AsyncHealthScoreClient(live.address, timeout=20) as client:
            responses = [r async for r in client.stream_score_accounts(batches())]
            assert [r.results[0].account_id for r in responses] == ["a0", "a1", "a2"]
            plain = [r async for r in client.stream_score_accounts([[{"id": "b"}]])]
            assert plain[0].results[0].account_id == "b"
            preview = await client.preview_draft([{"id": "a"}], MD)
            assert preview.preview.account_count == 1
            tree = await client.score_hierarchy([{"id": "p"}, {"id": "c", "parent_id": "p"}])
            assert [e.account_id for e in tree.enterprise] == ["p"]

            with pytest.raises(InvalidArgumentError) as caught:
                await client.score_accounts([{"id": ""}])
            assert caught.value.field_violations[0].field == "accounts[0].id"
            with pytest.raises(NotFoundError):
                await client.get_version(MD, 42)
            draft = await client.get_draft(MD)
            await client.update_draft(MD, draft, update_mask=["settings"])
            with pytest.raises(AbortedError):
                await client.update_draft(MD, draft, update_mask=["settings"])

    run(scoring())


def test_viewer_token(secured: Live) -> None:
    async def viewer() -> None:
        async with AsyncHealthScoreClient(secured.address, token=TOKENS["viewer"]) as client:
            assert (await client.score_accounts([{"id": "a"}])).results
            with pytest.raises(PermissionDeniedError):
                await client.publish_draft(MD)

    run(viewer())
