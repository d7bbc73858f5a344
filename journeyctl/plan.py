"""`plan`: a pure function (desired project, state) -> the changes, as data (SPEC §6).

A plan is a value (`Plan`, its `Change`s, frozen): it is rendered (text, markdown), printed as
JSON (`to_json`, whose shape is schema/plan.schema.json), saved with `--out`, and applied
exactly by `apply PLAN_FILE` (`unseal` reads it back) — which refuses it when the state has moved
on (the plan records the state's lineage and serial) or when the file was edited (checksum).

What is versioned, per journey, is its document, the templates it sends and the snippets those
render, so an instance finishes on exactly the content it started with. The project's settings,
catalog and channels are versioned together as `settings`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from journeyctl import model as m
from journeyctl.fielddiff import field_changes, show_change
from journeyctl.liquid_env import used_snippets
from journeyctl.schema import load_schema
from journeyctl.state.base import AppliedJourney, Snapshot
from journeyctl.state.plan_values import (
    ACTIONS,
    Action,
    Change,
    Inflight,
    Plan,
    PlanState,
    SettingsChange,
    Target,
    content_hash,
)
from journeyctl.timefmt import plan_created_at
from journeyctl.yamlload import Doc

SCHEMA_VERSION = 2  # 2: changed fields carry their old and new values
JOURNEY_KEYS = ("name", "description", "status", "trigger", "audience", "entry", "goal",
                "exit_on", "caps", "max_delay", "migrate")


@dataclass(frozen=True)
class Desired:
    project: str
    # id -> {"journey": doc, "templates": {name: doc}, "snippets": {name: source}}; "snippets"
    # only when the templates render some, so a journey without keeps its hash
    journeys: Mapping[str, dict[str, Any]]
    settings: dict[str, Any]  # {"project": doc, "events": doc, "channels": doc}


def desired(project: m.Project, docs: Mapping[str, Doc]) -> Desired:
    """What the files say should be applied (drafts are never applied)."""
    journeys = {}
    for journey in project.journeys:
        if journey.status == "draft":
            continue
        names = sorted({o.template for s in journey.steps if isinstance(s.action, m.Send)
                        for o in s.action.options})
        templates = {n: docs[project.templates[n].loc.file].data for n in names
                     if n in project.templates}
        journeys[journey.id] = {"journey": docs[journey.loc.file].data, "templates": templates,
                                **_snippets(project, names)}
    settings = {key: docs[loc.file].data if loc.file in docs else None
                for key, loc in (("project", project.loc), ("events", project.catalog.loc))}
    channels_doc = next((d for d in docs.values() if d.file.endswith(project.channels_file)),
                        None)
    settings["channels"] = channels_doc.data if channels_doc else None
    return Desired(project.name, journeys, settings)


def _snippets(project: m.Project, templates: list[str]) -> dict[str, Any]:
    sources = (s for n in templates if n in project.templates
               for f in project.templates[n].fields.values() for _, s in f.strings())
    used = used_snippets(sources, project.snippet_sources)
    return {"snippets": {n: project.snippets[n].source for n in sorted(used)}} if used else {}


# --- planning --------------------------------------------------------------------------------


def make_plan(want: Desired, state: Snapshot, now: float, state_path: str,
              state_file: str = "", state_url: str | None = None) -> Plan:
    """The plan made at `now`. `state_path` names the state in messages, `state_file` is where
    it is, `state_url` the --state it was given by (None: the project's `state:`), for the
    commands a plan's hints give."""
    changes = [_change(jid, want.journeys.get(jid), state) for jid in
               sorted(set(want.journeys) | {j for j, a in state.journeys.items()
                                            if a.status != "deleted"})]
    settings_hash = content_hash(want.settings)
    action: Action = "no-op" if settings_hash == state.settings_hash else (
        "update" if state.settings_hash else "create")
    settings = SettingsChange(
        action, state.settings_version or None, state.settings_version + 1, settings_hash,
        tuple(field_changes(state.settings, want.settings)) if state.settings else (),
        want.settings)
    summary: dict[str, int] = {action: sum(1 for c in changes if c.action == action)
                               for action in ACTIONS}
    return Plan(
        SCHEMA_VERSION, want.project,
        PlanState(state_path, state_file, state.lineage, state.serial, state_url),
        plan_created_at(now),
        tuple(changes), settings, summary,
        bool(summary["create"] or summary["update"] or summary["delete"]
             or settings.action != "no-op"))


def rollback_plan(state: Snapshot, target: AppliedJourney, project: str, now: float,
                  state_path: str, state_file: str) -> Plan:
    """The plan that makes `target` (an older version of its journey) the latest again,
    everything else as it is in the state."""
    journeys = {j: dict(a.content) for j, a in state.journeys.items() if a.status != "deleted"}
    journeys[target.journey] = dict(target.content)
    want = Desired(state.project or project, journeys, dict(state.settings or {}))
    return make_plan(want, state, now, state_path, state_file)


def _change(journey_id: str, want: dict[str, Any] | None, state: Snapshot) -> Change:
    applied = state.journeys.get(journey_id)
    current = applied if applied is not None and applied.status != "deleted" else None
    from_version = current.version if current else None
    to_version = (applied.version + 1) if applied else 1
    if want is None:
        assert current is not None
        return Change(journey_id, "delete", from_version, to_version, current.hash,
                      dict(current.content), inflight=_groups(journey_id, state, None, None))
    digest = content_hash(want)
    if current is None:
        return Change(journey_id, "create", from_version, to_version, digest, want)
    if digest == current.hash:
        return Change(journey_id, "no-op", from_version, current.version, digest)
    diff = journey_diff(current.content, want)
    return Change(journey_id, "update", from_version, to_version, digest, want, diff,
                  _groups(journey_id, state, diff, want))


def journey_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Steps added, removed and changed (with the changed fields and their old and new values),
    journey-level changes (likewise), and templates and snippets whose content changed."""
    old_doc, new_doc = old["journey"], new["journey"]
    old_steps = {s.get("id"): s for s in old_doc.get("steps", [])}
    new_steps = {s.get("id"): s for s in new_doc.get("steps", [])}
    changed = [{"step": sid, "fields": field_changes(old_steps[sid], new_steps[sid])}
               for sid in new_steps if sid in old_steps and old_steps[sid] != new_steps[sid]]
    old_order = [s for s in old_steps if s in new_steps]
    new_order = [s for s in new_steps if s in old_steps]
    return {
        "steps": {
            "added": [s for s in new_steps if s not in old_steps],
            "removed": [s for s in old_steps if s not in new_steps],
            "changed": changed,
            "reordered": old_order != new_order,
        },
        "journey": field_changes({k: old_doc[k] for k in JOURNEY_KEYS if k in old_doc},
                                 {k: new_doc[k] for k in JOURNEY_KEYS if k in new_doc}),
        "templates": _named_diff(old.get("templates", {}), new.get("templates", {}),
                                 field_changes),
        "snippets": _named_diff(old.get("snippets", {}), new.get("snippets", {}),
                                _source_change),
    }


def _named_diff(old: Mapping[str, Any], new: Mapping[str, Any],
                fields: Callable[[Any, Any], list[dict[str, Any]]]) -> dict[str, Any]:
    """Names added, removed and changed, and the changed fields of each changed one."""
    changed = sorted(n for n in set(old) & set(new) if old[n] != new[n])
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": changed,
        "fields": {name: fields(old[name], new[name]) for name in changed},
    }


def _source_change(old: str, new: str) -> list[dict[str, Any]]:
    """A snippet is its Liquid source: one value, shown cut around its first difference."""
    return [{"path": "source", "old": old, "new": new}]


def _groups(journey_id: str, state: Snapshot, diff: Mapping[str, Any] | None,
            want: Mapping[str, Any] | None) -> tuple[Inflight, ...]:
    """In-flight instances on each removed or changed step (or all, for a delete), and where
    they go: on to the new version at the mapped step (`migrate:`), or they finish on theirs."""
    migrate = (want or {}).get("journey", {}).get("migrate") or {}
    touched = None
    if diff is not None:
        touched = set(diff["steps"]["removed"]) | {c["step"] for c in diff["steps"]["changed"]}
    applied = state.journeys.get(journey_id)
    groups = []
    for (jid, version, step), count in sorted(state.inflight.items()):
        if jid != journey_id or not count:
            continue
        if touched is not None and step not in touched and step not in migrate:
            continue
        target = migrate.get(step) if want is not None else None
        removed = diff is not None and step in diff["steps"]["removed"]
        groups.append(Inflight(version, step, count, removed,
                               Target(applied.version + 1 if applied else 1, target)
                               if target else None))
    return tuple(groups)


# --- plan files ------------------------------------------------------------------------------


def seal(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan with a checksum over everything else, for `--out`."""
    body = {k: v for k, v in plan.items() if k != "checksum"}
    return {**body, "checksum": content_hash(body)}


def is_plan_file(document: Any) -> bool:
    """Whether a JSON document was written by `plan --out` (of any format; maybe edited since)."""
    return isinstance(document, dict) and "checksum" in document


def unseal(document: Any) -> Plan | str:
    """The plan, or what is wrong with the file. A plan of format 1 (changed fields without
    their values) is read as format 2 with the values unknown."""
    if not is_plan_file(document):
        return "not a journeyctl plan file"
    version = document.get("schema_version")
    if not isinstance(version, int) or version not in PLAN_SHAPES:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        return (f"plan format {version!r} is " + ("newer than this journeyctl reads "
                if newer else "not one this journeyctl reads ") + f"(1 to {SCHEMA_VERSION})")
    body = {k: v for k, v in document.items() if k != "checksum"}
    if content_hash(body) != document["checksum"]:
        return "the plan file was changed after it was made (its checksum does not match)"
    problem = _shape_problem(body, PLAN_SHAPES[version])
    if problem:
        return (f"not a journeyctl plan: {problem} (it was edited and its checksum made "
                "again, or another program wrote it)")
    return Plan.from_json(body if version == SCHEMA_VERSION else _from_format_1(body))


def _from_format_1(plan: dict[str, Any]) -> dict[str, Any]:
    """Format 1 named the changed fields (`wait`); format 2 has `{"path": "wait", "old", "new"}`
    and so shows them with no values."""
    def fields(paths: list[str]) -> list[dict[str, Any]]:
        return [{"path": path} for path in paths]

    changes = []
    for change in plan["changes"]:
        diff = change.get("diff")
        if diff:
            steps = {**diff["steps"], "changed": [{**item, "fields": fields(item["fields"])}
                                                  for item in diff["steps"]["changed"]]}
            change = {**change, "diff": {**diff, "steps": steps,
                                         "journey": fields(diff["journey"])}}
        changes.append(change)
    settings = {**plan["settings"], "changed": fields(plan["settings"]["changed"])}
    return {**plan, "schema_version": SCHEMA_VERSION, "changes": changes, "settings": settings}


def _plan_shapes() -> dict[int, dict[str, Any]]:
    """What `apply` and the renderers read of a plan, per format: schema/plan.schema.json
    (format 2), and format 1, whose changed fields were bare paths. A file that passes its
    checksum is still checked against it, so that a hand-made plan is refused with a message,
    not a crash."""
    current = load_schema("plan")
    older = {**current, "$defs": {**current["$defs"], "field": {"type": "string"}}}
    return {1: older, SCHEMA_VERSION: current}


PLAN_SHAPES = _plan_shapes()


def _shape_problem(plan: dict[str, Any], shape: dict[str, Any]) -> str | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(shape).iter_errors(plan))
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') or 'the plan'}: {error.message}"


# --- rendering -------------------------------------------------------------------------------

SYMBOL = {"create": "+", "update": "~", "delete": "-", "no-op": " "}


def lines(plan: Plan) -> Iterator[tuple[str, str]]:
    """(style, text) lines: the plan as people read it, for text and markdown."""
    state = plan.state
    yield "", (f"Plan for {plan.project} against {state.path} (serial {state.serial})"
               + (", a new state" if not state.lineage else "") + ":")
    yield "", ""
    yield from _body(plan)
    summary = plan.summary
    if not plan.has_changes:
        yield "", "No changes: the state matches the files."
        return
    yield "", ""
    yield "bold", (f"Plan: {summary['create']} to create, {summary['update']} to update, "
                   f"{summary['delete']} to delete, {summary['no-op']} unchanged.")


def _body(plan: Plan) -> Iterator[tuple[str, str]]:
    """The changes: journeys, then the project settings."""
    for change in plan.changes:
        if change.action == "no-op":
            continue
        yield from _change_lines(change)
    settings = plan.settings
    action = settings.action
    if action == "no-op":
        return
    head = f"{SYMBOL[action]} project settings (v{settings.to_version})"
    if action != "update" or not settings.changed:
        yield action, f"{head}: settings, catalog and channels"
        return
    yield action, head
    for field in settings.changed:
        yield "update", f"      ~ {show_change(field)}"


def _change_lines(change: Change) -> Iterator[tuple[str, str]]:
    action = change.action
    versions = (f"v{change.from_version} → v{change.to_version}" if action == "update"
                else f"v{change.to_version}" if action == "create"
                else f"v{change.from_version}")
    yield action, f"{SYMBOL[action]} {action} journey {change.journey} ({versions})"
    diff = change.diff
    if diff:
        steps = diff["steps"]
        for step in steps["added"]:
            yield "create", f"      + step {step}"
        for step in steps["removed"]:
            yield "delete", f"      - step {step}"
        for item in steps["changed"]:
            yield "update", f"      ~ step {item['step']}"
            for field in item["fields"]:
                yield "update", f"          {show_change(field)}"
        if steps["reordered"]:
            yield "update", "      ~ steps reordered"
        for field in diff["journey"]:
            yield "update", f"      ~ {show_change(field)}"
        for what in ("template", "snippet"):
            yield from _named_lines(what, diff.get(f"{what}s", {}))
    for group in change.inflight:
        who = f"{group.count} in flight at {group.step} (v{group.version})"
        if group.goes_to:
            target = group.goes_to
            yield "", f"      → {who}: move to v{target.version} at {target.step} (migrate)"
        elif group.removed:
            yield "warning", (f"      ! {who}: the step is removed; they finish on "
                              f"v{group.version} (add `migrate: {{{group.step}: ...}}` to "
                              "move them)")
        else:
            yield "", f"      · {who}: they finish on v{group.version}"


def _named_lines(what: str, names: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Templates (or snippets) added, removed and changed, each changed field with its old and
    new value below it."""
    for kind, style, mark in (("added", "create", "+"), ("removed", "delete", "-"),
                              ("changed", "update", "~")):
        for name in names.get(kind, []):
            yield style, f"      {mark} {what} {name}"
            if kind == "changed":
                for field in names.get("fields", {}).get(name, []):
                    yield "update", f"          {show_change(field)}"


def to_text(plan: Plan) -> list[tuple[str, str]]:
    return list(lines(plan))


def to_markdown(plan: Plan) -> str:
    """For a pull-request comment: a summary line and the changes in a diff block."""
    summary = plan.summary
    head = (f"### journeyctl plan: `{plan.project}`\n\n"
            f"**{summary['create']}** to create, **{summary['update']}** to update, "
            f"**{summary['delete']}** to delete, {summary['no-op']} unchanged"
            f" (state serial {plan.state.serial}).\n")
    if not plan.has_changes:
        return head + "\nNo changes: the state matches the files.\n"
    diff = "\n".join(f"{DIFF_MARK.get(style, ' ')} {text}" for style, text in _body(plan))
    return head + "\n```diff\n" + diff.rstrip() + "\n```\n"


# Markdown `diff` highlighting keys on a line's first character: + green, - red, ! orange.
DIFF_MARK = {"create": "+", "delete": "-", "update": "!", "warning": "!"}
