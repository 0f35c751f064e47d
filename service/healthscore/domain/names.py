"""Resource names (see profile_service.proto): formatting, and parsing with errors that name the
request field."""

from __future__ import annotations

import re
from dataclasses import dataclass

from healthscore.errors import field_error
from healthscore_client.v1 import ruleset_pb2

ACCOUNT_HEALTH = ruleset_pb2.HEALTH_MODEL_ACCOUNT_HEALTH
MULTIDIMENSIONAL = ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL
MODELS: dict[str, int] = {"account-health": ACCOUNT_HEALTH, "multidimensional": MULTIDIMENSIONAL}
_MODEL_IDS = {v: k for k, v in MODELS.items()}
CATALOG = "catalog"

_MODEL = r"models/(?P<model>[a-z-]+)"
_PATTERNS = {
    "model": re.compile(_MODEL),
    "draft": re.compile(_MODEL + r"/draft"),
    "profile": re.compile(_MODEL + r"/draft/profiles/(?P<profile>[^/]+)"),
    "version": re.compile(_MODEL + r"/versions/(?P<version>[1-9][0-9]{0,17})"),
}
_SHAPES = {
    "model": "models/{model}",
    "draft": "models/{model}/draft",
    "profile": "models/{model}/draft/profiles/{profile}",
    "version": "models/{model}/versions/{version}",
}


def other_model(model: int) -> int:
    return ACCOUNT_HEALTH if model == MULTIDIMENSIONAL else MULTIDIMENSIONAL


def model_id(model: int) -> str:
    return _MODEL_IDS[model]


def model_name(model: int) -> str:
    return f"models/{model_id(model)}"


def draft_name(model: int) -> str:
    return f"{model_name(model)}/draft"


def profile_name(model: int, profile: str) -> str:
    return f"{draft_name(model)}/profiles/{profile}"


def version_name(model: int, number: int) -> str:
    return f"{model_name(model)}/versions/{number}"


def activation_name(number: int) -> str:
    return f"activations/{number}"


def _match(kind: str, name: str, field: str) -> re.Match[str]:
    if not name:
        raise field_error(field, f"required: a name like {_SHAPES[kind]}")
    m = _PATTERNS[kind].fullmatch(name)
    if m is None:
        raise field_error(field, f"{name!r} is not a name like {_SHAPES[kind]}")
    if m["model"] not in MODELS:
        raise field_error(field, f"unknown model {m['model']!r}; models: {', '.join(MODELS)}")
    return m


def parse_model(name: str, field: str) -> int:
    return MODELS[_match("model", name, field)["model"]]


def parse_draft(name: str, field: str) -> int:
    return MODELS[_match("draft", name, field)["model"]]


def parse_profile(name: str, field: str) -> tuple[int, str]:
    m = _match("profile", name, field)
    return MODELS[m["model"]], m["profile"]


def parse_version(name: str, field: str) -> tuple[int, int]:
    m = _match("version", name, field)
    return MODELS[m["model"]], int(m["version"])


def parse_catalog(name: str, field: str) -> None:
    if name != CATALOG:
        raise field_error(field, f"{name!r} is not the catalog's name {CATALOG!r}")


@dataclass(frozen=True)
class RulesetRef:
    """What a scoring request names: a model's draft, one of its versions, or its latest
    version (`number` None and `draft` False)."""

    model: int
    draft: bool = False
    number: int | None = None


def parse_ruleset(name: str, field: str) -> RulesetRef:
    """`models/{model}`, `models/{model}/draft` or `models/{model}/versions/{version}`."""
    for kind in ("version", "draft", "model"):
        m = _PATTERNS[kind].fullmatch(name)
        if m is not None:
            if m["model"] not in MODELS:
                raise field_error(
                    field, f"unknown model {m['model']!r}; models: {', '.join(MODELS)}"
                )
            model = MODELS[m["model"]]
            if kind == "version":
                return RulesetRef(model, number=int(m["version"]))
            return RulesetRef(model, draft=kind == "draft")
    raise field_error(
        field,
        f"{name!r} is not a ruleset name: models/{{model}}, models/{{model}}/draft or "
        "models/{model}/versions/{version}",
    )


ACCOUNTS_PREFIX = "accounts/"


def account_name(account_id: str) -> str:
    return ACCOUNTS_PREFIX + account_id


def parse_account(name: str, field: str) -> str:
    """`accounts/{account}`: the account id (any non-empty text, slashes included)."""
    if not name:
        raise field_error(field, "required: a name like accounts/{account}")
    if not name.startswith(ACCOUNTS_PREFIX) or len(name) == len(ACCOUNTS_PREFIX):
        raise field_error(field, f"{name!r} is not a name like accounts/{{account}}")
    return name[len(ACCOUNTS_PREFIX) :]
