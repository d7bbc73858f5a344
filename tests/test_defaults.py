"""Defaults live in one place, the model's dataclasses: `build` takes what a file leaves out
from them, and the `default`s the JSON Schemas show editors must say the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from journeyctl import model as m

SCHEMAS = Path(__file__).resolve().parent.parent / "schema"

# (schema file, JSON pointer of the property) -> the model field that holds its default
DEFAULTS: list[tuple[str, str, type, str]] = [
    ("project", "/properties/timezone", m.Project, "timezone"),
    ("project", "/properties/journeys", m.Project, "journeys_dir"),
    ("project", "/properties/events", m.Project, "events_file"),
    ("project", "/properties/channels", m.Project, "channels_file"),
    ("project", "/properties/templates", m.Project, "templates_dir"),
    ("project", "/properties/snippets", m.Project, "snippets_dir"),
    ("project", "/properties/tests", m.Project, "tests_dir"),
    ("project", "/properties/state", m.Project, "state"),
    ("project", "/properties/retention/properties/events", m.Retention, "events"),
    ("project", "/properties/retention/properties/messages", m.Retention, "messages"),
    ("journey", "/properties/status", m.Journey, "status"),
    ("common", "/$defs/cap/properties/channel", m.Cap, "channel"),
    ("common", "/$defs/quiet_hours/properties/action", m.QuietHours, "action"),
]


def pointer(document: dict[str, Any], path: str) -> Any:
    node: Any = document
    for part in path.strip("/").split("/"):
        node = node[part]
    return node


@pytest.mark.parametrize(("schema", "path", "cls", "name"), DEFAULTS,
                         ids=[f"{s}:{p}" for s, p, _, _ in DEFAULTS])
def test_the_schema_shows_the_model_default(schema: str, path: str, cls: type,
                                            name: str) -> None:
    document = json.loads((SCHEMAS / f"{schema}.schema.json").read_text(encoding="utf-8"))
    shown = pointer(document, path)["default"]
    default = getattr(cls, name)
    assert shown == (default.text if isinstance(default, m.Duration) else default)
