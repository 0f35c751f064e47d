"""The service's composition root: the store, the compiled-ruleset registry, the domain, and the
servicers that expose them. `serve` builds one `App` per process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc

from healthscore.domain import bootstrap
from healthscore.domain.accounts import AccountData, StaleRefresher
from healthscore.domain.profiles import ProfileManager
from healthscore.domain.registry import ACTIVE_CHECK_SECONDS, Registry
from healthscore.errors import InvalidInputError
from healthscore.history.portfolio import Portfolio
from healthscore.history.snapshot import LOCK_FILE, History, HistoryConfig, Scheduler
from healthscore.server import (
    account_servicer,
    history_servicer,
    portfolio_servicer,
    scoring_servicer,
)
from healthscore.server.profile_servicer import ProfileServicer
from healthscore.store import Store
from healthscore.store.accounts import ACCOUNTS_FILE, AccountStore
from healthscore.store.sqlite import DATABASE_FILE, SqliteStore
from healthscore_client.v1 import profile_service_pb2, profile_service_pb2_grpc

if TYPE_CHECKING:
    from healthscore.store.postgres import PostgresStore


class App:
    """Everything one server process needs, opened from a data directory."""

    def __init__(
        self,
        store: Store,
        account_store: AccountStore | None = None,
        *,
        poll_seconds: float | None = ACTIVE_CHECK_SECONDS,
    ) -> None:
        self.store = store
        self.registry = Registry(store, poll_seconds=poll_seconds)
        self._reachable = True
        self._reachable_lock = threading.Lock()
        self._reachable_callbacks: list[Callable[[bool], None]] = []
        self.profiles = ProfileManager(store, self.registry)
        self.account_store = account_store
        self.accounts = AccountData(account_store, self.registry) if account_store else None
        self._refresher: StaleRefresher | None = None
        self.history: History | None = None
        self._scheduler: Scheduler | None = None

    @classmethod
    def open(
        cls,
        data_dir: Path,
        history: HistoryConfig | None = None,
        database_url: str | None = None,
    ) -> App:
        """Opens the data directory's store, creating it on first start with the embedded
        defaults published and active, and its history (`history`; default: under the data
        directory, no scheduler), whose snapshot scheduler starts if the configuration has one
        (`serve` passes its flags', on by default). With `database_url`, the profile store is
        that PostgreSQL database instead, shared with the other replicas: activations arrive
        by LISTEN/NOTIFY and the store's reachability by `on_store_reachable`."""
        data_dir.mkdir(parents=True, exist_ok=True)
        if database_url:
            postgres = _open_postgres(database_url)
            bootstrap.initialize(postgres)
            app = cls(postgres, AccountStore(data_dir / ACCOUNTS_FILE), poll_seconds=None)
            app.registry.refresh_active()
            postgres.watch(app.registry.refresh_active, app._store_reachable)
        else:
            store = SqliteStore(data_dir / DATABASE_FILE)
            bootstrap.initialize(store)
            app = cls(store, AccountStore(data_dir / ACCOUNTS_FILE))
            app.registry.refresh_active()
        config = history or HistoryConfig(scheduler=False)
        app.history = History(config, data_dir, app.account_store)
        if config.scheduler:
            app._scheduler = Scheduler(app.history, data_dir / LOCK_FILE)
            app._scheduler.start()
        return app

    def add_to_server(self, server: grpc.Server) -> list[str]:
        """Registers the ProfileService, ScoringService, AccountService, HistoryService and
        PortfolioService servicers; returns
        their full names (for health and reflection)."""
        profile_service_pb2_grpc.add_ProfileServiceServicer_to_server(
            ProfileServicer(self.profiles), server
        )
        scoring_servicer.add_to_server(scoring_servicer.ScoringServicer(self.registry), server)
        services = [
            profile_service_pb2.DESCRIPTOR.services_by_name["ProfileService"].full_name,
            scoring_servicer.SERVICE,
        ]
        if self.accounts is not None:
            account_servicer.add_to_server(account_servicer.AccountServicer(self.accounts), server)
            services.append(account_servicer.SERVICE)
            # Current health follows activations: rescored in the background, progress logged.
            self._refresher = StaleRefresher(self.accounts, self.registry)
            self._refresher.start()
        if self.history is not None:
            history_servicer.add_to_server(history_servicer.HistoryServicer(self.history), server)
            services.append(history_servicer.SERVICE)
            portfolio_servicer.add_to_server(
                portfolio_servicer.PortfolioServicer(
                    Portfolio(self.history.source, self.history.table),
                    lambda: {a.name for a in self.registry.active().ruleset.catalog.attributes},
                    self.history.today,
                ),
                server,
            )
            services.append(portfolio_servicer.SERVICE)
        return services

    def on_store_reachable(self, callback: Callable[[bool], None]) -> None:
        """Calls `callback(reachable)` now if the store is unreachable, then on every change
        (from the store's watcher thread; only a shared database can be lost)."""
        with self._reachable_lock:
            self._reachable_callbacks.append(callback)
            if not self._reachable:
                callback(False)

    def _store_reachable(self, reachable: bool) -> None:
        with self._reachable_lock:
            self._reachable = reachable
            for callback in self._reachable_callbacks:
                callback(reachable)

    def close(self) -> None:
        """Stops the snapshot scheduler (a snapshot in progress is abandoned: its day stays as
        it was) and the health refresh; releases the stores."""
        if self._scheduler is not None:
            self._scheduler.stop(timeout=0)
        if self._refresher is not None:
            self._refresher.stop()
        self.store.close()
        if self.account_store is not None:
            self.account_store.close()


def _open_postgres(url: str) -> PostgresStore:
    """The PostgreSQL store; its driver is imported only here (the `postgres` extra)."""
    try:
        from healthscore.store.postgres import PostgresStore
    except ImportError as exc:
        raise InvalidInputError(
            f"--database-url needs the PostgreSQL driver ({exc.name} is missing): "
            "pip install 'healthscore[postgres]'"
        ) from exc
    return PostgresStore(url)
