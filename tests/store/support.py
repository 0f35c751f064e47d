"""Helpers of the store tests: real ruleset bodies, opening a store, and the invariants every
state of a store must satisfy (also after a `kill -9`)."""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path

from healthscore.files import DEFAULT_RULESET, load_ruleset
from healthscore.store import SqliteStore, Store
from healthscore.store.sql import SqlStore
from healthscore_client.v1 import ruleset_pb2

ACCOUNT_HEALTH = ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH
MULTIDIMENSIONAL = ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL
MODELS = (ACCOUNT_HEALTH, MULTIDIMENSIONAL)


@functools.cache
def _default_ruleset() -> ruleset_pb2.Ruleset:
    return load_ruleset(DEFAULT_RULESET)


def ruleset_body(model: int, number: int) -> bytes:
    """The embedded default ruleset labelled as version `number` of `model`: real, distinct
    bodies whose expected content follows from where they are stored."""
    ruleset = ruleset_pb2.Ruleset()
    ruleset.CopyFrom(_default_ruleset())
    ruleset.model = model
    ruleset.version = f"{model}/versions/{number}"
    return ruleset.SerializeToString(deterministic=True)


def is_database_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str) -> SqlStore:
    """The store at `target`: a PostgreSQL URL, else a SQLite file's path."""
    if is_database_url(target):
        from healthscore.store.postgres import PostgresStore

        return PostgresStore(target)
    return SqliteStore(Path(target))


def catalog_body() -> bytes:
    return _default_ruleset().catalog.SerializeToString(deterministic=True)


def check_invariants(store: Store) -> dict[int, int]:
    """Asserts what holds after any sequence of writes, however interrupted; returns the highest
    version number per model.

    Version numbers run 1..n per model; every ruleset body is the intact one labelled with its
    own number; activations run 1..k, each naming an existing version and, as previous, the
    version the activation before it activated."""
    numbers: dict[int, list[int]] = defaultdict(list)
    for version in store.all_versions():
        numbers[version.model].append(version.number)
        ruleset = ruleset_pb2.Ruleset.FromString(version.ruleset)
        assert ruleset.version == f"{version.model}/versions/{version.number}"
        assert version.ruleset == ruleset_body(version.model, version.number)
    for model, found in numbers.items():
        assert sorted(found) == list(range(1, len(found) + 1)), f"model {model}: {found}"
    activations = list(reversed(store.list_activations(limit=1_000_000)))
    assert [a.number for a in activations] == list(range(1, len(activations) + 1))
    previous = None
    for activation in activations:
        assert store.get_version(activation.model, activation.version) is not None
        expected = (previous.model, previous.version) if previous else (None, None)
        assert (activation.previous_model, activation.previous_version) == expected
        previous = activation
    assert store.active() == previous
    return {model: len(found) for model, found in numbers.items()}
