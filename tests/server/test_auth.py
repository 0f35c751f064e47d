"""The tokens file (strict validation, errors naming the entry, `add_token`) and the
Authenticator's decisions, without a server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from healthscore.errors import InvalidInputError, PermissionDeniedError, UnauthenticatedError
from healthscore.server.auth import (
    ANONYMOUS,
    Authenticator,
    TokenEntry,
    add_token,
    hash_token,
    load_tokens,
    parse_tokens,
)
from healthscore.server.context import METHOD_ROLES, Identity, Role

GOOD_HASH = hash_token("t")


def entry(**fields: object) -> dict[str, object]:
    return {"name": "alice", "role": "admin", "sha256": GOOD_HASH, **fields}


def violations(document: object) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_tokens(document)
    return [str(v) for v in caught.value.violations]


def test_a_valid_file_parses_to_entries() -> None:
    parsed = parse_tokens({"tokens": [entry(), entry(name="bob", role="viewer", sha256="a" * 64)]})
    assert parsed == [
        TokenEntry("alice", Role.ADMIN, GOOD_HASH),
        TokenEntry("bob", Role.VIEWER, "a" * 64),
    ]


@pytest.mark.parametrize(
    "document", [None, [], "tokens", {"tokens": []} | {"extra": 1}, {"token": []}]
)
def test_the_top_level_must_be_a_tokens_mapping(document: object) -> None:
    assert violations(document) == ["tokens: missing, or other top-level keys present"]


def test_tokens_must_be_a_list() -> None:
    assert violations({"tokens": {"alice": GOOD_HASH}}) == ["tokens: not a list"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (entry(role="owner"), "tokens[1] (alice): role must be one of viewer, editor, admin"),
        (entry(sha256="ABC"), "tokens[1] (alice): sha256 must be 64 lowercase hex digits"),
        (entry(sha256=GOOD_HASH.upper()), "tokens[1] (alice): sha256 must be 64 lowercase"),
        (entry(token="hs_clear"), "tokens[1] (alice): unknown key 'token'"),
        ({"name": "alice", "role": "admin"}, "tokens[1] (alice): missing 'sha256'"),
        (entry(name="has space"), "tokens[1] (has space): name must be 1-128 letters"),
        (entry(name=7), "tokens[1]: name must be"),
        ("alice", "tokens[1]: must be a mapping"),
    ],
)
def test_each_bad_entry_is_named(bad: object, message: str) -> None:
    found = violations({"tokens": [entry(name="ok", sha256="b" * 64), bad]})
    assert len(found) == 1
    assert found[0].startswith(message)


def test_names_and_hashes_are_unique() -> None:
    found = violations({"tokens": [entry(), entry(sha256="c" * 64), entry(name="bob")]})
    assert found == [
        "tokens[1] (alice): name 'alice' is taken by tokens[0]",
        "tokens[2] (bob): sha256 repeats tokens[0]'s",
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = violations({"tokens": [entry(role="x"), entry(name="b", sha256="z")]})
    assert len(found) == 2


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text("tokens: [{name: a, role: boss, sha256: x}]\n")
    with pytest.raises(
        InvalidInputError, match=re.escape("tokens.yaml: tokens file: tokens[0] (a)")
    ):
        load_tokens(path)
    path.write_text("tokens: [unclosed\n")
    with pytest.raises(InvalidInputError, match="not YAML"):
        load_tokens(path)


def test_add_token_stores_only_the_hash(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    alice = add_token(path, "alice", Role.ADMIN)
    bob = add_token(path, "bob", Role.VIEWER)
    text = path.read_text()
    assert alice not in text and bob not in text
    assert alice != bob and alice.startswith("hs_") and len(alice) > 40
    assert yaml.safe_load(text) == {
        "tokens": [
            {"name": "alice", "role": "admin", "sha256": hash_token(alice)},
            {"name": "bob", "role": "viewer", "sha256": hash_token(bob)},
        ]
    }
    auth = Authenticator.from_file(path)
    assert auth.identify([f"Bearer {bob}"]) == Identity("bob", Role.VIEWER)


def test_add_token_refuses_a_taken_name_and_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    add_token(path, "alice", Role.ADMIN)
    before = path.read_text()
    with pytest.raises(InvalidInputError, match="'alice' exists already"):
        add_token(path, "alice", Role.VIEWER)
    with pytest.raises(InvalidInputError, match="name must be"):
        add_token(path, "not ok", Role.VIEWER)
    assert path.read_text() == before


AUTH = Authenticator([TokenEntry("alice", Role.EDITOR, GOOD_HASH)])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "missing"),
        (["Bearer nope"], "unknown token"),
        (["Basic dDp0"], "malformed"),
        (["Bearer"], "malformed"),
        (["Bearer   "], "malformed"),
        (["t"], "malformed"),
        ([b"Bearer t"], "malformed"),
        (["Bearer t", "Bearer t"], "more than one"),
    ],
)
def test_identify_refuses(values: list[str | bytes], message: str) -> None:
    with pytest.raises(UnauthenticatedError, match=message):
        AUTH.identify(values)


@pytest.mark.parametrize("header", ["Bearer t", "bearer t", "BEARER  t ", " Bearer t"])
def test_identify_accepts_the_scheme_in_any_case(header: str) -> None:
    assert AUTH.identify([header]) == Identity("alice", Role.EDITOR)


def test_public_services_let_anyone_in() -> None:
    health = "/grpc.health.v1.Health/Check"
    assert AUTH.identify_for(health, []) == ANONYMOUS
    assert AUTH.identify_for(health, ["Bearer nope"]) == ANONYMOUS
    assert AUTH.identify_for(health, ["Bearer t"]) == Identity("alice", Role.EDITOR)
    AUTH.check_role("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", ANONYMOUS)
    with pytest.raises(UnauthenticatedError):
        AUTH.identify_for("/healthscore.v1.ScoringService/ScoreAccounts", [])


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("method", sorted(METHOD_ROLES))
def test_check_role_follows_method_roles(method: str, role: Role) -> None:
    identity = Identity("x", role)
    if role >= METHOD_ROLES[method]:
        Authenticator.check_role(method, identity)
    else:
        with pytest.raises(PermissionDeniedError, match=METHOD_ROLES[method].name.lower()):
            Authenticator.check_role(method, identity)


def test_methods_without_a_role_are_admin_only() -> None:
    Authenticator.check_role("/healthscore.v1.NewService/New", Identity("a", Role.ADMIN))
    with pytest.raises(PermissionDeniedError, match="needs the admin role; e has editor"):
        Authenticator.check_role("/healthscore.v1.NewService/New", Identity("e", Role.EDITOR))
