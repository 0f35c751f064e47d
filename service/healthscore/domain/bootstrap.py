"""First start: the embedded defaults, so a fresh install scores accounts out of the box (the
seeds promise a default profile). The default ruleset's catalog becomes the catalog, its profiles
the Multidimensional draft and version 1, activated; the Account Health draft starts empty."""

from __future__ import annotations

from healthscore import files
from healthscore.domain import names
from healthscore.store import Store
from healthscore_client.v1 import profile_service_pb2, ruleset_pb2

SYSTEM_ACTOR = "system"


def initialize(store: Store) -> bool:
    """Writes the defaults into an empty store (one transaction); False if it had data."""
    ruleset = files.load_ruleset(files.DEFAULT_RULESET)
    model = ruleset.model or ruleset_pb2.HEALTH_MODEL_MULTIDIMENSIONAL
    drafts = {
        m: profile_service_pb2.Draft(
            settings=ruleset.settings if m == model else None,
            profiles=ruleset.profiles if m == model else [],
        ).SerializeToString()
        for m in names.MODELS.values()
    }
    published = ruleset_pb2.Ruleset()
    published.CopyFrom(ruleset)
    published.ClearField("version")
    return store.initialize(
        catalog=ruleset.catalog.SerializeToString(),
        drafts=drafts,
        publish=(model, published.SerializeToString()),
        actor=SYSTEM_ACTOR,
    )
