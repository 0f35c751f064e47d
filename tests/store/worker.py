"""A separate process writing to a store, for the crash and multi-process tests.

Run from the repository root as `python -m tests.store.worker COMMAND DB ...` (DB: a SQLite file's
path or a PostgreSQL URL). It prints one line per write *after* the write returned (flushed at
once), so the parent knows which writes were acknowledged before it killed the process.

Commands:
- `loop DB`: initializes the store if empty, then publishes and activates versions of both
  models (and updates their drafts) until killed.
- `initialize DB`, `publish DB MODEL`, `activate DB MODEL NUMBER`: one write (with
  `HEALTHSCORE_STORE_CRASH` set, the process kills itself inside it).
- `race DB MODEL COUNT NAME`: prints `ready`, waits for a line on stdin, then publishes COUNT
  versions as creator NAME and increments the draft counter (which must exist) COUNT times with
  conditional writes.
"""

from __future__ import annotations

import random
import sys
import time

from healthscore.errors import StaleEtagError
from healthscore.store import Store
from tests.store.support import MODELS, MULTIDIMENSIONAL, catalog_body, open_store, ruleset_body


def increment_draft(store: Store, model: int, updater: str) -> None:
    """Read-modify-write of a counter held in the (existing) draft, retried until its etag was
    current."""
    while True:
        draft = store.get_draft(model)
        assert draft is not None, "an unconditional create could overwrite a concurrent one"
        try:
            store.put_draft(
                model, str(int(draft.draft) + 1).encode(), updater=updater, expected_etag=draft.etag
            )
            return
        except StaleEtagError:
            continue


def initialize(store: Store) -> None:
    """The first start: drafts holding counters at 0, version 1 of Multidimensional active."""
    store.initialize(
        catalog=catalog_body(),
        drafts={model: b"0" for model in MODELS},
        publish=(MULTIDIMENSIONAL, ruleset_body(MULTIDIMENSIONAL, 1)),
        actor="worker",
    )


def loop(store: Store) -> None:
    initialize(store)
    print("ready", flush=True)
    while True:
        for model in MODELS:
            # The only writer: the number publish will assign is known beforehand.
            latest = store.latest_version(model)
            number = latest.number + 1 if latest else 1
            draft = store.get_draft(model)
            version = store.publish(
                model,
                ruleset_body(model, number),
                comment=f"round {number}",
                creator="worker",
                expected_draft_etag=draft.etag if draft else None,
            )
            print(f"published {model} {version.number}", flush=True)
            activation = store.activate(model, number, actor="worker", comment="")
            print(f"activated {activation.number}", flush=True)
            increment_draft(store, model, "worker")


def main(argv: list[str]) -> None:
    command, target = argv[0], argv[1]
    store = open_store(target)
    if command == "loop":
        loop(store)
    elif command == "initialize":
        initialize(store)
    elif command == "publish":
        model = int(argv[2])
        latest = store.latest_version(model)
        number = latest.number + 1 if latest else 1
        store.publish(
            model,
            ruleset_body(model, number),
            comment="",
            creator="worker",
            expected_draft_etag=None,
        )
    elif command == "activate":
        store.activate(int(argv[2]), int(argv[3]), actor="worker", comment="")
    elif command == "race":
        model, count, name = int(argv[2]), int(argv[3]), argv[4]
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(count):
            store.publish(model, b"", comment="", creator=name, expected_draft_etag=None)
            increment_draft(store, model, name)
            # A waiting writer sleeps in SQLite's busy handler and rarely wins the lock from one
            # that writes back to back: a pause between writes lets the processes interleave.
            time.sleep(random.uniform(0, 0.002))
    else:
        raise SystemExit(f"unknown command {command!r}")
    store.close()


if __name__ == "__main__":
    main(sys.argv[1:])
