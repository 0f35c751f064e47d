"""Per-call context shared by the interceptors and the servicers: who is calling, with which role,
and what the call did (for its log line).

The interceptors set both for the duration of a handler (context variables, so they follow the
handler's thread); servicers read the identity and add notes.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


class Role(enum.IntEnum):
    """Roles, each including the ones below it."""

    VIEWER = 1
    EDITOR = 2
    ADMIN = 3


@dataclass(frozen=True)
class Identity:
    """The authenticated caller. With authentication off every caller is `local` with ADMIN."""

    name: str
    role: Role


LOCAL = Identity("local", Role.ADMIN)

_PROFILES = "/healthscore.v1.ProfileService/"
_SCORING = "/healthscore.v1.ScoringService/"
_ACCOUNTS = "/healthscore.v1.AccountService/"
_HISTORY = "/healthscore.v1.HistoryService/"
_PORTFOLIO = "/healthscore.v1.PortfolioService/"

# The role each method needs. Methods not listed (health, reflection) need none.
METHOD_ROLES: dict[str, Role] = {
    _PROFILES + "GetCatalog": Role.VIEWER,
    _PROFILES + "UpdateCatalog": Role.ADMIN,
    _PROFILES + "GetDraft": Role.VIEWER,
    _PROFILES + "UpdateDraft": Role.EDITOR,
    _PROFILES + "ValidateDraft": Role.VIEWER,
    _PROFILES + "PublishDraft": Role.EDITOR,
    _PROFILES + "GetProfile": Role.VIEWER,
    _PROFILES + "CreateProfile": Role.EDITOR,
    _PROFILES + "UpdateProfile": Role.EDITOR,
    _PROFILES + "DeleteProfile": Role.EDITOR,
    _PROFILES + "ReorderProfiles": Role.EDITOR,
    _PROFILES + "GetVersion": Role.VIEWER,
    _PROFILES + "ListVersions": Role.VIEWER,
    _PROFILES + "ActivateVersion": Role.ADMIN,
    _PROFILES + "GetActiveVersion": Role.VIEWER,
    _PROFILES + "ListActivations": Role.VIEWER,
    _SCORING + "ScoreAccounts": Role.VIEWER,
    _SCORING + "StreamScoreAccounts": Role.VIEWER,
    _SCORING + "PreviewDraft": Role.VIEWER,
    _SCORING + "ScoreHierarchy": Role.VIEWER,
    _ACCOUNTS + "WriteAccountData": Role.EDITOR,
    _ACCOUNTS + "StreamWriteAccountData": Role.EDITOR,
    _ACCOUNTS + "GetAccountHealth": Role.VIEWER,
    _ACCOUNTS + "BatchGetAccountHealth": Role.VIEWER,
    _HISTORY + "GetHealthTrend": Role.VIEWER,
    _HISTORY + "ListHealthTrends": Role.VIEWER,
    _HISTORY + "CreateSnapshot": Role.ADMIN,
    _HISTORY + "ListSnapshots": Role.VIEWER,
    _PORTFOLIO + "SummarizePortfolio": Role.VIEWER,
    _PORTFOLIO + "ListPortfolioAccounts": Role.VIEWER,
}

_identity: ContextVar[Identity] = ContextVar("healthscore_identity", default=LOCAL)
_notes: ContextVar[dict[str, Any] | None] = ContextVar("healthscore_notes", default=None)


def current_identity() -> Identity:
    """The caller of the RPC being handled."""
    return _identity.get()


@contextlib.contextmanager
def calling_as(identity: Identity) -> Iterator[None]:
    """Runs the enclosed handler as `identity`."""
    token = _identity.set(identity)
    try:
        yield
    finally:
        _identity.reset(token)


@contextlib.contextmanager
def collecting_notes() -> Iterator[dict[str, Any]]:
    """Collects what the enclosed handler notes (for the call's log line)."""
    notes: dict[str, Any] = {}
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)


def note(**fields: Any) -> None:
    """Adds fields to the current call's log line, e.g. `note(accounts=1000, version=...)`."""
    notes = _notes.get()
    if notes is not None:
        notes.update(fields)
