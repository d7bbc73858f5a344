"""`plan`: a pure function (desired project, state) -> the changes, as data (SPEC §6).

A plan is a JSON-able dict: it is rendered (text, markdown), printed as JSON, saved with
`--out`, and applied exactly by `apply PLAN_FILE` — which refuses it when the state has moved
on (the plan records the state's lineage and serial) or when the file was edited (checksum).

What is versioned, per journey, is its document, the templates it sends and the snippets those
render, so an instance finishes on exactly the content it started with. The project's settings,
catalog and channels are versioned together as `settings`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from journeyctl import model as m
from journeyctl.fielddiff import field_changes, show_change
from journeyctl.liquid_env import used_snippets
from journeyctl.state.base import Snapshot
from journeyctl.yamlload import Doc

SCHEMA_VERSION = 2  # 2: changed fields carry their old and new values
JOURNEY_KEYS = ("name", "description", "status", "trigger", "audience", "entry", "goal",
                "exit_on", "caps", "max_delay", "migrate")


def canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def content_hash(content: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical(content).encode()).hexdigest()


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


def make_plan(want: Desired, state: Snapshot, state_path: str, state_file: str = "",
              state_url: str | None = None) -> dict[str, Any]:
    """`state_path` names the state in messages, `state_file` is where it is, `state_url` the
    --state it was given by (None: the project's `state:`), for the commands a plan's hints
    give."""
    changes = [_change(jid, want.journeys.get(jid), state) for jid in
               sorted(set(want.journeys) | {j for j, a in state.journeys.items()
                                            if a.status != "deleted"})]
    settings_hash = content_hash(want.settings)
    settings = {
        "action": "no-op" if settings_hash == state.settings_hash else (
            "update" if state.settings_hash else "create"),
        "from_version": state.settings_version or None,
        "to_version": state.settings_version + 1,
        "hash": settings_hash,
        "changed": field_changes(state.settings, want.settings) if state.settings else [],
        "content": want.settings,
    }
    summary = {action: sum(1 for c in changes if c["action"] == action)
               for action in ("create", "update", "delete", "no-op")}
    return {
        "schema_version": SCHEMA_VERSION,
        "project": want.project,
        "state": {"path": state_path, "file": state_file, "lineage": state.lineage,
                  "serial": state.serial, "url": state_url},
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "changes": changes,
        "settings": settings,
        "summary": summary,
        "has_changes": bool(summary["create"] or summary["update"] or summary["delete"]
                            or settings["action"] != "no-op"),
    }


def _change(journey_id: str, want: dict[str, Any] | None, state: Snapshot) -> dict[str, Any]:
    applied = state.journeys.get(journey_id)
    current = applied if applied is not None and applied.status != "deleted" else None
    base = {"journey": journey_id, "from_version": current.version if current else None,
            "to_version": (applied.version + 1) if applied else 1}
    if want is None:
        assert current is not None
        return {**base, "action": "delete", "hash": current.hash,
                "content": dict(current.content),
                "inflight": _groups(journey_id, state, None, None)}
    digest = content_hash(want)
    if current is None:
        return {**base, "action": "create", "hash": digest, "content": want, "inflight": []}
    if digest == current.hash:
        return {**base, "action": "no-op", "to_version": current.version, "hash": digest,
                "inflight": []}
    diff = journey_diff(current.content, want)
    return {**base, "action": "update", "hash": digest, "diff": diff, "content": want,
            "inflight": _groups(journey_id, state, diff, want)}


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
            want: Mapping[str, Any] | None) -> list[dict[str, Any]]:
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
        groups.append({
            "version": version, "step": step, "count": count, "removed": removed,
            "goes_to": {"version": applied.version + 1 if applied else 1, "step": target}
            if target else None,
        })
    return groups


# --- plan files ------------------------------------------------------------------------------


def seal(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan with a checksum over everything else, for `--out`."""
    body = {k: v for k, v in plan.items() if k != "checksum"}
    return {**body, "checksum": content_hash(body)}


def is_plan_file(document: Any) -> bool:
    """Whether a JSON document was written by `plan --out` (of any format; maybe edited since)."""
    return isinstance(document, dict) and "checksum" in document


def unseal(document: Any) -> dict[str, Any] | str:
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
    return body if version == SCHEMA_VERSION else _from_format_1(body)


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


_INT, _STR, _BOOL = {"type": "integer"}, {"type": "string"}, {"type": "boolean"}
_STRS = {"type": "array", "items": _STR}
_ACTIONS = ["create", "update", "delete", "no-op"]


def _record(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": [k for k in properties if k not in optional]}


def _plan_shape(field: dict[str, Any]) -> dict[str, Any]:
    """What `apply` and the renderers read of a plan (`field`: a changed field): a file that
    passes its checksum is still checked against it, so that a hand-made plan is refused with
    a message, not a crash."""
    fields = {"type": "array", "items": field}
    # templates and snippets: names, and the changed fields of the changed ones (a plan saved
    # before they were recorded has no `fields`: its changes are shown by name)
    named = _record({"added": _STRS, "removed": _STRS, "changed": _STRS,
                     "fields": {"type": "object", "additionalProperties": fields}},
                    optional=("fields",))
    return _record({
        "schema_version": _INT,
        "project": _STR,
        "state": _record({"path": _STR, "file": _STR, "lineage": _STR, "serial": _INT,
                          "url": {"type": ["string", "null"]}}, optional=("url",)),
        "created_at": _STR,
        "changes": {"type": "array", "items": {
            **_record({
                "journey": _STR, "action": {"enum": _ACTIONS},
                "from_version": {"type": ["integer", "null"]}, "to_version": _INT, "hash": _STR,
                "content": _record({"journey": {"type": "object"},
                                    "templates": {"type": "object"},
                                    "snippets": {"type": "object",
                                                 "additionalProperties": _STR}},
                                   optional=("templates", "snippets")),
                "diff": _record({
                    "steps": _record({"added": _STRS, "removed": _STRS, "reordered": _BOOL,
                                      "changed": {"type": "array", "items": _record(
                                          {"step": _STR, "fields": fields})}}),
                    "journey": fields,
                    "templates": named,
                    "snippets": named,
                }, optional=("snippets",)),
                "inflight": {"type": "array", "items": _record({
                    "version": _INT, "step": {"type": ["string", "null"]}, "count": _INT,
                    "removed": _BOOL,
                    "goes_to": {"anyOf": [{"type": "null"},
                                          _record({"version": _INT, "step": _STR})]},
                })},
            }, optional=("content", "diff", "inflight")),
            "if": {"properties": {"action": {"const": "no-op"}}},
            "else": {"required": ["content"]},
        }},
        "settings": _record({
            "action": {"enum": _ACTIONS}, "from_version": {"type": ["integer", "null"]},
            "to_version": _INT, "hash": _STR, "changed": fields,
            "content": {"type": "object"},
        }),
        "summary": _record({action: _INT for action in _ACTIONS}),
        "has_changes": _BOOL,
        "source": _record({"root": _STR, "commit": {"type": ["string", "null"]},
                           "author": {"type": ["string", "null"]}, "dirty": _BOOL}),
    }, optional=("source",))


# A changed field: its path, and its old and new values where it had them.
_FIELD = {**_record({"path": _STR, "old": {}, "new": {}}, optional=("old", "new")),
          "additionalProperties": False}
PLAN_SHAPES = {1: _plan_shape(_STR), SCHEMA_VERSION: _plan_shape(_FIELD)}


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


def lines(plan: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(style, text) lines: the plan as people read it, for text and markdown."""
    state = plan["state"]
    yield "", (f"Plan for {plan['project']} against {state['path']} (serial {state['serial']})"
               + (", a new state" if not state["lineage"] else "") + ":")
    yield "", ""
    yield from _body(plan)
    summary = plan["summary"]
    if not plan["has_changes"]:
        yield "", "No changes: the state matches the files."
        return
    yield "", ""
    yield "bold", (f"Plan: {summary['create']} to create, {summary['update']} to update, "
                   f"{summary['delete']} to delete, {summary['no-op']} unchanged.")


def _body(plan: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The changes: journeys, then the project settings."""
    for change in plan["changes"]:
        if change["action"] == "no-op":
            continue
        yield from _change_lines(change)
    settings = plan["settings"]
    action = settings["action"]
    if action == "no-op":
        return
    head = f"{SYMBOL[action]} project settings (v{settings['to_version']})"
    if action != "update" or not settings["changed"]:
        yield action, f"{head}: settings, catalog and channels"
        return
    yield action, head
    for field in settings["changed"]:
        yield "update", f"      ~ {show_change(field)}"


def _change_lines(change: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    action = change["action"]
    versions = (f"v{change['from_version']} → v{change['to_version']}" if action == "update"
                else f"v{change['to_version']}" if action == "create"
                else f"v{change['from_version']}")
    yield action, f"{SYMBOL[action]} {action} journey {change['journey']} ({versions})"
    diff = change.get("diff")
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
    for group in change.get("inflight", []):
        who = f"{group['count']} in flight at {group['step']} (v{group['version']})"
        if group["goes_to"]:
            target = group["goes_to"]
            yield "", f"      → {who}: move to v{target['version']} at {target['step']} (migrate)"
        elif group["removed"]:
            yield "warning", (f"      ! {who}: the step is removed; they finish on "
                              f"v{group['version']} (add `migrate: {{{group['step']}: ...}}` to "
                              "move them)")
        else:
            yield "", f"      · {who}: they finish on v{group['version']}"


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


def to_text(plan: Mapping[str, Any]) -> list[tuple[str, str]]:
    return list(lines(plan))


def to_markdown(plan: Mapping[str, Any]) -> str:
    """For a pull-request comment: a summary line and the changes in a diff block."""
    summary = plan["summary"]
    head = (f"### journeyctl plan: `{plan['project']}`\n\n"
            f"**{summary['create']}** to create, **{summary['update']}** to update, "
            f"**{summary['delete']}** to delete, {summary['no-op']} unchanged"
            f" (state serial {plan['state']['serial']}).\n")
    if not plan["has_changes"]:
        return head + "\nNo changes: the state matches the files.\n"
    diff = "\n".join(f"{DIFF_MARK.get(style, ' ')} {text}" for style, text in _body(plan))
    return head + "\n```diff\n" + diff.rstrip() + "\n```\n"


# Markdown `diff` highlighting keys on a line's first character: + green, - red, ! orange.
DIFF_MARK = {"create": "+", "delete": "-", "update": "!", "warning": "!"}
