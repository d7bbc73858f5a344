"""Which variables an expression or template may use, and whether a path exists in the catalog.

CEL conditions and Liquid templates share one notion of scope (SPEC §2, §4): `profile` (the
catalog's profile attributes), `entry` (the properties of the event that started the journey),
`event` (the latest matched event: which events that can be depends on where the expression
sits), `journey` (id, version, entered_at), plus `now` in CEL and `message` in templates.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from journeyctl.model import Attr, Catalog

JOURNEY_FIELDS = ("id", "version", "entered_at")
MESSAGE_FIELDS = ("variant", "variants", "channel", "template", "step", "category")


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Scope:
    catalog: Catalog
    roots: frozenset[str]
    events: tuple[str, ...] | None  # what `event` may be; None: no event here
    entry: tuple[str, ...]  # the trigger's events (empty for inactive/schedule triggers)
    where: str  # for messages: "in the trigger's `where`"
    # Roots whose shape a part that failed to load hides (a broken trigger hides `entry`):
    # their paths are not checked, so a real error is not followed by made-up ones.
    unknown: frozenset[str] = frozenset()


def check_path(scope: Scope, root: str, fields: Sequence[str | int]) -> Problem | None:
    """None when `root.fields...` can exist in `scope`, else what is wrong with it."""
    if root not in scope.roots:
        close = difflib.get_close_matches(root, sorted(scope.roots), n=1)
        known = ", ".join(sorted(scope.roots))
        hint = f"did you mean '{close[0]}'?" if close else f"known: {known}"
        return Problem("JC402", f"unknown variable '{root}' {scope.where}", hint)
    if root in scope.unknown:
        return None
    names = [f for f in fields if isinstance(f, str)]
    if len(names) < len(fields):  # an index or a computed key: check up to it
        names = names[: next(i for i, f in enumerate(fields) if not isinstance(f, str))]
    if root == "profile":
        if names and not scope.catalog.loaded("profile", names[0]):
            return None
        return _walk(scope.catalog.profile_attrs, names, "profile", "JC404")
    if root == "event":
        if scope.events is None:
            return Problem("JC402", f"there is no `event` {scope.where}",
                           "use `entry` for the event that started the journey")
        return _event_path(scope, scope.events, names, "event")
    if root == "entry":
        return _event_path(scope, scope.entry, names, "entry")
    if root == "journey":
        return _fixed(names, JOURNEY_FIELDS, "journey")
    if root == "message":
        return _fixed(names[:1], MESSAGE_FIELDS, "message")
    if root == "now" and names:
        return Problem("JC407", "`now` is a timestamp; it has no fields",
                       "call methods instead, e.g. now.getHours()")
    return None


def _event_path(scope: Scope, events: Sequence[str], names: list[str], root: str) -> Problem | None:
    if not names:
        return None
    if not events:
        return Problem("JC403", f"`{root}` has no properties {scope.where}: the journey is not "
                       "started by an event", "inactive and schedule triggers carry no properties")
    problems = []
    for name in events:
        definition = scope.catalog.events.get(name)
        if definition is None:
            return None  # the unknown event is reported on its own
        problem = _walk(definition.properties, names, root, "JC403", f"event '{name}'")
        if problem is None:
            return None
        problems.append(problem)
    return problems[0]


def _walk(attrs: Mapping[str, Attr], names: list[str], root: str, code: str,
          owner: str | None = None) -> Problem | None:
    path = root
    for i, name in enumerate(names):
        attr = attrs.get(name)
        if attr is None:
            close = difflib.get_close_matches(name, list(attrs), n=1)
            hint = f"did you mean '{close[0]}'?" if close else (
                f"known: {', '.join(sorted(attrs))}" if attrs else "the catalog declares none")
            kind = "property" if code == "JC403" else "attribute"
            subject = owner if owner and path == root else path
            return Problem(code, f"{subject} has no {kind} '{name}'",
                           f"{hint} (or add it to events.yaml)")
        path = f"{path}.{name}"
        if attr.type in ("list",) or (attr.type == "object" and attr.fields is None):
            return None
        if attr.type == "object":
            attrs = attr.fields or {}
            continue
        if i < len(names) - 1:
            return Problem(code, f"{path} is a {attr.type}; it has no field '{names[i + 1]}'")
    return None


def _fixed(names: list[str], known: Sequence[str], root: str) -> Problem | None:
    if names and names[0] not in known:
        close = difflib.get_close_matches(names[0], list(known), n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
        return Problem("JC407", f"`{root}` has no field '{names[0]}'", hint)
    return None
