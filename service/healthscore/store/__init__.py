"""Persistence of health design: catalog, drafts, versions and activations."""

from healthscore.store.base import (
    ActivationRecord,
    CatalogRecord,
    DraftRecord,
    Store,
    VersionRecord,
)

__all__ = ["ActivationRecord", "CatalogRecord", "DraftRecord", "Store", "VersionRecord"]
