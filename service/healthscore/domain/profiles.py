"""Health design: the catalog, each model's draft and its profiles, publishing versions, and
activation. Drafts may be invalid while being edited; validation reports every problem, and
publishing refuses a draft that does not validate.

Writes are serialized by one lock in this process and made conditional on the etag read under
it, so a concurrent writer in another process fails with a stale etag instead of being lost.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Callable, Iterable

from google.protobuf import timestamp_pb2

from healthscore import engine
from healthscore.domain import names
from healthscore.domain.registry import Registry, draft_ruleset
from healthscore.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidInputError,
    InvalidRulesetError,
    NotFoundError,
    StaleEtagError,
    Violation,
    field_error,
)
from healthscore.store import ActivationRecord, Store, VersionRecord
from healthscore_client.v1 import catalog_pb2, profile_service_pb2, ruleset_pb2

Draft = profile_service_pb2.Draft
Version = profile_service_pb2.Version
Activation = profile_service_pb2.Activation
Profile = ruleset_pb2.Profile

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_CATALOG_PATHS = ("attributes", "dimensions")
_DRAFT_PATHS = (
    "settings",
    "settings.poor_max",
    "settings.good_min",
    "settings.ignore_missing",
    "settings.enterprise",
    "profiles",
)
_PROFILE_PATHS = ("name", "display_name", "segment", "categories", "dimensions", "metrics")


def _timestamp(instant: dt.datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(instant)
    return ts


def _mask(paths: Iterable[str], allowed: tuple[str, ...], default: tuple[str, ...]) -> list[str]:
    """The update mask's paths, checked (AIP-134: an empty mask means every updatable field)."""
    given = list(paths)
    for i, path in enumerate(given):
        if path not in allowed:
            raise field_error(
                f"update_mask.paths[{i}]",
                f"{path!r} cannot be updated; allowed: " + ", ".join(allowed),
            )
    return given or list(default)


def _page(page_size: int, page_token: str, scope: str) -> tuple[int, int | None]:
    """(limit, before) from AIP-158 paging fields; tokens are bound to their list."""
    if page_size < 0:
        raise field_error("page_size", "must not be negative")
    limit = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    if not page_token:
        return limit, None
    try:
        data = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        if data["scope"] != scope or not isinstance(data["before"], int):
            raise ValueError
        return limit, int(data["before"])
    except (ValueError, KeyError, TypeError) as exc:
        raise field_error("page_token", "not a token of this list") from exc


def _next_token(numbers: list[int], limit: int, scope: str) -> str:
    if len(numbers) < limit or not numbers or numbers[-1] <= 1:
        return ""
    data = json.dumps({"scope": scope, "before": numbers[-1]}).encode()
    return base64.urlsafe_b64encode(data).decode()


def _check_profile_names(profiles: Iterable[Profile], field: str) -> None:
    violations = []
    seen: dict[str, int] = {}
    for i, profile in enumerate(profiles):
        if not profile.name:
            violations.append(Violation(f"{field}[{i}].name", "required"))
        elif "/" in profile.name:
            violations.append(Violation(f"{field}[{i}].name", "must not contain '/'"))
        elif profile.name in seen:
            violations.append(
                Violation(
                    f"{field}[{i}].name",
                    f"duplicate profile name {profile.name!r} "
                    f"(first at {field}[{seen[profile.name]}])",
                )
            )
        else:
            seen[profile.name] = i
    if violations:
        raise InvalidInputError("invalid profiles", violations)


def _new_violations(before: list[Violation], after: list[Violation]) -> list[Violation]:
    known = {(v.path, v.message) for v in before}
    return [v for v in after if (v.path, v.message) not in known]


def _violations(ruleset: ruleset_pb2.Ruleset) -> list[Violation]:
    return _check(ruleset)[0]


def _check(ruleset: ruleset_pb2.Ruleset) -> tuple[list[Violation], list[Violation]]:
    """(errors, warnings) of a ruleset, as ValidateDraft reports them: warnings only when it
    compiles."""
    try:
        compiled = engine.compile_ruleset(ruleset)
    except InvalidRulesetError as exc:
        return exc.violations, []
    return [], compiled.warnings


def _issues(violations: Iterable[Violation]) -> list[profile_service_pb2.ValidationIssue]:
    return [
        profile_service_pb2.ValidationIssue(field=v.path, description=v.message) for v in violations
    ]


class ProfileManager:
    """The domain operations behind ProfileService. `actor` is the caller's identity."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self._store = store
        self._registry = registry
        self._lock = threading.Lock()

    # Catalog.
    def get_catalog(self) -> catalog_pb2.Catalog:
        record = self._store.get_catalog()
        if record is None:
            raise NotFoundError("the catalog does not exist")
        catalog = catalog_pb2.Catalog.FromString(record.catalog)
        catalog.etag = record.etag
        return catalog

    def update_catalog(
        self, catalog: catalog_pb2.Catalog, mask: Iterable[str], actor: str
    ) -> catalog_pb2.Catalog:
        paths = _mask(mask, _CATALOG_PATHS, _CATALOG_PATHS)
        with self._lock:
            current = self.get_catalog()
            if catalog.etag and catalog.etag != current.etag:
                raise StaleEtagError("catalog: the etag is stale; read the catalog again")
            updated = catalog_pb2.Catalog()
            updated.CopyFrom(current)
            updated.ClearField("etag")
            for path in paths:
                updated.ClearField(path)  # type: ignore[arg-type]
                getattr(updated, path).extend(getattr(catalog, path))
            own = [
                v
                for v in _violations(
                    ruleset_pb2.Ruleset(catalog=updated, model=names.MULTIDIMENSIONAL)
                )
                if v.path.startswith("catalog")
            ]
            if own:
                raise InvalidRulesetError("the catalog does not validate", own)
            breaks = self._catalog_breakage(updated)
            if breaks:
                raise FailedPreconditionError(
                    "the catalog change would break " + ", ".join(sorted({v.path for v in breaks})),
                    breaks,
                )
            self._store.put_catalog(
                updated.SerializeToString(), updater=actor, expected_etag=current.etag
            )
        return self.get_catalog()

    def _catalog_breakage(self, new: catalog_pb2.Catalog) -> list[Violation]:
        """What the new catalog breaks: new violations in a draft. Published versions are not
        looked at: each keeps the catalog it was published with (its snapshot scores it), so an
        attribute only old versions use can be removed."""
        found: list[Violation] = []
        for model in names.MODELS.values():
            try:
                ruleset, _ = draft_ruleset(self._store, model)
            except NotFoundError:
                continue
            before = _violations(ruleset)
            ruleset.catalog.CopyFrom(new)
            found += [
                Violation(names.draft_name(model), f"{v.path}: {v.message}")
                for v in _new_violations(before, _violations(ruleset))
            ]
        return found

    # Drafts.
    def get_draft(self, model: int) -> Draft:
        """The draft, with the warnings ValidateDraft gives for it."""
        draft = self._read_draft(model)
        catalog = self._store.get_catalog()
        if catalog is not None:
            ruleset = ruleset_pb2.Ruleset(
                version=names.draft_name(model),
                model=ruleset_pb2.HealthModel.ValueType(model),
                catalog=catalog_pb2.Catalog.FromString(catalog.catalog),
                settings=draft.settings,
                profiles=draft.profiles,
            )
            draft.warnings.extend(_issues(_check(ruleset)[1]))
        return draft

    def _read_draft(self, model: int) -> Draft:
        record = self._store.get_draft(model)
        if record is None:
            raise NotFoundError(f"{names.draft_name(model)} does not exist")
        draft = Draft.FromString(record.draft)
        draft.name = names.draft_name(model)
        draft.model = model  # type: ignore[assignment]
        draft.etag = record.etag
        draft.update_time.CopyFrom(_timestamp(record.update_time))
        draft.updater = record.updater
        return draft

    def _edit(self, model: int, etag: str, actor: str, change: Callable[[Draft], None]) -> Draft:
        """Applies `change` to the current draft and stores it, if `etag` (when given) is
        current."""
        with self._lock:
            draft = self._read_draft(model)
            current = draft.etag
            if etag and etag != current:
                raise StaleEtagError(
                    f"{names.draft_name(model)}: the etag is stale; read the draft again"
                )
            change(draft)
            for field in ("name", "model", "etag", "update_time", "updater", "warnings"):
                draft.ClearField(field)
            self._store.put_draft(
                model, draft.SerializeToString(), updater=actor, expected_etag=current
            )
        return self.get_draft(model)

    def update_draft(self, draft: Draft, mask: Iterable[str], actor: str) -> Draft:
        model = names.parse_draft(draft.name, "draft.name")
        paths = _mask(mask, _DRAFT_PATHS, ("settings", "profiles"))
        if "profiles" in paths:
            _check_profile_names(draft.profiles, "draft.profiles")

        def change(current: Draft) -> None:
            for path in paths:
                if path == "profiles":
                    current.ClearField("profiles")
                    current.profiles.extend(draft.profiles)
                elif path == "settings":
                    current.settings.CopyFrom(draft.settings)
                else:
                    field = path.split(".", 1)[1]
                    if field == "ignore_missing":  # a plain bool: no presence to test
                        current.settings.ignore_missing = draft.settings.ignore_missing
                    elif draft.settings.HasField(field):  # type: ignore[arg-type]
                        if field == "enterprise":
                            current.settings.enterprise.CopyFrom(draft.settings.enterprise)
                        else:
                            setattr(current.settings, field, getattr(draft.settings, field))
                    else:
                        current.settings.ClearField(field)  # type: ignore[arg-type]

        return self._edit(model, draft.etag, actor, change)

    def validate_draft(self, model: int) -> profile_service_pb2.ValidateDraftResponse:
        ruleset, _ = draft_ruleset(self._store, model)
        errors, warnings = _check(ruleset)
        return profile_service_pb2.ValidateDraftResponse(
            valid=not errors, errors=_issues(errors), warnings=_issues(warnings)
        )

    def publish(self, model: int, comment: str, etag: str, actor: str) -> Version:
        with self._lock:
            record = self._store.get_draft(model)
            if record is None:
                raise NotFoundError(f"{names.draft_name(model)} does not exist")
            if etag and etag != record.etag:
                raise StaleEtagError(
                    f"{names.draft_name(model)}: the etag is stale; read the draft again"
                )
            ruleset, _ = draft_ruleset(self._store, model)
            violations, warnings = _check(ruleset)
            if violations:
                raise FailedPreconditionError(
                    f"{names.draft_name(model)} does not validate; see ValidateDraft",
                    [
                        Violation(f"{names.draft_name(model)}: {v.path}", v.message)
                        for v in violations
                    ],
                )
            ruleset.ClearField("version")  # the name is given on reading, once numbered
            version = self._store.publish(
                model,
                ruleset.SerializeToString(),
                comment=comment,
                creator=actor,
                expected_draft_etag=record.etag,
            )
        published = self._version(version, full=True)
        published.warnings.extend(_issues(warnings))
        return published

    # Profiles of a draft.
    def get_profile(self, model: int, profile: str) -> Profile:
        draft = self._read_draft(model)
        return draft.profiles[self._index(draft, model, profile)]

    @staticmethod
    def _index(draft: Draft, model: int, profile: str) -> int:
        for i, p in enumerate(draft.profiles):
            if p.name == profile:
                return i
        raise NotFoundError(f"{names.profile_name(model, profile)} does not exist")

    def create_profile(
        self, model: int, profile: Profile, position: int | None, etag: str, actor: str
    ) -> Draft:
        _check_profile_names([profile], "profile")

        def change(draft: Draft) -> None:
            if any(p.name == profile.name for p in draft.profiles):
                raise AlreadyExistsError(f"{names.profile_name(model, profile.name)} exists")
            at = len(draft.profiles) if position is None else position
            if not 0 <= at <= len(draft.profiles):
                raise field_error("position", f"must be in 0..{len(draft.profiles)}")
            profiles = list(draft.profiles)
            profiles.insert(at, profile)
            draft.ClearField("profiles")
            draft.profiles.extend(profiles)

        return self._edit(model, etag, actor, change)

    def update_profile(
        self,
        model: int,
        name: str,
        profile: Profile,
        mask: Iterable[str],
        etag: str,
        actor: str,
    ) -> Draft:
        paths = _mask(mask, _PROFILE_PATHS, _PROFILE_PATHS)

        def change(draft: Draft) -> None:
            i = self._index(draft, model, name)
            target = draft.profiles[i]
            for path in paths:
                target.ClearField(path)  # type: ignore[arg-type]
                if path in ("categories", "dimensions", "metrics"):
                    getattr(target, path).extend(getattr(profile, path))
                elif path == "segment":
                    if profile.HasField("segment"):
                        target.segment.CopyFrom(profile.segment)
                else:
                    setattr(target, path, getattr(profile, path))
            if target.name != name and any(
                p.name == target.name for j, p in enumerate(draft.profiles) if j != i
            ):
                raise AlreadyExistsError(f"{names.profile_name(model, target.name)} exists")
            _check_profile_names([target], "profile")

        return self._edit(model, etag, actor, change)

    def delete_profile(self, model: int, name: str, etag: str, actor: str) -> Draft:
        def change(draft: Draft) -> None:
            del draft.profiles[self._index(draft, model, name)]

        return self._edit(model, etag, actor, change)

    def reorder_profiles(self, model: int, order: list[str], etag: str, actor: str) -> Draft:
        def change(draft: Draft) -> None:
            current = [p.name for p in draft.profiles]
            violations = [
                Violation(f"profile_names[{i}]", f"{n!r} is not a profile of the draft")
                for i, n in enumerate(order)
                if n not in current
            ]
            violations += [
                Violation(f"profile_names[{i}]", f"{n!r} is listed twice")
                for i, n in enumerate(order)
                if n in order[:i]
            ]
            missing = [n for n in current if n not in order]
            if missing:
                violations.append(
                    Violation("profile_names", "missing: " + ", ".join(map(repr, missing)))
                )
            if violations:
                raise InvalidInputError("profile_names must list every profile once", violations)
            by_name = {p.name: p for p in draft.profiles}
            reordered = [by_name[n] for n in order]
            draft.ClearField("profiles")
            draft.profiles.extend(reordered)

        return self._edit(model, etag, actor, change)

    # Versions.
    @staticmethod
    def _version(record: VersionRecord, *, full: bool) -> Version:
        version = Version(
            name=names.version_name(record.model, record.number),
            model=record.model,  # type: ignore[arg-type]
            version_number=record.number,
            comment=record.comment,
            creator=record.creator,
            create_time=_timestamp(record.create_time),
        )
        if full:
            version.ruleset.ParseFromString(record.ruleset)
            version.ruleset.version = version.name
        return version

    def get_version(self, model: int, number: int, *, full: bool) -> Version:
        record = self._store.get_version(model, number)
        if record is None:
            raise NotFoundError(f"{names.version_name(model, number)} does not exist")
        version = self._version(record, full=full)
        if full:  # compiled once, then cached by the registry
            try:
                warnings = self._registry.version(model, number).compiled.warnings
            except InvalidRulesetError:  # published by a core with other rules: still readable
                warnings = []
            version.warnings.extend(_issues(warnings))
        return version

    def list_versions(
        self, model: int, page_size: int, page_token: str, *, full: bool
    ) -> tuple[list[Version], str]:
        scope = names.model_name(model)
        limit, before = _page(page_size, page_token, scope)
        records = self._store.list_versions(model, limit=limit, before=before)
        return (
            [self._version(r, full=full) for r in records],
            _next_token([r.number for r in records], limit, scope),
        )

    # Activation.
    @staticmethod
    def _activation(record: ActivationRecord) -> Activation:
        activation = Activation(
            name=names.activation_name(record.number),
            version=names.version_name(record.model, record.version),
            actor=record.actor,
            activate_time=_timestamp(record.activate_time),
            comment=record.comment,
            model=record.model,  # type: ignore[arg-type]
        )
        if record.previous_model is not None and record.previous_version is not None:
            activation.previous_version = names.version_name(
                record.previous_model, record.previous_version
            )
        return activation

    def activate(self, model: int, number: int, comment: str, actor: str) -> Activation:
        """Makes a version the active one and records it. Activating the version that is
        already active changes nothing: it returns the current activation and records none (an
        audit row whose previous version is itself would make a rollback go nowhere)."""
        self._registry.version(model, number)  # compiled (and cached) before it is recorded
        with self._lock:
            current = self._store.active()
            if current is not None and (current.model, current.version) == (model, number):
                return self._activation(current)
            record = self._store.activate(model, number, actor=actor, comment=comment)
            self._registry.refresh_active()
        return self._activation(record)

    def active(self) -> Activation:
        record = self._store.active()
        if record is None:
            raise NotFoundError("no version has been activated")
        return self._activation(record)

    def list_activations(self, page_size: int, page_token: str) -> tuple[list[Activation], str]:
        limit, before = _page(page_size, page_token, "activations")
        records = self._store.list_activations(limit=limit, before=before)
        return (
            [self._activation(r) for r in records],
            _next_token([r.number for r in records], limit, "activations"),
        )
