"""The fields where two documents differ, with their old and new values, and those values
shown as the YAML author wrote them (`wait: 6h → 4h`), shortened around what changed."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

ABSENT = "(none)"  # how a field that one side does not have is shown
LIMIT = 50  # characters of one value on a plan line
CONTEXT = 16  # characters kept before the first difference of two long values


def field_changes(old: Any, new: Any, prefix: str = "") -> list[dict[str, Any]]:
    """`[{"path": "send.template", "old": "a", "new": "b"}]`: one entry per changed leaf, a
    side left out where the field is absent. Mappings are compared key by key and lists of the
    same length item by item (`branch.cases[1].when`); anything else is compared whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [change for key in sorted(set(old) | set(new), key=str)
                for change in _keyed(old, new, key, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and prefix:
        return [change for i, (a, b) in enumerate(zip(old, new, strict=True))
                for change in field_changes(a, b, f"{prefix}[{i}]")]
    return [{"path": prefix or "*", "old": old, "new": new}] if old != new else []


def _keyed(old: dict[str, Any], new: dict[str, Any], key: str, path: str
           ) -> list[dict[str, Any]]:
    if key in old and key in new:
        return field_changes(old[key], new[key], path)
    return [{"path": path, "old": old[key]} if key in old else {"path": path, "new": new[key]}]


def show_change(change: Mapping[str, Any]) -> str:
    """`path: old → new`; only `path` for a change whose values were not recorded (a plan
    saved by journeyctl before values were recorded)."""
    if "old" not in change and "new" not in change:
        return change["path"]
    old, new = (show_value(change[side]) if side in change else ABSENT for side in ("old", "new"))
    old, new = _shortened(old, new)
    return f"{change['path']}: {old} → {new}"


def show_value(value: Any) -> str:
    """A value in YAML flow style on one line: `6h`, `{channel: email, template: welcome}`."""
    if isinstance(value, str) and "\n" in value:
        return json.dumps(value, ensure_ascii=False)  # a YAML double-quoted scalar too
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**9,
                          sort_keys=False)
    return re.sub(r"\s*\n\s*", " ", text.removesuffix("\n...\n")).strip()


def _shortened(old: str, new: str) -> tuple[str, str]:
    """Two long values cut to where they first differ, so the change stays in sight."""
    if len(old) <= LIMIT and len(new) <= LIMIT:
        return old, new
    same = len(_common_prefix(old, new)) if old != ABSENT and new != ABSENT else 0
    start = same - CONTEXT if same > LIMIT - CONTEXT else 0  # the difference would be cut off
    return _cut(old, start), _cut(new, start)


def _common_prefix(a: str, b: str) -> str:
    end = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
               min(len(a), len(b)))
    return a[:end]


def _cut(text: str, start: int) -> str:
    if text == ABSENT:
        return text
    head = "…" + text[start + 1:] if start else text
    return head if len(head) <= LIMIT else head[:LIMIT - 1] + "…"
