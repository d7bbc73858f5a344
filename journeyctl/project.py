"""Loading a project directory: every file parsed, schema-checked and built, every problem kept.

`load_project` never stops at the first mistake: a broken journey file is reported and left
out, and the rest of the project is still loaded and checked, so `validate` can list all
errors at once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from journeyctl import build, schema
from journeyctl import model as m
from journeyctl.diagnostics import Collector, Diagnostic, JourneyctlError, Loc, diagnostic
from journeyctl.yamlload import Doc, load_file

PROJECT_FILE = "journeyctl.yaml"
YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Loaded:
    project: m.Project | None
    docs: Mapping[str, Doc]
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.project is not None and not any(d.is_error for d in self.diagnostics)


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
    hint = f"run `journeyctl init {shown}` to create a project there"
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
    """Load everything under the project at `path`; problems come back as diagnostics."""
    root = project_root(path)
    out = Collector()
    docs: dict[str, Doc] = {}
    doc = _load(root / PROJECT_FILE, "project", out, docs)
    if doc is None:
        return Loaded(None, docs, out.sorted())
    project = build.build_project(doc, root, out)
    catalog = _optional(root, project, "events_file", "events", out, docs, build.build_catalog)
    channels = _optional(root, project, "channels_file", "channels", out, docs,
                         build.build_channels)
    project = replace(
        project,
        catalog=catalog or m.Catalog(loc=Loc(display_path(root / project.events_file))),
        channels=channels or m.FrozenMap(),
        templates=_templates(root, project, out, docs),
        journeys=_journeys(root, project, out, docs),
    )
    return Loaded(project, docs, out.sorted())


def _load(path: Path, kind: str, out: Collector, docs: dict[str, Doc]) -> Doc | None:
    """Parse and schema-check one file; None (with diagnostics) when it cannot be used."""
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
    problems = schema.check(doc, kind)
    out.extend(problems)
    return None if any(d.is_error for d in problems) else doc


def _optional(root: Path, project: m.Project, setting: str, kind: str, out: Collector,
              docs: dict[str, Doc], builder: Callable[[Doc, Collector], Any]) -> Any:
    relative = getattr(project, setting)
    path = root / relative
    if not path.is_file():
        key = {"events_file": "events", "channels_file": "channels"}[setting]
        out.add("JC902", f"{key} file {display_path(path)} not found", project.at(key),
                f"create it, or point `{key}:` in {PROJECT_FILE} at it")
        return None
    doc = _load(path, kind, out, docs)
    return builder(doc, out) if doc else None


def _files(root: Path, relative: str, project: m.Project, key: str,
           out: Collector) -> list[Path]:
    folder = root / relative
    if not folder.is_dir():
        out.add("JC902", f"{key} folder {display_path(folder)} not found", project.at(key),
                f"create it, or point `{key}:` in {PROJECT_FILE} at it")
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())


def _templates(root: Path, project: m.Project, out: Collector,
               docs: dict[str, Doc]) -> m.FrozenMap:
    folder = root / project.templates_dir
    templates: dict[str, m.Template] = {}
    for path in _files(root, project.templates_dir, project, "templates", out):
        name = path.relative_to(folder).with_suffix("").as_posix()
        doc = _load(path, "template", out, docs)
        if doc is None:
            continue
        if name in templates:
            out.add("JC601", f"template '{name}' is defined twice (also in "
                    f"{templates[name].loc.file})", doc.loc(), "rename one of the files")
            continue
        templates[name] = build.build_template(doc, name, out)
    return m.FrozenMap(templates)


def _journeys(root: Path, project: m.Project, out: Collector,
              docs: dict[str, Doc]) -> tuple[m.Journey, ...]:
    # A journeys folder may be the project folder itself: skip the files that are not journeys.
    others = {(root / f).resolve() for f in (PROJECT_FILE, project.events_file,
                                             project.channels_file)}
    folders = [(root / d).resolve() for d in (project.templates_dir, project.tests_dir)]
    journeys = []
    for path in _files(root, project.journeys_dir, project, "journeys", out):
        resolved = path.resolve()
        if resolved in others or any(f in resolved.parents for f in folders):
            continue
        doc = _load(path, "journey", out, docs)
        journey = build.build_journey(doc, out) if doc else None
        if journey:
            journeys.append(journey)
    if not journeys and not out.has_errors:
        out.add("JC901", "the project has no journeys", project.at("journeys"),
                f"add a journey file under {project.journeys_dir}")
    return tuple(journeys)


def validate(path: Path) -> Loaded:
    """Load the project and run every semantic check; the result lists all diagnostics."""
    from journeyctl.checks import run_checks

    loaded = load_project(path)
    if loaded.project is None:
        return loaded
    found = run_checks(loaded.project, loaded.docs)
    merged = sorted({*loaded.diagnostics, *found}, key=Diagnostic.sort_key)
    return Loaded(loaded.project, loaded.docs, merged)
