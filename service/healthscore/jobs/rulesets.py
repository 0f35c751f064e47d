"""The ruleset a job scores with: from a service's data directory or from a running server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from healthscore import files
from healthscore.domain import names
from healthscore.errors import HealthScoreError, NotFoundError
from healthscore_client.v1 import catalog_pb2, profile_service_pb2, ruleset_pb2

if TYPE_CHECKING:
    import grpc

# The server, the store and gRPC are imported by the functions that need them: a job reading a
# ruleset file starts faster (the server stack takes a third of a second to import).

_FIELD = "--ruleset"


@dataclass(frozen=True)
class JobRuleset:
    """The ruleset a job scores with, and its resource name (copied into every result)."""

    name: str
    model: int
    ruleset: ruleset_pb2.Ruleset

    @property
    def model_id(self) -> str:
        return names.model_id(self.model)


def from_file(path: Path) -> JobRuleset:
    """A ruleset file (JSON or YAML form of `Ruleset`), named by its `version` label."""
    ruleset = files.load_ruleset(path)
    return JobRuleset(ruleset.version or path.name, ruleset.model, ruleset)


def from_data_dir(data_dir: Path, name: str) -> JobRuleset:
    """`name` ("" = the active version) resolved like the server does, from its store."""
    from healthscore.domain.registry import Registry
    from healthscore.store.sqlite import DATABASE_FILE, SqliteStore

    database = data_dir / DATABASE_FILE
    if not database.is_file():
        raise NotFoundError(f"{data_dir} is not a healthscore data directory (no {DATABASE_FILE})")
    store = SqliteStore(database)
    try:
        scorer = Registry(store).resolve(name, _FIELD)
    finally:
        store.close()
    return JobRuleset(scorer.name, scorer.model, scorer.ruleset)


@dataclass(frozen=True)
class ServerAddress:
    target: str
    token: str | None = None
    tls_ca: Path | None = None
    tls: bool = False


def _channel(address: ServerAddress) -> grpc.Channel:
    import grpc

    if address.tls or address.tls_ca is not None:
        ca = address.tls_ca.read_bytes() if address.tls_ca is not None else None
        return grpc.secure_channel(address.target, grpc.ssl_channel_credentials(ca))
    return grpc.insecure_channel(address.target)


def from_server(address: ServerAddress, name: str, timeout: float = 30.0) -> JobRuleset:
    """`name` ("" = the active version) fetched with ProfileService reads."""
    import grpc

    from healthscore_client.v1 import profile_service_pb2_grpc

    metadata: tuple[tuple[str, str | bytes], ...] = (
        (("authorization", f"Bearer {address.token}"),) if address.token else ()
    )
    with _channel(address) as channel:
        stub = profile_service_pb2_grpc.ProfileServiceStub(channel)

        def version(version_name: str) -> JobRuleset:
            got = stub.GetVersion(
                profile_service_pb2.GetVersionRequest(
                    name=version_name, view=profile_service_pb2.VERSION_VIEW_FULL
                ),
                metadata=metadata,
                timeout=timeout,
            )
            ruleset = ruleset_pb2.Ruleset()
            ruleset.CopyFrom(got.ruleset)
            ruleset.version = got.name
            return JobRuleset(got.name, got.model, ruleset)

        try:
            if not name:
                active = stub.GetActiveVersion(
                    profile_service_pb2.GetActiveVersionRequest(),
                    metadata=metadata,
                    timeout=timeout,
                )
                return version(active.version)
            ref = names.parse_ruleset(name, _FIELD)
            if ref.draft:
                draft = stub.GetDraft(
                    profile_service_pb2.GetDraftRequest(name=name),
                    metadata=metadata,
                    timeout=timeout,
                )
                catalog = stub.GetCatalog(
                    profile_service_pb2.GetCatalogRequest(name=names.CATALOG),
                    metadata=metadata,
                    timeout=timeout,
                )
                ruleset = ruleset_pb2.Ruleset(
                    version=names.draft_name(ref.model),
                    model=ruleset_pb2.HealthModel.ValueType(ref.model),
                    catalog=catalog_pb2.Catalog(
                        attributes=catalog.attributes, dimensions=catalog.dimensions
                    ),
                    settings=draft.settings,
                    profiles=draft.profiles,
                )
                return JobRuleset(names.draft_name(ref.model), ref.model, ruleset)
            if ref.number is None:
                listed = stub.ListVersions(
                    profile_service_pb2.ListVersionsRequest(
                        parent=names.model_name(ref.model), page_size=1
                    ),
                    metadata=metadata,
                    timeout=timeout,
                )
                if not listed.versions:
                    raise NotFoundError(f"{names.model_name(ref.model)} has no published version")
                return version(listed.versions[0].name)
            return version(name)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            if code == grpc.StatusCode.NOT_FOUND:
                raise NotFoundError(f"{address.target}: {details}") from exc
            raise HealthScoreError(f"{address.target}: {code}: {details}") from exc
