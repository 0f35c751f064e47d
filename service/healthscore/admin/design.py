"""Profile-design commands: `healthscore profiles export|import|validate|diff`, `publish`,
`activate`, `rollback`, `versions` and `activations`.

A model's draft travels as one YAML file (`yamlio`): export it, edit it, validate it locally
(the same core that scores checks it, every problem at its line), import it (conditional on the
etags of the export), compare it with a version, publish, activate, roll back.

Exit codes are those of `common`, and `profiles diff` exits like diff(1): 0 when both sides are
the same, 1 when they differ.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from healthscore.admin import common
from healthscore.domain.names import MODELS
from healthscore_client.v1 import catalog_pb2, profile_service_pb2, ruleset_pb2

if TYPE_CHECKING:
    from healthscore import yamlio
    from healthscore.admin import diff
    from healthscore_client import HealthScoreClient
else:  # loaded on first use: the commands that neither read nor diff YAML (and every other
    # command of the CLI, which builds this parser) skip PyYAML and yamlio's tables (40 ms)
    yamlio = common.lazy_module("healthscore.yamlio")
    diff = common.lazy_module("healthscore.admin.diff")

EXIT_DIFFERENT = 1

_MODEL_HELP = "the health model: " + ", ".join(MODELS)
_NO_WRAP = frozenset({"version", "previous", "published", "activated"})


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _when(timestamp: Any) -> str:
    """A protobuf Timestamp as `2026-11-01 09:30:00Z` (empty when unset)."""
    if not timestamp.seconds and not timestamp.nanos:
        return ""
    instant: dt.datetime = timestamp.ToDatetime(tzinfo=dt.UTC)
    return instant.strftime("%Y-%m-%d %H:%M:%SZ")


def _short(version: str) -> str:
    """`models/multidimensional/versions/3` -> `multidimensional/3`."""
    return version.removeprefix("models/").replace("/versions/", "/")


def _problems(
    args: argparse.Namespace, filename: str, problems: list[yamlio.Problem], what: str
) -> int:
    """Reports a file's problems (stderr, or JSON on stdout); the exit code is BAD_INPUT."""
    data = {
        "file": filename,
        "valid": False,
        "errors": [{"line": p.line, "path": p.path, "message": p.message} for p in problems],
    }

    def render() -> None:
        for problem in problems:
            print(problem.render(filename), file=sys.stderr)
        print(f"error: {filename}: {len(problems)} {what}", file=sys.stderr)

    common.emit(args, data, render)
    return common.EXIT_BAD_INPUT


def _read(args: argparse.Namespace, path: Path, outcome: str = "") -> yamlio.Loaded | int:
    """The file read, or the exit code after reporting why it cannot be (`outcome` is added to
    the summary line, e.g. that nothing was written)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return common.EXIT_BAD_INPUT
    try:
        loaded = yamlio.load(text)
    except yamlio.FileError as exc:
        problems = exc.problems
        if exc.partial is not None and exc.partial.model:
            # The engine's errors too, but none about a field that could not be read.
            seen = [p.path for p in problems]
            problems = sorted(
                problems
                + [
                    p
                    for p in _check(exc.partial)[0]
                    if not any(_related(p.path, path) for path in seen)
                ],
                key=lambda p: p.line,
            )
        return _problems(args, path.name, problems, "problem(s)" + outcome)
    if args.model is not None:
        model = MODELS[args.model]
        if loaded.has_model and loaded.model != model:
            line, where = loaded.locate("model")
            problem = yamlio.Problem(
                line,
                where,
                f"the file is a {yamlio.model_word(loaded.model)} draft, not {args.model}",
            )
            return _problems(args, path.name, [problem], "problem" + outcome)
        loaded.model = model
    elif not loaded.has_model:
        problem = yamlio.Problem(0, "model", "missing: add `model:` to the file or pass --model")
        return _problems(args, path.name, [problem], "problem" + outcome)
    return loaded


def _related(a: str, b: str) -> bool:
    """Whether one path is the other or inside it (`x.y` and `x.y[0].z`)."""
    short, long = sorted((a, b), key=len)
    return long == short or long.startswith((short + ".", short + "["))


def _check(loaded: yamlio.Loaded) -> tuple[list[yamlio.Problem], list[yamlio.Problem]]:
    """(errors, warnings) of the file's draft by the scoring core, each at its line."""
    from healthscore import engine
    from healthscore.errors import InvalidRulesetError, Violation

    warnings: list[Violation] = []
    try:
        warnings = engine.compile_ruleset(loaded.ruleset()).warnings
    except InvalidRulesetError as exc:
        return [_at(loaded, v.path, v.message) for v in exc.violations], []
    return [], [_at(loaded, v.path, v.message) for v in warnings]


def _at(loaded: yamlio.Loaded, proto_path: str, message: str) -> yamlio.Problem:
    line, path = loaded.locate(proto_path)
    return yamlio.Problem(line, path, message)


def _same_draft(a: profile_service_pb2.Draft, b: profile_service_pb2.Draft, settings: bool) -> bool:
    same_profiles = list(a.profiles) == list(b.profiles)
    return same_profiles and (not settings or a.settings == b.settings)


def _same_catalog(a: catalog_pb2.Catalog, b: catalog_pb2.Catalog) -> bool:
    return list(a.attributes) == list(b.attributes) and list(a.dimensions) == list(b.dimensions)


def _version_name(text: str) -> str:
    """`models/M/versions/N` or `M/N` -> `models/M/versions/N`."""
    parts = text.removeprefix("models/").replace("/versions/", "/").split("/")
    if len(parts) == 2 and parts[0] in MODELS and parts[1].isdigit() and parts[1] != "0":
        return f"models/{parts[0]}/versions/{int(parts[1])}"
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a version: give models/MODEL/versions/N or MODEL/N "
        f"(MODEL: {', '.join(MODELS)})"
    )


def _version_data(version: profile_service_pb2.Version, active: str) -> dict[str, Any]:
    return {
        "name": version.name,
        "model": yamlio.model_word(version.model),
        "version_number": version.version_number,
        "comment": version.comment,
        "creator": version.creator,
        "create_time": version.create_time.ToJsonString(),
        "active": version.name == active,
    }


def _activation_data(activation: profile_service_pb2.Activation) -> dict[str, Any]:
    return {
        "name": activation.name,
        "version": activation.version,
        "previous_version": activation.previous_version,
        "model": yamlio.model_word(activation.model),
        "actor": activation.actor,
        "activate_time": activation.activate_time.ToJsonString(),
        "comment": activation.comment,
    }


def _active_name(client: HealthScoreClient) -> str:
    from healthscore_client import NotFoundError

    try:
        return client.get_active_version().version
    except NotFoundError:
        return ""


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column in _NO_WRAP)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    common.console().print(table)


# ---------------------------------------------------------------------------------------------
# profiles export | import | validate | diff
# ---------------------------------------------------------------------------------------------


@common.remote
def _export(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        draft = client.get_draft(args.model)
        catalog = client.get_catalog()
    text = yamlio.dump(MODELS[args.model], draft, catalog)
    if args.file is None:
        sys.stdout.write(text)
    else:
        args.file.write_text(text, encoding="utf-8")
        print(f"wrote {args.file}: {draft.name}, {len(draft.profiles)} profile(s)", file=sys.stderr)
    return common.EXIT_OK


@common.remote
def _import(args: argparse.Namespace) -> int:
    from healthscore_client import AbortedError, HealthScoreError

    loaded = _read(args, args.path, "; nothing was changed")
    if isinstance(loaded, int):
        return loaded
    errors, warnings = _check(loaded)
    if errors and not args.allow_invalid:
        return _problems(
            args,
            args.path.name,
            errors,
            "error(s) (the draft does not validate); nothing was changed "
            "(--allow-invalid writes it anyway)",
        )
    for problem in errors + warnings:
        kind = "error" if problem in errors else "warning"
        print(f"{kind}: {problem.render(args.path.name)}", file=sys.stderr)
    model = args.model or yamlio.model_word(loaded.model)
    has_settings = loaded.draft.HasField("settings")
    with common.connect(args) as client:
        current = client.get_draft(model)
        catalog = client.get_catalog()
        draft_etag = current.etag if args.force or not loaded.draft.etag else loaded.draft.etag
        catalog_etag = (
            catalog.etag if args.force or not loaded.catalog.etag else loaded.catalog.etag
        )
        draft_changed = not _same_draft(current, loaded.draft, has_settings)
        catalog_changed = not _same_catalog(catalog, loaded.catalog)
        updated = current
        if draft_changed:
            try:
                updated = client.update_draft(
                    model,
                    loaded.draft,
                    update_mask=["settings", "profiles"] if has_settings else ["profiles"],
                    etag=draft_etag,
                )
            except AbortedError as error:
                print(
                    f"{args.path.name}: the draft changed on the server since the export; "
                    "export it again and redo the edit, or --force to overwrite it",
                    file=sys.stderr,
                )
                return common.report(error)
        if catalog_changed:
            try:
                catalog = client.update_catalog(loaded.catalog, update_mask=[], etag=catalog_etag)
            except HealthScoreError as error:
                if draft_changed:  # all or nothing: put the draft back as it was
                    client.update_draft(
                        model, current, update_mask=["settings", "profiles"], etag=updated.etag
                    )
                hint = (
                    ": changing the catalog needs an admin token"
                    if error.code.name == "PERMISSION_DENIED"
                    else ""
                )
                print(
                    f"{args.path.name}: the file changes the catalog{hint}; nothing was changed",
                    file=sys.stderr,
                )
                return common.report(error)
    # The file now describes the server's state: its etags become the new ones, so that it can
    # be edited and imported again (a change someone else makes meanwhile still stops that).
    etags_updated = _update_etags(args.path, {"draft": updated.etag, "catalog": catalog.etag})
    data = {
        "draft": updated.name,
        "etag": updated.etag,
        "profiles": len(updated.profiles),
        "draft_changed": draft_changed,
        "catalog_changed": catalog_changed,
        "etags_updated": etags_updated,
        "valid": not errors,
        "warnings": [p.render(args.path.name) for p in warnings],
    }

    def render() -> None:
        if not draft_changed and not catalog_changed:
            print(f"{updated.name}: unchanged ({args.path.name} is what the server has)")
            return
        what = [f"draft ({len(updated.profiles)} profile(s))"] if draft_changed else []
        what += ["catalog"] if catalog_changed else []
        print(f"{updated.name}: imported {args.path.name}; updated the {' and '.join(what)}")
        if etags_updated:
            print(f"{args.path.name}: etags updated (edit and import it again as it is)")

    common.emit(args, data, render)
    return common.EXIT_OK


def _update_etags(path: Path, etags: dict[str, str]) -> bool:
    """Writes `etags` into the file's `etags:` (its other bytes unchanged); whether it changed.
    A file without etags, or one that cannot be rewritten, is left as it is."""
    try:
        text = path.read_text(encoding="utf-8")
        updated = yamlio.with_etags(text, etags)
        if updated is None or updated == text:
            return False
        path.write_text(updated, encoding="utf-8")
    except OSError as exc:
        print(f"warning: {path}: could not update its etags: {exc}", file=sys.stderr)
        return False
    return True


def _validate(args: argparse.Namespace) -> int:
    if args.path is None:
        if args.model is None:
            print("error: give a FILE, or --model to validate the server's draft", file=sys.stderr)
            return common.EXIT_BAD_INPUT
        return _validate_remote(args)
    loaded = _read(args, args.path)
    if isinstance(loaded, int):
        return loaded
    errors, warnings = _check(loaded)
    name = args.path.name
    if errors:
        return _problems(args, name, errors, "error(s): the draft does not validate")
    data = {
        "file": name,
        "valid": True,
        "errors": [],
        "warnings": [{"line": p.line, "path": p.path, "message": p.message} for p in warnings],
    }

    def render() -> None:
        for problem in warnings:
            print(f"warning: {problem.render(name)}", file=sys.stderr)
        print(f"{name}: valid ({len(loaded.draft.profiles)} profile(s))")

    common.emit(args, data, render)
    return common.EXIT_OK


@common.remote
def _validate_remote(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        response = client.validate_draft(args.model)
    name = f"models/{args.model}/draft"
    data = {
        "draft": name,
        "valid": response.valid,
        "errors": [{"path": e.field, "message": e.description} for e in response.errors],
        "warnings": [{"path": w.field, "message": w.description} for w in response.warnings],
    }

    def render() -> None:
        for issue in response.errors:
            print(f"{name}: {issue.field}: {issue.description}", file=sys.stderr)
        for issue in response.warnings:
            print(f"warning: {name}: {issue.field}: {issue.description}", file=sys.stderr)
        if response.valid:
            print(f"{name}: valid")
        else:
            print(f"error: {name}: {len(response.errors)} error(s)", file=sys.stderr)

    common.emit(args, data, render)
    return common.EXIT_OK if response.valid else common.EXIT_BAD_INPUT


def _draft_ruleset(
    model: int, draft: profile_service_pb2.Draft, catalog: catalog_pb2.Catalog
) -> ruleset_pb2.Ruleset:
    ruleset = ruleset_pb2.Ruleset(model=model, settings=draft.settings)  # type: ignore[arg-type]
    ruleset.catalog.CopyFrom(catalog)
    ruleset.catalog.ClearField("etag")
    ruleset.profiles.extend(draft.profiles)
    return ruleset


def _baseline(client: HealthScoreClient, model: str) -> profile_service_pb2.Version | None:
    """The version a draft is compared with by default: the active one when it is of `model`,
    else the model's latest (None: it has none)."""
    active = _active_name(client)
    if active.startswith(f"models/{model}/"):
        return client.get_version(active)
    for version in client.list_versions(model, page_size=1):
        return client.get_version(version.name)
    return None


@common.remote
def _diff(args: argparse.Namespace) -> int:
    model = MODELS[args.model]
    against: ruleset_pb2.Ruleset | None = None
    if args.against is not None:
        loaded = _read(args, args.against)
        if isinstance(loaded, int):
            return loaded
        against = loaded.ruleset()
    with common.connect(args) as client:
        draft = client.get_draft(args.model)
        current = _draft_ruleset(model, draft, client.get_catalog())
        if against is not None:
            old, new = current, against
            old_label, new_label = draft.name, str(args.against)
        else:
            if args.version is not None:
                version = client.get_version(args.model, args.version)
            else:
                found = _baseline(client, args.model)
                if found is None:
                    print(
                        f"error: models/{args.model} has no version to compare with; "
                        "give --against FILE",
                        file=sys.stderr,
                    )
                    return common.EXIT_NOT_FOUND
                version = found
            old, new = version.ruleset, current
            active = _active_name(client)
            old_label = version.name + (" (active)" if version.name == active else "")
            new_label = draft.name
    result = diff.compare(old, new)
    data = {"old": old_label, "new": new_label, **result.as_dict()}
    common.emit(args, data, lambda: _print_diff(old_label, new_label, result))
    return common.EXIT_OK if result.equal else EXIT_DIFFERENT


def _print_diff(old: str, new: str, result: diff.DesignDiff) -> None:
    from rich.text import Text

    out = common.console()
    out.print(Text(f"--- {old}", style="bold"))
    out.print(Text(f"+++ {new}", style="bold"))
    if result.equal:
        out.print("no differences")
        return
    styles = {"+": "green", "-": "red", "~": "yellow"}
    for line in result.lines():
        marker = line.lstrip()[:1]
        out.print(Text(line, style=styles.get(marker, "bold")), soft_wrap=True)


# ---------------------------------------------------------------------------------------------
# publish | activate | rollback | versions | activations
# ---------------------------------------------------------------------------------------------


def _print_version(verb: str, version: profile_service_pb2.Version) -> None:
    comment = f" — {version.comment}" if version.comment else ""
    print(
        f"{verb} {version.name} ({_when(version.create_time)}, by {version.creator or '-'})"
        f"{comment}"
    )


@common.remote
def _publish(args: argparse.Namespace) -> int:
    from healthscore_client import FailedPreconditionError

    with common.connect(args) as client:
        try:
            version = client.publish_draft(args.model, comment=args.comment)
        except FailedPreconditionError as error:
            common.report(error)
            print(
                f"hint: healthscore profiles validate --model {args.model} lists the errors",
                file=sys.stderr,
            )
            return common.EXIT_BAD_INPUT
    common.emit(args, _version_data(version, ""), lambda: _print_version("published", version))
    return common.EXIT_OK


def _print_activation(activation: profile_service_pb2.Activation, changed: bool) -> None:
    if not changed:
        print(f"{activation.version} is already active (as {activation.name}); nothing changed")
        return
    was = f" (was {activation.previous_version})" if activation.previous_version else ""
    print(f"activated {activation.version}{was} as {activation.name}")


def _activate_and_print(
    args: argparse.Namespace, client: HealthScoreClient, target: str, active: str, comment: str
) -> int:
    """Activates `target` and prints the activation; activating the active version is a no-op on
    the server (no audit row), reported as such."""
    activation = client.activate_version(target, comment=comment)
    changed = target != active
    data = {**_activation_data(activation), "changed": changed}
    common.emit(args, data, lambda: _print_activation(activation, changed))
    return common.EXIT_OK


@common.remote
def _activate(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        active = _active_name(client)
        return _activate_and_print(args, client, args.version, active, args.comment)


def _rollback_target(client: HealthScoreClient, model: str | None, active: str) -> str:
    """The version a rollback activates ("" when there is none): without `model`, the version
    that was active before the current activation, whatever its model (the audit's
    `previous_version`); with `model`, the latest version of it that was active before the
    current one."""
    if model is None:
        return client.get_active_version().previous_version if active else ""
    for i, activation in enumerate(client.list_activations()):
        if i == 0 and activation.version == active:
            continue  # the current activation
        if activation.version.startswith(f"models/{model}/") and activation.version != active:
            return activation.version
    return ""


@common.remote
def _rollback(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        active = _active_name(client)
        if args.to is not None:
            model = args.model or (active.split("/")[1] if active else None)
            if model is None:
                print("error: no version is active; give --model with --to", file=sys.stderr)
                return common.EXIT_NOT_FOUND
            target = f"models/{model}/versions/{args.to}"
        else:
            target = _rollback_target(client, args.model, active)
            if not target:
                of = f" of {args.model}" if args.model else ""
                print(f"error: no version{of} was active before {active or 'now'}", file=sys.stderr)
                return common.EXIT_NOT_FOUND
        comment = args.comment or f"rollback from {_short(active) or 'none'}"
        return _activate_and_print(args, client, target, active, comment)


@common.remote
def _versions(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        active = _active_name(client)
        versions = list(client.list_versions(args.model))
    data = [_version_data(v, active) for v in versions]
    rows = [
        [
            str(v["version_number"]),
            "●" if v["active"] else "",
            _when(message.create_time),
            v["creator"],
            v["comment"],
        ]
        for v, message in zip(data, versions, strict=True)
    ]
    common.emit(
        args,
        data,
        lambda: _table(
            f"models/{args.model}: versions, newest first",
            ["version", "active", "published", "by", "comment"],
            rows,
        ),
    )
    return common.EXIT_OK


@common.remote
def _activations(args: argparse.Namespace) -> int:
    with common.connect(args) as client:
        activations = [
            a
            for a in client.list_activations()
            if args.model is None or a.model == MODELS[args.model]
        ]
    data = [_activation_data(a) for a in activations]
    rows = [
        [
            a["name"].removeprefix("activations/"),
            _short(a["version"]),
            _short(a["previous_version"]),
            _when(message.activate_time),
            a["actor"],
            a["comment"],
        ]
        for a, message in zip(data, activations, strict=True)
    ]
    common.emit(
        args,
        data,
        lambda: _table(
            "activations, newest first",
            ["#", "version", "previous", "activated", "by", "comment"],
            rows,
        ),
    )
    return common.EXIT_OK


# ---------------------------------------------------------------------------------------------
# Parsers
# ---------------------------------------------------------------------------------------------


def _model_flag(parser: argparse.ArgumentParser, *, required: bool, text: str = "") -> None:
    parser.add_argument(
        "--model", choices=list(MODELS), required=required, help=text or _MODEL_HELP
    )


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a version number: {text!r}")
    return int(text)


def _add_profiles_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    profiles = commands.add_parser(
        "profiles",
        help="export, import, validate and diff a model's draft as a YAML file",
        description="A model's draft (settings, catalog, ordered profiles) as one YAML file: "
        "export it, edit it, validate it, import it, compare it. See README.md, Admin CLI.",
    )
    actions = profiles.add_subparsers(dest="action", required=True)

    export = actions.add_parser(
        "export",
        help="write a model's draft and the catalog as YAML",
        description="Writes the draft of --model and the catalog as YAML (stdout, or -o FILE), "
        "with their etags, so that a later import fails if the server changed in between. "
        "The server keeps no comments: the file has only the export's own header.",
    )
    _model_flag(export, required=True)
    export.add_argument("-o", "--file", type=Path, help="write here instead of stdout")
    common.add_connection_flags(export)
    export.set_defaults(run=_export)

    load = actions.add_parser(
        "import",
        help="replace a model's draft (and the catalog) with a YAML file",
        description="Reads FILE, reports every problem with its line (exit 2, nothing written), "
        "and writes the draft with UpdateDraft, conditional on the file's etag (exit 4 when the "
        "draft changed since the export), then the catalog with UpdateCatalog only if it "
        "changed (that needs an admin token). A file identical to the server's state writes "
        "nothing. After an import, FILE's etags are the new ones (only that line of FILE is "
        "rewritten), so FILE can be edited and imported again. Comments in FILE are not sent "
        "to the server: a later export does not have them, so keep FILE as the commented copy.",
    )
    load.add_argument("path", metavar="FILE", type=Path)
    _model_flag(load, required=False, text="the model (default: the file's `model:`)")
    load.add_argument(
        "--force", action="store_true", help="ignore the file's etags: overwrite the server's"
    )
    load.add_argument(
        "--allow-invalid",
        action="store_true",
        help="write a draft that does not validate (publishing will refuse it)",
    )
    common.add_connection_flags(load)
    load.set_defaults(run=_import)

    validate = actions.add_parser(
        "validate",
        help="check a YAML file locally, or the server's draft",
        description="With FILE: checks it here, with the scoring core (no server, nothing "
        "written): every error with its line. Without FILE: the server's draft of --model "
        "(ValidateDraft). Exit 0 when valid (warnings allowed), 2 when not.",
    )
    validate.add_argument("path", metavar="FILE", type=Path, nargs="?")
    _model_flag(validate, required=False, text="the model (FILE: default its `model:`)")
    common.add_connection_flags(validate)
    validate.set_defaults(run=_validate)

    diff = actions.add_parser(
        "diff",
        help="compare a model's draft with a version or a file",
        description="Shows what differs from a version to the draft of --model (default: the "
        "active version, or the model's latest), or from the draft to FILE (--against: what an "
        "import would change): settings, catalog entries, profiles added, removed, reordered, "
        "and each changed field as old → new. Exit 0 when equal, 1 when different (as diff(1)).",
    )
    _model_flag(diff, required=True)
    which = diff.add_mutually_exclusive_group()
    which.add_argument("--version", type=_positive, help="compare with this version number")
    which.add_argument("--against", type=Path, metavar="FILE", help="compare with a YAML file")
    common.add_connection_flags(diff)
    diff.set_defaults(run=_diff)


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Registers this module's subcommands."""
    _add_profiles_parser(commands)

    publish = commands.add_parser(
        "publish",
        help="publish a model's draft as a new version",
        description="Freezes the draft of --model as a new numbered version. Exit 2 when the "
        "draft does not validate (every error listed).",
    )
    _model_flag(publish, required=True)
    publish.add_argument("--comment", default="", help="what changed and why")
    common.add_connection_flags(publish)
    publish.set_defaults(run=_publish)

    activate = commands.add_parser(
        "activate",
        help="make a version the one the whole service scores with",
        description="Activates VERSION (of either model) for the whole service. Needs an admin "
        "token. Activating the version that is already active changes nothing (no new "
        "activation is recorded).",
    )
    activate.add_argument(
        "version", metavar="VERSION", type=_version_name, help="models/M/versions/N or M/N"
    )
    activate.add_argument("--comment", default="", help="why")
    common.add_connection_flags(activate)
    activate.set_defaults(run=_activate)

    rollback = commands.add_parser(
        "rollback",
        help="re-activate the version that was active before the current one",
        description="Activates the version that was active before the current activation, "
        "whatever its model (the audit's previous version); with --model, the latest version "
        "of that model active before the current one; with --to N, version N of --model "
        "(default: the active model). Activating the active version changes nothing. Exit 3 "
        "when there is no earlier version.",
    )
    _model_flag(rollback, required=False)
    rollback.add_argument("--to", type=_positive, help="activate this version number instead")
    rollback.add_argument("--comment", default="", help="why (default: rollback from VERSION)")
    common.add_connection_flags(rollback)
    rollback.set_defaults(run=_rollback)

    versions = commands.add_parser(
        "versions", help="list a model's published versions", description="Newest first."
    )
    _model_flag(versions, required=True)
    common.add_connection_flags(versions)
    versions.set_defaults(run=_versions)

    activations = commands.add_parser(
        "activations",
        help="list the activations (the audit trail)",
        description="Newest first: which version, the one before, who, when, why.",
    )
    _model_flag(activations, required=False, text="only activations of this model's versions")
    common.add_connection_flags(activations)
    activations.set_defaults(run=_activations)
