"""Loading a project directory: every file parsed, schema-checked and built, every problem kept.

`load_project` never stops at the first mistake: a broken part of a file (a step, a trigger,
a template field, a channel) is reported and left out, and the rest is still loaded and
checked, so `validate` can list all errors at once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from journeyctl import build, schema
from journeyctl import model as m
from journeyctl.diagnostics import Collector, Diagnostic, JourneyctlError, Loc, diagnostic
from journeyctl.hints import close_path, command
from journeyctl.paths import display_path, files_below, inside, link_problem, real, setting_problem
from journeyctl.scaffold import project_id
from journeyctl.yamlload import Doc, DocPath, decode, load_file

PROJECT_FILE = "journeyctl.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
SNIPPET_SUFFIX = ".liquid"
DEFAULT_SNIPPETS = "snippets"
# What `journeyctl init` writes for each path setting (the examples of the hints).
PATH_EXAMPLES = {"journeys": "journeys/", "events": "events.yaml", "channels": "channels.yaml",
                 "templates": "templates/", "snippets": "snippets/", "tests": "tests/"}


@dataclass(frozen=True)
class Loaded:
    project: m.Project | None
    docs: Mapping[str, Doc]
    diagnostics: list[Diagnostic]


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` that holds a journeyctl.yaml."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


class NoProject(JourneyctlError):
    """No project at the path a command was given. `found` are the projects the user most
    likely meant (the one above the path, those just below it, or a folder whose name is close
    to a mistyped one), so that the CLI can hint the same command run on each."""

    def __init__(self, given: Path, message: str, hint: str, found: tuple[Path, ...] = ()
                 ) -> None:
        shown = display_path(given)
        super().__init__([diagnostic("JC001", message, Loc(shown, 1, 1), hint)])
        self.given, self.found = given, found


_NOT_PROJECTS = {"node_modules", "__pycache__", "site-packages"}


def find_below(start: Path, depth: int = 3, budget: int = 2_000) -> list[Path]:
    """The projects in the shallowest level below `start` (at most `depth` folders down) that
    holds any, skipping hidden and tool folders; `budget` bounds the folders looked at."""
    level = [start]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            below += [p for p in children if not p.name.startswith(".")
                      and p.name not in _NOT_PROJECTS]
        below = below[:budget]
        found = [p for p in below if (p / PROJECT_FILE).is_file()]
        if found or not below:
            return found
        level = below
    return []


def _close_project(path: Path) -> Path | None:
    """A project folder beside a path that does not exist, with a name close to it: the
    folder the user meant when they mistyped."""
    return close_path(path, lambda p: (p / PROJECT_FILE).is_file())


def _may_init_here(folder: Path) -> bool:
    return all(p.name == ".git" for p in folder.iterdir())


def project_root(path: Path) -> Path:
    """`path` is a project folder or its journeyctl.yaml; raise NoProject otherwise."""
    if path.is_file() and path.name == PROJECT_FILE:
        return path.parent
    if (path / PROJECT_FILE).is_file():
        return path
    shown = display_path(path)
    if not path.exists():
        found = _close_project(path)
        hint = (f"did you mean {display_path(found)}?" if found else
                f"check the path; `{command('init', shown)}` creates a new project")
        raise NoProject(path, f"{shown}: folder not found", hint, (found,) if found else ())
    if not path.is_dir():
        found = find_root(path)
        where = f"the project is at {display_path(found)}" if found else \
            "give the project folder (the one holding journeyctl.yaml)"
        raise NoProject(path, f"{shown} is a file, not a project folder", where,
                        (found,) if found else ())
    above = find_root(path)
    below = [] if above else find_below(path)
    if above or len(below) == 1:
        found = above or below[0]
        raise NoProject(path, f"no {PROJECT_FILE} in {shown}",
                        f"the project is at {display_path(found)}", (found,))
    if below:
        raise NoProject(path, f"no {PROJECT_FILE} in {shown}",
                        "projects below it: " + ", ".join(map(display_path, below)),
                        tuple(below))
    new = path if _may_init_here(path) else next(
        path / name for name in ("journeys", *(f"journeys-{n}" for n in range(2, 100)))
        if not (path / name).exists())
    raise NoProject(path, f"no {PROJECT_FILE} in {shown}",
                    f"create a project: {command('init', display_path(new))}")


def load_project(path: Path) -> Loaded:
    """Load everything under the project at `path`; problems come back as diagnostics.

    A file with schema errors is still used for the parts that are right (the other channels,
    events, settings, steps, template fields), and what could not be loaded is remembered
    (`Project.broken`, `Journey.broken`, `Template.broken`), so a broken channel is reported
    once and not again by every step that uses it. Only a file with no usable top level (not
    a mapping, a journey without its id) is left out whole.
    """
    root = project_root(path)
    out = Collector()
    docs: dict[str, Doc] = {}
    if not inside(root, root / PROJECT_FILE):
        return Loaded(None, docs, [link_problem(root / PROJECT_FILE)])
    doc = _load(root / PROJECT_FILE, "project", out, docs)
    if doc is None:
        return Loaded(None, docs, out.sorted())
    settings, _ = _prune(doc, out, ())
    settings.setdefault("project", project_id(root.resolve().name))
    project = build.build_project(replace(doc, data=settings), root, out)
    _outside(root, project, "tests", out)  # read by `journeyctl test`, which validates first
    channels, broken_channels = _channels(root, project, out, docs)
    templates, broken_templates = _templates(root, project, out, docs)
    snippets, broken_snippets = _snippets(root, project, out)
    journeys, broken_journeys = _journeys(root, project, out, docs)
    broken = ({f"channel:{n}" for n in broken_channels} | {f"template:{n}" for n in
                                                           broken_templates} |
              {f"snippet:{n}" for n in broken_snippets} | broken_journeys)
    project = replace(project, catalog=_catalog(root, project, out, docs), channels=channels,
                      templates=templates, snippets=snippets, journeys=journeys,
                      broken=frozenset(broken))
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


def _error_paths(out: Collector, doc: Doc) -> list[DocPath]:
    return [d.path for d in _errors(out, doc)]


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
        return m.Catalog(loc=project.at("events"), broken=frozenset({"*"}))
    events, bad_events = _prune(doc, out, ("events",))
    profile, bad_profile = _prune(doc, out, ("profile",))
    if bad_events is None:
        return m.Catalog(loc=doc.loc(), broken=frozenset({"*"}))
    broken = {f"event:{n}" for n in bad_events}
    broken |= {"profile:*"} if bad_profile is None else {f"profile:{n}" for n in bad_profile}
    catalog = build.build_catalog(replace(doc, data={"events": events, "profile": profile}), out)
    return replace(catalog, broken=frozenset(broken))


def _channels(root: Path, project: m.Project, out: Collector,
              docs: dict[str, Doc]) -> tuple[m.FrozenMap, set[str]]:
    doc = _optional(root, project, "channels", out, docs)
    if doc is None:
        return m.FrozenMap(), {"*"}
    valid, bad = _prune(doc, out, ("channels",))
    if bad is None:
        return m.FrozenMap(), {"*"}
    return build.build_channels(replace(doc, data={"channels": valid}), out), bad


def _outside(root: Path, project: m.Project, key: str, out: Collector) -> bool:
    """Whether the path setting `key` leads out of the project (then reported in `out`)."""
    value = getattr(project, f"{key}_file" if key in ("events", "channels") else f"{key}_dir")
    problem = setting_problem(root, key, value, project.at(key), PATH_EXAMPLES[key])
    if problem is not None:
        out.extend([problem])
    return problem is not None


def _optional(root: Path, project: m.Project, key: str, out: Collector,
              docs: dict[str, Doc]) -> Doc | None:
    if _outside(root, project, key, out):
        return None
    path = root / getattr(project, f"{key}_file")
    if not path.is_file():
        out.add("JC902", f"{key} file {display_path(path)} not found", project.at(key),
                f"create it, or point `{key}:` in {PROJECT_FILE} at it")
        return None
    return _load(path, key, out, docs)


def _files(root: Path, project: m.Project, key: str,
           out: Collector) -> tuple[list[Path], list[Path]] | None:
    """The YAML files below the folder `key` names, and the links there that lead out of the
    project (reported here, never read); None when the folder itself leads out."""
    if _outside(root, project, key, out):
        return None
    folder = root / getattr(project, f"{key}_dir")
    if not folder.is_dir():
        out.add("JC902", f"{key} folder {display_path(folder)} not found", project.at(key),
                f"create it, or point `{key}:` in {PROJECT_FILE} at it")
        return [], []
    return _below(root, folder, YAML_SUFFIXES, out)


def _below(root: Path, folder: Path, suffixes: tuple[str, ...],
           out: Collector) -> tuple[list[Path], list[Path]]:
    files, outside = files_below(root, folder, suffixes)
    out.extend(link_problem(link) for link in outside)
    return files, outside


def _names(folder: Path, links: list[Path]) -> set[str]:
    """What links leading out of the project would have defined, for `Project.broken`: a
    file's name, or anything (`*`) for a folder."""
    return {"*" if link.is_dir() else link.relative_to(folder).with_suffix("").as_posix()
            for link in links}


def _templates(root: Path, project: m.Project, out: Collector,
               docs: dict[str, Doc]) -> tuple[m.FrozenMap, set[str]]:
    found = _files(root, project, "templates", out)
    if found is None:
        return m.FrozenMap(), {"*"}
    folder = root / project.templates_dir
    files, outside = found
    templates: dict[str, m.Template] = {}
    broken = _names(folder, outside)
    for path in files:
        name = path.relative_to(folder).with_suffix("").as_posix()
        doc = _load(path, "template", out, docs)
        if doc is None:
            broken.add(name)
            continue
        if name in templates:
            out.add("JC601", f"template '{name}' is defined twice (also in "
                    f"{templates[name].loc.file})", doc.loc(), "rename one of the files")
            continue
        bad = {str(p[0]) for p in _error_paths(out, doc) if p}
        if "channel" not in doc.data:  # required: reported at the top of the file (JC102)
            bad.add("channel")
        valid = {k: v for k, v in doc.data.items() if k not in bad}
        templates[name] = build.build_template(replace(doc, data=valid), name, out,
                                               frozenset(bad))
    return m.FrozenMap(templates), broken


def _snippets(root: Path, project: m.Project, out: Collector) -> tuple[m.FrozenMap, set[str]]:
    """`<name>.liquid` files under the snippets folder (subfolders give `kr/footer`), and the
    names of those that cannot be read (reported here; a template rendering one is not told
    that it does not exist). The default folder is optional: a template rendering a snippet
    that is not there is JC609, whose hint names the file to create. A folder named otherwise
    in journeyctl.yaml must exist (JC902); while it does not, every snippet is unknown."""
    if _outside(root, project, "snippets", out):
        return m.FrozenMap(), {"*"}
    folder = root / project.snippets_dir
    if not folder.is_dir():
        if os.path.normpath(project.snippets_dir) == DEFAULT_SNIPPETS:
            return m.FrozenMap(), set()
        out.add("JC902", f"snippets folder {display_path(folder)} not found",
                project.at("snippets"), f"create it, or point `snippets:` in {PROJECT_FILE} "
                "at it (leave `snippets:` out when there are no snippets)")
        return m.FrozenMap(), {"*"}
    files, outside = _below(root, folder, (SNIPPET_SUFFIX,), out)
    snippets, broken = {}, _names(folder, outside)
    for path in files:
        shown = display_path(path)
        name = path.relative_to(folder).with_suffix("").as_posix()
        try:
            source = decode(path.read_bytes(), shown)
        except OSError as exc:
            out.add("JC001", f"cannot read {shown}: {exc.strerror}", Loc(shown))
            broken.add(name)
            continue
        except JourneyctlError as exc:
            out.extend(exc.diagnostics)
            broken.add(name)
            continue
        snippets[name] = m.Snippet(loc=Loc(shown), name=name, source=source)
    return m.FrozenMap(snippets), broken


def _journeys(root: Path, project: m.Project, out: Collector,
              docs: dict[str, Doc]) -> tuple[tuple[m.Journey, ...], set[str]]:
    # A journeys folder may be the project folder itself: skip the files that are not journeys.
    others = {real(root / f) for f in (PROJECT_FILE, project.events_file,
                                       project.channels_file)}
    folders = [real(root / d) for d in (project.templates_dir, project.snippets_dir,
                                        project.tests_dir)]
    found = _files(root, project, "journeys", out)
    if found is None:
        return (), {"journey:*"}
    files, outside = found
    journeys = []
    broken = {f"journey:{display_path(link)}" for link in outside}
    for path in files:
        resolved = real(path)
        if resolved in others or any(f in resolved.parents for f in folders):
            continue
        doc = _load(path, "journey", out, docs)
        tree = _journey_tree(doc, out) if doc else None
        if doc and tree:
            data, parts = tree
            journeys.append(build.build_journey(replace(doc, data=data), out, parts))
        else:
            broken.add(f"journey:{display_path(path)}")
    if not journeys and not broken:
        out.add("JC901", "the project has no journeys", project.at("journeys"),
                f"add a journey file under {project.journeys_dir}")
    return tuple(journeys), broken


_LISTS = ("steps", "exit_on", "caps")  # lists whose items are left out one by one


def _journey_tree(doc: Doc, out: Collector) -> tuple[dict[str, Any], frozenset[str]] | None:
    """The journey without the parts that have schema errors, and their names (see
    `Journey.broken`); None when it has no usable id, and so is left out whole. A list item
    left out becomes None, so that the others keep their places (and their locations)."""
    paths = _error_paths(out, doc)
    data = dict(doc.data)
    if "journey" not in data or any(p[:1] == ("journey",) for p in paths):
        return None
    known = schema.load_schema("journey")["properties"]
    broken = {key for key in ("trigger", "steps") if key not in data}  # reported as JC102
    for key in {p[0] for p in paths if p}:
        items = data.get(key)
        if key in _LISTS and isinstance(items, list) and (key,) not in paths:
            # the indexes of items with errors (a list's paths go on by index)
            bad = {p[1] for p in paths if len(p) > 1 and p[0] == key and isinstance(p[1], int)}
            data[key] = [None if i in bad else item for i, item in enumerate(items)]
            if key == "steps":
                broken |= {_broken_step(items[i], ("steps", i), paths) for i in bad}
                broken |= {"wait_for" for i in bad if _has(items[i], "wait_for")}
                continue
        else:
            data.pop(key, None)
        if key in known:
            broken.add(str(key))
    return data, frozenset(broken)


def _broken_step(raw: Any, path: DocPath, errors: list[DocPath]) -> str:
    """The step's `step_part`. A text id with an error (`_later`) names no step: it may be a
    misspelling of the name a reference uses. An id of another type (`id: 7`) is its text,
    so `next: zzz` elsewhere is still reported."""
    if not _has(raw, "id"):
        return m.step_part(None)
    step_id = raw["id"]
    if isinstance(step_id, str) and any(p[: len(path) + 1] == (*path, "id") for p in errors):
        return m.step_part(None)
    return m.step_part(step_id)


def _has(raw: Any, key: str) -> bool:
    return isinstance(raw, dict) and key in raw


def validate(path: Path) -> Loaded:
    """Load the project and run every semantic check; the result lists all diagnostics."""
    from journeyctl.checks import run_checks

    loaded = load_project(path)
    if loaded.project is None:
        return loaded
    found = run_checks(loaded.project, loaded.docs)
    merged = sorted({*loaded.diagnostics, *found}, key=Diagnostic.sort_key)
    return Loaded(loaded.project, loaded.docs, merged)
