"""What an adapter declares about itself: its settings, credentials and template fields.

`journeyctl validate` reads these declarations (never the sending code) to check channels and
templates, and `schema/channels.schema.json` is generated from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

FieldKind = Literal["text", "map", "json"]


@dataclass(frozen=True)
class TemplateFieldSpec:
    required: bool = False
    kind: FieldKind = "text"  # text: one Liquid string; map: string -> Liquid string; json: any
    description: str = ""
    html: bool = False  # the provider shows it as HTML: values are escaped when it renders


@dataclass(frozen=True)
class AdapterSpec:
    name: str
    kind: str  # email, sms, push, chat, webhook: what compliance rules look at
    description: str
    credentials: tuple[str, ...]  # required credential names, each given as env:NAME
    template_fields: dict[str, TemplateFieldSpec]
    settings: dict[str, Any] = field(default_factory=dict)  # JSON Schema properties
    required_settings: tuple[str, ...] = ()
    default_base_url: str | None = None
    one_of_fields: tuple[str, ...] = ()  # at least one of these template fields is needed
    one_of_settings: tuple[str, ...] = ()  # at least one of these settings is needed

    def html_fields(self) -> frozenset[str]:
        """The template fields the provider shows as HTML: their values render escaped."""
        return frozenset(name for name, spec in self.template_fields.items() if spec.html)

    def settings_schema(self) -> dict[str, Any]:
        """The JSON Schema `then` branch for channels using this adapter."""
        schema: dict[str, Any] = {"properties": dict(self.settings)}
        required = list(self.required_settings)
        if self.credentials:
            schema["properties"]["credentials"] = {
                "required": list(self.credentials),
                "properties": {name: {"$ref": "#/$defs/env_ref"} for name in self.credentials},
            }
            required.append("credentials")
        if required:
            schema["required"] = required
        if self.one_of_settings:
            schema["anyOf"] = [{"required": [name]} for name in self.one_of_settings]
        return schema
