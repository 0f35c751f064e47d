"""Persistence of health design: catalog, drafts, versions and activations."""

from healthscore.store.base import (
    ActivationRecord,
    CatalogRecord,
    DraftRecord,
    Store,
    VersionRecord,
)
from healthscore.store.sqlite import SqliteStore

__all__ = [
    "ActivationRecord",
    "CatalogRecord",
    "DraftRecord",
    "SqliteStore",
    "Store",
    "VersionRecord",
]
