"""Bearer-token authentication with roles.

The tokens file (YAML) holds only SHA-256 hashes of the tokens, never the tokens:

    tokens:
      - {name: alice, role: admin, sha256: 9f86d0...}   # 64 lowercase hex digits
      - {name: scoring-job, role: viewer, sha256: 2c26b4...}

Roles: viewer (score, read), editor (edit drafts, publish), admin (activate, rollback, catalog);
each includes the ones below. `healthscore tokens add` generates a token and appends its hash.

A caller sends `authorization: Bearer <token>`. The presented token is hashed and the digest looked
up: nothing about a stored hash can be learnt by timing the comparison of a guess, because a guess
is compared by its digest, which the guesser does not control bit by bit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml

from healthscore.errors import (
    InvalidInputError,
    PermissionDeniedError,
    UnauthenticatedError,
    Violation,
)
from healthscore.server.context import LOCAL, METHOD_ROLES, Identity, Role, calling_as, note
from healthscore.server.rpc_log import around_handler
from healthscore.server.status import to_status

# Services anyone may call without a token: probes and generic clients (grpcurl) need them.
PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
ANONYMOUS = Identity("anonymous", Role.VIEWER)

ROLE_NAMES = {role.name.lower(): role for role in Role}
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_FIELDS = ("name", "role", "sha256")


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the tokens file stores."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits); the `hs_` prefix lets secret scanners recognise it."""
    return "hs_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class TokenEntry:
    name: str
    role: Role
    sha256: str


def parse_tokens(document: Any) -> list[TokenEntry]:
    """Validates a parsed tokens file; every problem is reported, each naming its entry."""
    if not isinstance(document, dict) or set(document) != {"tokens"}:
        raise InvalidInputError(
            "tokens file: expected a mapping with exactly one key, `tokens` (a list)",
            [Violation("tokens", "missing, or other top-level keys present")],
        )
    entries = document["tokens"]
    if not isinstance(entries, list):
        raise InvalidInputError(
            "tokens file: `tokens` must be a list", [Violation("tokens", "not a list")]
        )
    violations: list[Violation] = []
    parsed: list[TokenEntry] = []
    names: dict[str, int] = {}
    hashes: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"tokens[{i}]"
        if not isinstance(entry, dict):
            violations.append(Violation(where, "must be a mapping with name, role, sha256"))
            continue
        if isinstance(entry.get("name"), str):
            where = f"tokens[{i}] ({entry['name']})"
        problems = [f"unknown key {key!r}" for key in entry if key not in _FIELDS]
        problems += [f"missing {key!r}" for key in _FIELDS if key not in entry]
        name, role, digest = entry.get("name"), entry.get("role"), entry.get("sha256")
        if "name" in entry and not (isinstance(name, str) and _NAME.fullmatch(name)):
            problems.append("name must be 1-128 letters, digits, '.', '_', '@' or '-'")
        elif isinstance(name, str) and name in names:
            problems.append(f"name {name!r} is taken by tokens[{names[name]}]")
        if "role" in entry and role not in ROLE_NAMES:
            problems.append(f"role must be one of {', '.join(ROLE_NAMES)}, not {role!r}")
        if "sha256" in entry and not (isinstance(digest, str) and _HEX_SHA256.fullmatch(digest)):
            problems.append("sha256 must be 64 lowercase hex digits (the token's SHA-256)")
        elif isinstance(digest, str) and digest in hashes:
            problems.append(f"sha256 repeats tokens[{hashes[digest]}]'s")
        violations += [Violation(where, problem) for problem in problems]
        if not problems:
            assert isinstance(name, str) and isinstance(role, str) and isinstance(digest, str)
            names[name], hashes[digest] = i, i
            parsed.append(TokenEntry(name, ROLE_NAMES[role], digest))
    if violations:
        raise InvalidInputError("tokens file: " + "; ".join(str(v) for v in violations), violations)
    return parsed


def load_tokens(path: Path) -> list[TokenEntry]:
    """Reads and validates a tokens file (errors name the file and the entry)."""
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path}: not YAML: {exc}") from exc
    try:
        return parse_tokens(document)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc}", exc.violations) from None


def add_token(path: Path, name: str, role: Role) -> str:
    """Generates a token for `name`, stores its hash in the tokens file (created if missing;
    rewritten atomically, so comments are not kept) and returns the token: the only time it
    exists in clear."""
    entries = load_tokens(path) if path.exists() else []
    if any(entry.name == name for entry in entries):
        raise InvalidInputError(f"{path}: a token named {name!r} exists already")
    token = new_token()
    entries.append(TokenEntry(name, role, hash_token(token)))
    parse_tokens(_document(entries))  # the same rules as on load (e.g. the name's characters)
    text = yaml.safe_dump(_document(entries), sort_keys=False)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(out.name, path)
    return token


def _document(entries: list[TokenEntry]) -> dict[str, Any]:
    return {
        "tokens": [
            {"name": e.name, "role": e.role.name.lower(), "sha256": e.sha256} for e in entries
        ]
    }


class Authenticator:
    """Who a call's metadata says the caller is, and whether that caller may call a method."""

    def __init__(self, entries: list[TokenEntry]) -> None:
        self._by_hash = {entry.sha256: Identity(entry.name, entry.role) for entry in entries}

    @classmethod
    def from_file(cls, path: Path) -> Authenticator:
        return cls(load_tokens(path))

    def identify(self, authorization: Sequence[str | bytes]) -> Identity:
        """The caller named by the call's `authorization` metadata values, which must be exactly one
        `Bearer <token>` with a known token; UnauthenticatedError otherwise."""
        if not authorization:
            raise UnauthenticatedError("missing `authorization: Bearer <token>` metadata")
        if len(authorization) > 1:
            raise UnauthenticatedError("more than one authorization metadata value")
        header = authorization[0]
        scheme, _, token = (
            header.strip().partition(" ") if isinstance(header, str) else ("", "", "")
        )
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UnauthenticatedError(
                "malformed authorization metadata: expected `Bearer <token>`"
            )
        identity = self._by_hash.get(hash_token(token))
        if identity is None:
            raise UnauthenticatedError("unknown token")
        return identity

    def identify_for(self, method: str, authorization: Sequence[str | bytes]) -> Identity:
        """`identify`, except that public services (health, reflection) let anyone in: a caller
        without a valid token calls them as `ANONYMOUS`."""
        if method.startswith(PUBLIC_SERVICES):
            try:
                return self.identify(authorization)
            except UnauthenticatedError:
                return ANONYMOUS
        return self.identify(authorization)

    @staticmethod
    def check_role(method: str, identity: Identity) -> None:
        """PermissionDeniedError unless `identity`'s role allows `method`."""
        if method.startswith(PUBLIC_SERVICES):
            return
        # A method missing from METHOD_ROLES is admin-only: a method added without a role fails
        # closed.
        needed = METHOD_ROLES.get(method, Role.ADMIN)
        if identity.role < needed:
            raise PermissionDeniedError(
                f"{method} needs the {needed.name.lower()} role; "
                f"{identity.name} has {identity.role.name.lower()}"
            )


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates each call and runs its handler as the caller (`context.calling_as`), inside
    the handler's own call so that streaming handlers see it too. Notes `caller` for the log.
    With `authenticator=None` (no tokens file) every caller is `LOCAL`."""

    def __init__(self, authenticator: Authenticator | None) -> None:
        self._authenticator = authenticator

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        authenticator = self._authenticator
        method = handler_call_details.method
        authorization = [
            value
            for key, value in handler_call_details.invocation_metadata or ()
            if key == "authorization"
        ]

        @contextlib.contextmanager
        def authenticated(context: grpc.ServicerContext) -> Iterator[None]:
            identity = LOCAL
            if authenticator is not None:
                try:
                    identity = authenticator.identify_for(method, authorization)
                except UnauthenticatedError as exc:
                    context.abort_with_status(to_status(exc))
            note(caller=identity.name)
            if authenticator is not None:
                try:
                    authenticator.check_role(method, identity)
                except PermissionDeniedError as exc:
                    context.abort_with_status(to_status(exc))
            with calling_as(identity):
                yield

        return around_handler(handler, authenticated)
