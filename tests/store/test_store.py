"""Behaviour of every `Store` method, in one process, on each store (`conftest.py`)."""

from __future__ import annotations

import datetime as dt

import pytest

from healthscore.errors import NotFoundError, StaleEtagError
from healthscore.store import Store
from tests.store.support import (
    ACCOUNT_HEALTH,
    MULTIDIMENSIONAL,
    catalog_body,
    check_invariants,
    open_store,
    ruleset_body,
)


def publish(store: Store, model: int, comment: str = "") -> int:
    latest = store.latest_version(model)
    number = latest.number + 1 if latest else 1
    version = store.publish(
        model,
        ruleset_body(model, number),
        comment=comment,
        creator="ann",
        expected_draft_etag=None,
    )
    assert version.number == number
    return number


def assert_recent_utc(instant: dt.datetime) -> None:
    assert instant.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - instant) < dt.timedelta(minutes=1)


def test_an_empty_store_has_nothing(store):
    assert store.get_catalog() is None
    assert store.get_draft(MULTIDIMENSIONAL) is None
    assert store.get_version(MULTIDIMENSIONAL, 1) is None
    assert store.latest_version(MULTIDIMENSIONAL) is None
    assert store.list_versions(MULTIDIMENSIONAL, limit=10) == []
    assert store.all_versions() == []
    assert store.active() is None
    assert store.list_activations(limit=10) == []


def test_catalog_round_trip_and_conditional_writes(store):
    first = store.put_catalog(catalog_body(), updater="ann", expected_etag=None)
    assert first.catalog == catalog_body()
    assert first.etag
    assert first.updater == "ann"
    assert_recent_utc(first.update_time)
    assert store.get_catalog() == first

    second = store.put_catalog(b"v2", updater="bob", expected_etag=first.etag)
    assert second.etag != first.etag
    assert store.get_catalog() == second

    with pytest.raises(StaleEtagError):
        store.put_catalog(b"v3", updater="cid", expected_etag=first.etag)
    assert store.get_catalog() == second

    third = store.put_catalog(b"v3", updater="cid", expected_etag=None)
    assert store.get_catalog() == third
    assert len({first.etag, second.etag, third.etag}) == 3


def test_a_conditional_write_of_a_missing_resource_is_stale(store):
    with pytest.raises(StaleEtagError):
        store.put_catalog(b"c", updater="ann", expected_etag="1-abc")
    with pytest.raises(StaleEtagError):
        store.put_draft(MULTIDIMENSIONAL, b"d", updater="ann", expected_etag="1-abc")
    assert store.get_catalog() is None
    assert store.get_draft(MULTIDIMENSIONAL) is None


def test_drafts_round_trip_per_model(store):
    multi = store.put_draft(MULTIDIMENSIONAL, b"multi", updater="ann", expected_etag=None)
    account = store.put_draft(ACCOUNT_HEALTH, b"account", updater="bob", expected_etag=None)
    assert store.get_draft(MULTIDIMENSIONAL) == multi
    assert store.get_draft(ACCOUNT_HEALTH) == account
    assert multi.model == MULTIDIMENSIONAL
    assert_recent_utc(multi.update_time)

    updated = store.put_draft(MULTIDIMENSIONAL, b"multi 2", updater="cid", expected_etag=multi.etag)
    assert updated.draft == b"multi 2"
    assert updated.etag != multi.etag
    with pytest.raises(StaleEtagError):
        store.put_draft(MULTIDIMENSIONAL, b"lost", updater="dan", expected_etag=multi.etag)
    assert store.get_draft(MULTIDIMENSIONAL) == updated
    assert store.get_draft(ACCOUNT_HEALTH) == account


def test_etags_are_never_reused(store):
    etags = set()
    for i in range(50):
        etags.add(store.put_draft(ACCOUNT_HEALTH, b"same", updater="ann", expected_etag=None).etag)
        etags.add(store.put_catalog(b"same", updater="ann", expected_etag=None).etag)
        assert len(etags) == 2 * (i + 1)


def test_publish_numbers_versions_per_model(store):
    assert [publish(store, MULTIDIMENSIONAL) for _ in range(3)] == [1, 2, 3]
    assert publish(store, ACCOUNT_HEALTH, comment="first") == 1

    version = store.get_version(ACCOUNT_HEALTH, 1)
    assert version.model == ACCOUNT_HEALTH
    assert version.ruleset == ruleset_body(ACCOUNT_HEALTH, 1)
    assert version.comment == "first"
    assert version.creator == "ann"
    assert_recent_utc(version.create_time)
    assert store.latest_version(MULTIDIMENSIONAL).number == 3
    assert store.latest_version(ACCOUNT_HEALTH) == version
    assert store.get_version(ACCOUNT_HEALTH, 2) is None
    check_invariants(store)


def test_publish_requires_the_draft_etag_when_given(store):
    draft = store.put_draft(MULTIDIMENSIONAL, b"d", updater="ann", expected_etag=None)
    store.put_draft(MULTIDIMENSIONAL, b"d2", updater="bob", expected_etag=None)
    with pytest.raises(StaleEtagError):
        store.publish(
            MULTIDIMENSIONAL, b"r", comment="", creator="ann", expected_draft_etag=draft.etag
        )
    with pytest.raises(StaleEtagError):
        store.publish(ACCOUNT_HEALTH, b"r", comment="", creator="ann", expected_draft_etag="x")
    assert store.all_versions() == []

    current = store.get_draft(MULTIDIMENSIONAL)
    version = store.publish(
        MULTIDIMENSIONAL, b"r", comment="", creator="bob", expected_draft_etag=current.etag
    )
    assert version.number == 1
    assert store.get_draft(MULTIDIMENSIONAL) == current, "publishing leaves the draft as it was"


def test_list_versions_pages_newest_first(store):
    for _ in range(7):
        publish(store, MULTIDIMENSIONAL)
    publish(store, ACCOUNT_HEALTH)

    def numbers(**kwargs):
        return [v.number for v in store.list_versions(MULTIDIMENSIONAL, **kwargs)]

    assert numbers(limit=3) == [7, 6, 5]
    assert numbers(limit=3, before=5) == [4, 3, 2]
    assert numbers(limit=3, before=2) == [1]
    assert numbers(limit=3, before=1) == []
    assert numbers(limit=100) == [7, 6, 5, 4, 3, 2, 1]
    assert numbers(limit=0) == []
    assert all(v.model == MULTIDIMENSIONAL for v in store.list_versions(MULTIDIMENSIONAL, limit=9))
    with pytest.raises(ValueError):
        store.list_versions(MULTIDIMENSIONAL, limit=-1)


def test_all_versions_oldest_first(store):
    publish(store, MULTIDIMENSIONAL)
    publish(store, ACCOUNT_HEALTH)
    publish(store, MULTIDIMENSIONAL)
    assert [(v.model, v.number) for v in store.all_versions()] == [
        (MULTIDIMENSIONAL, 1),
        (ACCOUNT_HEALTH, 1),
        (MULTIDIMENSIONAL, 2),
    ]


def test_activations_chain_their_previous_versions(store):
    publish(store, MULTIDIMENSIONAL)
    publish(store, MULTIDIMENSIONAL)
    publish(store, ACCOUNT_HEALTH)

    first = store.activate(MULTIDIMENSIONAL, 2, actor="ann", comment="go")
    assert (first.number, first.previous_model, first.previous_version) == (1, None, None)
    assert first.actor == "ann"
    assert first.comment == "go"
    assert_recent_utc(first.activate_time)
    assert store.active() == first

    second = store.activate(ACCOUNT_HEALTH, 1, actor="bob", comment="switch models")
    assert (second.number, second.model, second.version) == (2, ACCOUNT_HEALTH, 1)
    assert (second.previous_model, second.previous_version) == (MULTIDIMENSIONAL, 2)
    rollback = store.activate(MULTIDIMENSIONAL, 1, actor="cid", comment="rollback")
    assert (rollback.previous_model, rollback.previous_version) == (ACCOUNT_HEALTH, 1)
    assert store.active() == rollback

    assert store.list_activations(limit=2) == [rollback, second]
    assert store.list_activations(limit=2, before=2) == [first]
    assert store.list_activations(limit=0) == []
    check_invariants(store)


def test_activating_a_missing_version_is_not_found(store):
    publish(store, MULTIDIMENSIONAL)
    active = store.activate(MULTIDIMENSIONAL, 1, actor="ann", comment="")
    with pytest.raises(NotFoundError):
        store.activate(MULTIDIMENSIONAL, 2, actor="ann", comment="")
    with pytest.raises(NotFoundError):
        store.activate(ACCOUNT_HEALTH, 1, actor="ann", comment="")
    assert store.list_activations(limit=10) == [active]


def test_initialize_an_empty_store(store):
    assert store.initialize(
        catalog=catalog_body(),
        drafts={MULTIDIMENSIONAL: b"multi", ACCOUNT_HEALTH: b"account"},
        publish=(MULTIDIMENSIONAL, ruleset_body(MULTIDIMENSIONAL, 1)),
        actor="system",
    )
    assert store.get_catalog().catalog == catalog_body()
    assert store.get_catalog().updater == "system"
    assert store.get_draft(ACCOUNT_HEALTH).draft == b"account"
    assert store.get_draft(MULTIDIMENSIONAL).draft == b"multi"
    version = store.latest_version(MULTIDIMENSIONAL)
    assert (version.number, version.ruleset, version.creator) == (
        1,
        ruleset_body(MULTIDIMENSIONAL, 1),
        "system",
    )
    assert store.latest_version(ACCOUNT_HEALTH) is None
    active = store.active()
    assert (active.number, active.model, active.version, active.actor) == (
        1,
        MULTIDIMENSIONAL,
        1,
        "system",
    )
    assert (active.previous_model, active.previous_version) == (None, None)
    check_invariants(store)


def test_initialize_without_publishing(store):
    assert store.initialize(catalog=b"c", drafts={}, publish=None, actor="system")
    assert store.get_catalog().catalog == b"c"
    assert store.all_versions() == []
    assert store.active() is None


@pytest.mark.parametrize("existing", ["catalog", "draft", "version"])
def test_initialize_a_store_with_data_writes_nothing(store, existing):
    if existing == "catalog":
        store.put_catalog(b"mine", updater="ann", expected_etag=None)
    elif existing == "draft":
        store.put_draft(ACCOUNT_HEALTH, b"mine", updater="ann", expected_etag=None)
    else:
        publish(store, ACCOUNT_HEALTH)
    before = (store.get_catalog(), store.get_draft(ACCOUNT_HEALTH), store.all_versions())

    assert not store.initialize(
        catalog=b"theirs",
        drafts={ACCOUNT_HEALTH: b"theirs"},
        publish=(MULTIDIMENSIONAL, ruleset_body(MULTIDIMENSIONAL, 1)),
        actor="system",
    )
    assert (store.get_catalog(), store.get_draft(ACCOUNT_HEALTH), store.all_versions()) == before
    assert store.active() is None


def test_everything_survives_reopening(target):
    with open_store(target) as store:
        store.initialize(
            catalog=catalog_body(),
            drafts={ACCOUNT_HEALTH: b"account"},
            publish=(MULTIDIMENSIONAL, ruleset_body(MULTIDIMENSIONAL, 1)),
            actor="system",
        )
        publish(store, MULTIDIMENSIONAL)
        store.activate(MULTIDIMENSIONAL, 2, actor="ann", comment="")
        state = (
            store.get_catalog(),
            store.get_draft(ACCOUNT_HEALTH),
            store.all_versions(),
            store.list_activations(limit=10),
        )
    with open_store(target) as store:
        reopened = (
            store.get_catalog(),
            store.get_draft(ACCOUNT_HEALTH),
            store.all_versions(),
            store.list_activations(limit=10),
        )
        assert reopened == state
        assert reopened[0].update_time.tzinfo == dt.UTC
        check_invariants(store)
