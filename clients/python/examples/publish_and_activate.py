"""Raises the multidimensional draft's GOOD threshold, validates, publishes and activates it;
with --rollback, activates the version that was active before instead.

    python clients/python/examples/publish_and_activate.py --good-min 75
    python clients/python/examples/publish_and_activate.py --rollback

Editing needs an editor token, activating an admin token (HEALTHSCORE_TOKEN).
"""

from __future__ import annotations

import argparse
import os

from healthscore_client import AbortedError, FailedPreconditionError, HealthScoreClient, Model

MODEL = Model.MULTIDIMENSIONAL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--good-min", type=int, default=75)
    parser.add_argument("--rollback", action="store_true")
    args = parser.parse_args()

    with HealthScoreClient(args.server, token=os.environ.get("HEALTHSCORE_TOKEN")) as client:
        if args.rollback:
            active = client.get_active_version()
            if not active.previous_version:
                print("nothing to roll back to")
                return 1
            back = client.activate_version(active.previous_version, comment="rollback")
            print(f"active: {back.version} (was {active.version})")
            return 0

        draft = client.get_draft(MODEL)
        draft.settings.good_min = args.good_min
        try:
            # draft.etag makes the update conditional: a concurrent edit raises AbortedError.
            draft = client.update_draft(MODEL, draft, update_mask=["settings.good_min"])
            version = client.publish_draft(
                MODEL, comment=f"GOOD from {args.good_min}", etag=draft.etag
            )
        except AbortedError:
            print("the draft changed meanwhile: read it again and retry")
            return 1
        except FailedPreconditionError as error:
            for violation in error.precondition_violations:
                print(f"{violation.subject}: {violation.description}")
            return 1
        activation = client.activate_version(version.name, comment="example")
        print(f"published and activated {version.name} (previous: {activation.previous_version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
