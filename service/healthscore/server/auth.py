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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
import yaml

from healthscore.errors import (
    InvalidInputError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    Violation,
)
from healthscore.server.context import LOCAL, METHOD_ROLES, Identity, Role, calling_as, note
from healthscore.server.limits import (
    Admission,
    IdleWatch,
    Limits,
    Slot,
    in_lane,
    mark_single_request,
)
from healthscore.server.rpc_log import around_handler, behaviour, method_handler
from healthscore.server.status import to_status

# Services anyone may call without a token: probes and generic clients (grpcurl) need them.
PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
ANONYMOUS = Identity("anonymous", Role.VIEWER)
# How often a call may look whether the tokens file changed.
_LOOK_EVERY_S = 1.0

log = structlog.get_logger("healthscore.server")

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
    """Who a call's metadata says the caller is, and whether that caller may call a method.

    Made from a file (`from_file`), it follows the file: `reload()` (on SIGHUP) re-reads it, and
    so does the first call after the file changed (its size, time or inode; looked at most once
    a second), so that a token removed from the file stops working without a restart. A file
    that no longer parses is logged and the tokens in use are kept."""

    def __init__(self, entries: list[TokenEntry], path: Path | None = None) -> None:
        self._by_hash = self._table(entries)
        self._path = path
        self._lock = threading.Lock()
        self._seen = _file_state(path) if path is not None else None
        self._next_look = time.monotonic() + _LOOK_EVERY_S

    @staticmethod
    def _table(entries: list[TokenEntry]) -> dict[str, Identity]:
        return {entry.sha256: Identity(entry.name, entry.role) for entry in entries}

    @classmethod
    def from_file(cls, path: Path) -> Authenticator:
        return cls(load_tokens(path), path)

    def reload(self) -> bool:
        """Re-reads the tokens file; False (and the tokens kept) if it cannot be read."""
        if self._path is None:
            return False
        with self._lock:
            self._seen = _file_state(self._path)
            try:
                entries = load_tokens(self._path)
            except (InvalidInputError, OSError) as exc:
                log.error("tokens_reload_failed", file=str(self._path), error=str(exc))
                return False
            self._by_hash = self._table(entries)
        log.info("tokens_reloaded", file=str(self._path), tokens=len(entries))
        return True

    def _follow_file(self) -> None:
        now = time.monotonic()
        if self._path is None or now < self._next_look:
            return
        self._next_look = now + _LOOK_EVERY_S
        if _file_state(self._path) != self._seen:
            self.reload()

    def identify(self, authorization: Sequence[str | bytes]) -> Identity:
        """The caller named by the call's `authorization` metadata values, which must be exactly one
        `Bearer <token>` with a known token; UnauthenticatedError otherwise."""
        self._follow_file()
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


def _file_state(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """Authenticates each call, checks its role and its caller's caps (`limits.Admission`) when
    gRPC hands it over, before any request message is read: a refused call never has its
    message buffered, and ends UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED on the
    control lane. An admitted call runs as the caller (`context.calling_as`), inside the
    handler's own call so that streaming handlers see it too, with its request messages read
    under the idle timeout (`limits.IdleWatch`); health and reflection run on the control lane.
    Notes `caller` for the log. With `authenticator=None` (no tokens file) every caller is
    `LOCAL`."""

    def __init__(
        self,
        authenticator: Authenticator | None,
        limits: Limits | None = None,
        lane: futures.ThreadPoolExecutor | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._admission = Admission(limits or Limits())
        self._idle = IdleWatch(self._admission.limits.stream_idle_seconds)
        self._lane = lane

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
        public = method.startswith(PUBLIC_SERVICES)
        identity = LOCAL
        if authenticator is not None:
            authorization = [
                value
                for key, value in handler_call_details.invocation_metadata or ()
                if key == "authorization"
            ]
            try:
                identity = authenticator.identify_for(method, authorization)
            except UnauthenticatedError as exc:
                return self._refusal(handler, None, exc)
            try:
                authenticator.check_role(method, identity)
            except PermissionDeniedError as exc:
                return self._refusal(handler, identity.name, exc)
        streaming = handler.request_streaming or handler.response_streaming
        slot = self._admission.admit(identity.name, streaming, public)
        if isinstance(slot, str):
            return self._refusal(handler, identity.name, ResourceExhaustedError(slot))
        return self._admitted(handler, identity, slot, method, self._lane if public else None)

    def _refusal(
        self, handler: grpc.RpcMethodHandler[Any, Any], caller: str | None, exc: Exception
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """A handler that ends the call with `exc`'s status without reading its request."""
        status = to_status(exc)

        def refuse(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            if caller is not None:
                note(caller=caller)
            context.abort_with_status(status)

        in_lane(refuse, self._lane)
        return method_handler(
            refuse, True, handler.response_streaming, None, handler.response_serializer
        )

    def _admitted(
        self,
        handler: grpc.RpcMethodHandler[Any, Any],
        identity: Identity,
        slot: Slot,
        method: str,
        lane: futures.ThreadPoolExecutor | None,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        idle = self._idle
        inner = behaviour(handler)
        if handler.request_streaming:

            def reading(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                return inner(idle.requests(requests, context, method), context)

        else:
            # Read by us, as the one message of a request stream: gRPC would read it before the
            # handler runs, and not run the handler (which frees the slot) for a call given up
            # while it waited for a thread.
            def reading(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                for request in idle.requests(requests, context, method):
                    return inner(request, context)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")

            mark_single_request(reading)
        in_lane(reading, lane)
        converted = method_handler(
            reading,
            True,
            handler.response_streaming,
            handler.request_deserializer,
            handler.response_serializer,
        )

        @contextlib.contextmanager
        def as_caller(context: grpc.ServicerContext) -> Iterator[None]:
            context.add_callback(slot.release)
            try:
                note(caller=identity.name)
                with calling_as(identity):
                    yield
            finally:
                slot.release()

        return around_handler(converted, as_caller)
