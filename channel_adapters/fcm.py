"""Firebase Cloud Messaging HTTP v1: POST /v1/projects/{project_id}/messages:send, Bearer.

The body is `{"message": {"token", "notification": {"title", "body"}, "data"}}`; success is 200
JSON `{"name": "projects/.../messages/..."}`; errors are JSON `{"error": {"code", "message",
"status"}}` (429 `RESOURCE_EXHAUSTED` when over quota).
"""

from __future__ import annotations

from urllib.parse import quote

from channel_adapters.base import (
    HttpRequest,
    Message,
    Provider,
    Reply,
    json_body,
    json_headers,
)
from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="fcm",
    kind="push",
    description="Push notifications through Firebase Cloud Messaging (HTTP v1)",
    credentials=("access_token",),
    default_base_url="https://fcm.googleapis.com",
    settings={"project_id": {"type": "string", "minLength": 1}},
    required_settings=("project_id",),
    template_fields={
        "title": TemplateFieldSpec(required=True, description="notification title"),
        "body": TemplateFieldSpec(required=True, description="notification body"),
        "data": TemplateFieldSpec(kind="map", description="string key/value payload"),
    },
)


class Fcm(Provider):
    def request(self, message: Message) -> HttpRequest:
        content = message.content
        payload: dict[str, object] = {
            "token": message.to,
            "notification": {"title": content["title"], "body": content["body"]},
        }
        if content.get("data"):
            # FCM rejects any data value that is not a string.
            payload["data"] = {str(k): str(v) for k, v in content["data"].items()}
        project = quote(str(self.config.setting("project_id")), safe="")
        return HttpRequest(self.endpoint(f"/v1/projects/{project}/messages:send"),
                           json_headers(self.config.credentials["access_token"]),
                           json_body({"message": payload}))

    def message_id(self, reply: Reply) -> str | None:
        data = reply.json()
        return str(data["name"]) if isinstance(data, dict) and data.get("name") else None

    def error_text(self, reply: Reply) -> str:
        data = reply.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and "message" in error:
            return f"{error.get('status', error.get('code', '?'))}: {error['message']}"
        return super().error_text(reply)
