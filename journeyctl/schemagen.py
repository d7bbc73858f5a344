"""Generates schema/channels.schema.json from the adapter registry.

Each adapter declares its own settings; the channels schema is the common channel fields plus,
for each adapter, an `if adapter == X then <its settings>` branch. Run
`python -m journeyctl.schemagen` after changing an adapter; a test checks the file is current.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from channel_adapters import REGISTRY

_COMMON_PROPERTIES: dict[str, Any] = {
    "adapter": {
        "enum": sorted(REGISTRY),
        "description": "the channel_adapters module to use",
        "x-code": "JC702",
    },
    "description": {"type": "string"},
    "base_url": {"type": "string", "pattern": "^https?://", "description": "provider endpoint"},
    "credentials": {
        "type": "object",
        "description": "credential name -> env:VARIABLE (never the secret itself)",
        "additionalProperties": {"$ref": "#/$defs/env_ref"},
    },
    "address": {"type": "string", "description": "profile attribute holding the address"},
    "consent": {"type": "string", "description": "profile attribute that must be true"},
    "timeout": {"$ref": "common.schema.json#/$defs/duration"},
    "retry": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "attempts": {"type": "integer", "minimum": 1, "maximum": 100},
            "backoff": {"$ref": "common.schema.json#/$defs/duration"},
            "max_backoff": {"$ref": "common.schema.json#/$defs/duration"},
        },
    },
    "rate_limit": {
        "type": "string",
        "pattern": r"^[1-9][0-9]*\s*/\s*(s|m|h|d|sec|second|min|minute|hour|day)$",
        "x-code": "JC306",
    },
    "cost": {
        "type": "object",
        "required": ["per_message"],
        "additionalProperties": False,
        "properties": {
            "per_message": {"type": "number", "minimum": 0},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        },
    },
}


def channels_schema() -> dict[str, Any]:
    adapters = [REGISTRY[name] for name in sorted(REGISTRY)]
    channel: dict[str, Any] = {
        "type": "object",
        "required": ["adapter"],
        "properties": dict(_COMMON_PROPERTIES),
        "allOf": [
            {
                "if": {"properties": {"adapter": {"const": spec.name}}, "required": ["adapter"]},
                "then": spec.settings_schema(),
            }
            for spec in adapters
        ],
        "unevaluatedProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "journeyctl channels (channels.yaml)",
        "type": "object",
        "required": ["channels"],
        "additionalProperties": False,
        "properties": {
            "channels": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$"},
                "additionalProperties": {"$ref": "#/$defs/channel"},
            }
        },
        "$defs": {
            "channel": channel,
            "env_ref": {
                "type": "string",
                "pattern": "^env:[A-Za-z_][A-Za-z0-9_]*$",
                "x-code": "JC704",
                "description": "env:NAME - the environment variable holding the secret",
            },
        },
    }


def render() -> str:
    return json.dumps(channels_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    target = Path(__file__).resolve().parent.parent / "schema" / "channels.schema.json"
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
