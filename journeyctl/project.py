"""Loading a project directory: every file parsed, schema-checked and built, every problem kept.

`load_project` never stops at the first mistake: a broken journey file is reported and left
out, and the rest of the project is still loaded and checked, so `validate` can list all
errors at once.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from journeyctl import build, schema
from journeyctl import model as m
from journeyctl.diagnostics import Collector, Diagnostic, JourneyctlError, Loc, diagnostic
from journeyctl.scaffold import project_id
from journeyctl.yamlload import Doc, DocPath, load_file

PROJECT_FILE = "journeyctl.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Loaded:
    project: m.Project | None
    docs: Mapping[str, Doc]
    diagnostics: list[Diagnostic]


def display_path(path: Path) -> str:
    """Paths in messages: relative to the working directory when below it (as CI expects)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a journeyctl.yaml."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def project_root(path: Path) -> Path:
    """`path` is a project folder or its journeyctl.yaml; raise a located error otherwise."""
    if path.is_file() and path.name == PROJECT_FILE:
        return path.parent
    if (path / PROJECT_FILE).is_file():
        return path
    shown = display_path(path)
    hint = f"run `journeyctl init {shlex.quote(shown)}` to create a project there"
    if not path.exists():
        message = f"{shown} does not exist"
    elif path.is_dir():
        message = f"no {PROJECT_FILE} in {shown}"
        if (above := find_root(path)) is not None:
            hint = f"the project is at {display_path(above)}"
    else:
        message = f"{shown} is not a project folder"
    raise JourneyctlError([diagnostic("JC001", message, Loc(shown, 1, 1), hint)])


def load_project(path: Path) -> Loaded:
    """Load everything under the project at `path`; problems come back as diagnostics.

    A file with schema errors is still used for the parts that are right (the other channels,
    events, settings), and what could not be loaded is remembered in `Project.broken`, so a
    broken channel is reported once and not again by every step that uses it.
    """
    root = project_root(path)
    out = Collector()
    docs: dict[str, Doc] = {}
    doc = _load(root / PROJECT_FILE, "project", out, docs)
    if doc is None:
        return Loaded(None, docs, out.sorted())
    settings, _ = _prune(doc, out, ())
    settings.setdefault("project", project_id(root.resolve().name))
    project = build.build_project(replace(doc, data=settings), root, out)
    channels, broken_channels = _channels(root, project, out, docs)
    templates, broken_templates = _templates(root, project, out, docs)
    journeys, broken_journeys = _journeys(root, project, out, docs)
    broken = ({f"channel:{n}" for n in broken_channels} | {f"template:{n}" for n in
                                                           broken_templates} | broken_journeys)
    project = replace(project, catalog=_catalog(root, project, out, docs), channels=channels,
                      templates=templates, journeys=journeys, broken=frozenset(broken))
    return Loaded(project, docs, out.sorted())


def _load(path: Path, kind: str, out: Collector, docs: dict[str, Doc]) -> Doc | None:
    """Parse and schema-check one file; None when it cannot be used at all. Schema problems
    go to `out` (and stay readable there, with their document paths, for `_prune`)."""
    try:
        doc = load_file(path, display_path(path))
    except JourneyctlError as exc:
        out.extend(exc.diagnostics)
        return None
    docs[doc.file] = doc
    if doc.data is None:
        out.add("JC103", f"{doc.file} is empty", doc.loc(), f"see schema/{kind}.schema.json")
        return None
    if not isinstance(doc.data, dict):
        out.add("JC103", f"{doc.file} must hold a mapping (key: value lines)", doc.loc())
        return None
    out.extend(schema.check(doc, kind))
    return doc


def _errors(out: Collector, doc: Doc) -> list[Diagnostic]:
    return [d for d in out.items if d.is_error and d.loc.file == doc.file]


def _prune(doc: Doc, out: Collector, prefix: DocPath) -> tuple[dict[str, Any], set[str] | None]:
    """The mapping at `prefix` without the entries that have errors below them, and their
    keys; (empty, None) when the mapping itself is wrong. A missing mapping is empty."""
    errors = [d.path for d in _errors(out, doc) if d.path[: len(prefix)] == prefix]
    data = doc.data
    for part in prefix:
        data = data.get(part, {}) if isinstance(data, dict) else None
    if any(len(p) == len(prefix) for p in errors) or not isinstance(data, dict):
        return {}, None
    bad = {str(p[len(prefix)]) for p in errors}
    return {k: v for k, v in data.items() if k not in bad}, bad


def _catalog(root: Path, project: m.Project, out: Collector, docs: dict[str, Doc]) -> m.Catalog:
    doc = _optional(root, project, "events", out, docs)
    if doc is None:
        return m.Catalog(loc=Loc(display_path(root / project.events_file)),
                         unloaded=frozenset({"*"}))
    events, bad_events = _prune(doc, out, ("events",))
    profile, bad_profile = _prune(doc, out, ("profile",))
    if bad_events is None:
        return m.Catalog(loc=doc.loc(), unloaded=frozenset({"*"}))
    unloaded = {f"event:{n}" for n in bad_events}
    unloaded |= {"profile:*"} if bad_profile is None else {f"profile:{n}" for n in bad_profile}
    catalog = build.build_catalog(replace(doc, data={"events": events, "profile": profile}), out)
    return replace(catalog, unloaded=frozenset(unloaded))


def _channels(root: Path, project: m.Project, out: Collector,
              docs: dict[str, Doc]) -> tuple[m.FrozenMap, set[str]]:
    doc = _optional(root, project, "channels", out, docs)
    if doc is None:
        return m.FrozenMap(), {"*"}
    valid, bad = _prune(doc, out, ("channels",))
    if bad is None:
        return m.FrozenMap(), {"*"}
    return build.build_channels(replace(doc, data={"channels": valid}), out), bad


def _optional(root: Path, project: m.Project, key: str, out: Collector,
              docs: dict[str, Doc]) -> Doc | None:
    path = root / getattr(project, f"{key}_file")
    if not path.is_file():
        out.add("JC902", f"{key} file {display_path(path)} not found", project.at(key),
                f"create it, or point `{key}:` in {PROJECT_FILE} at it")
        return None
    return _load(path, key, out, docs)


def _files(root: Path, relative: str, project: m.Project, key: str,
           out: Collector) -> list[Path]:
    folder = root / relative
    if not folder.is_dir():
        out.add("JC902", f"{key} folder {display_path(folder)} not found", project.at(key),
                f"create it, or point `{key}:` in {PROJECT_FILE} at it")
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def _templates(root: Path, project: m.Project, out: Collector,
               docs: dict[str, Doc]) -> tuple[m.FrozenMap, set[str]]:
    folder = root / project.templates_dir
    templates: dict[str, m.Template] = {}
    broken: set[str] = set()
    for path in _files(root, project.templates_dir, project, "templates", out):
        name = path.relative_to(folder).with_suffix("").as_posix()
        doc = _load(path, "template", out, docs)
        if doc is None or _errors(out, doc):
            broken.add(name)
            continue
        if name in templates:
            out.add("JC601", f"template '{name}' is defined twice (also in "
                    f"{templates[name].loc.file})", doc.loc(), "rename one of the files")
            continue
        templates[name] = build.build_template(doc, name, out)
    return m.FrozenMap(templates), broken


def _journeys(root: Path, project: m.Project, out: Collector,
              docs: dict[str, Doc]) -> tuple[tuple[m.Journey, ...], set[str]]:
    # A journeys folder may be the project folder itself: skip the files that are not journeys.
    others = {(root / f).resolve() for f in (PROJECT_FILE, project.events_file,
                                             project.channels_file)}
    folders = [(root / d).resolve() for d in (project.templates_dir, project.tests_dir)]
    journeys = []
    broken = set()
    for path in _files(root, project.journeys_dir, project, "journeys", out):
        resolved = path.resolve()
        if resolved in others or any(f in resolved.parents for f in folders):
            continue
        doc = _load(path, "journey", out, docs)
        journey = build.build_journey(doc, out) if doc and not _errors(out, doc) else None
        if journey:
            journeys.append(journey)
        else:
            broken.add(f"journey:{display_path(path)}")
    if not journeys and not broken:
        out.add("JC901", "the project has no journeys", project.at("journeys"),
                f"add a journey file under {project.journeys_dir}")
    return tuple(journeys), broken


def validate(path: Path) -> Loaded:
    """Load the project and run every semantic check; the result lists all diagnostics."""
    from journeyctl.checks import run_checks

    loaded = load_project(path)
    if loaded.project is None:
        return loaded
    found = run_checks(loaded.project, loaded.docs)
    merged = sorted({*loaded.diagnostics, *found}, key=Diagnostic.sort_key)
    return Loaded(loaded.project, loaded.docs, merged)
