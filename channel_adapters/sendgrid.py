"""SendGrid v3 Mail Send: POST {base_url}/v3/mail/send with a Bearer API key.

A message with an unsubscribe URL (promotional, the daemon's one-click link: docs/daemon.md)
carries `List-Unsubscribe` and `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058)
in the body's top-level `headers`.

Success is 202 with the message id in the `X-Message-Id` header; errors are JSON
`{"errors": [{"message", "field", "help"}]}`.
"""

from __future__ import annotations

from channel_adapters.base import (
    HttpRequest,
    Message,
    Provider,
    Reply,
    json_body,
    json_headers,
)
from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

_EMAIL = {"type": "string", "format": "email", "minLength": 3}

SPEC = AdapterSpec(
    name="sendgrid",
    kind="email",
    description="Email through SendGrid's v3 Mail Send API",
    credentials=("api_key",),
    default_base_url="https://api.sendgrid.com",
    settings={
        "from": {
            "type": "object",
            "required": ["email"],
            "additionalProperties": False,
            "properties": {"email": _EMAIL, "name": {"type": "string"}},
        },
        "reply_to": {
            "type": "object",
            "required": ["email"],
            "additionalProperties": False,
            "properties": {"email": _EMAIL, "name": {"type": "string"}},
        },
    },
    required_settings=("from",),
    template_fields={
        "subject": TemplateFieldSpec(required=True, description="subject line"),
        "text": TemplateFieldSpec(description="text/plain body"),
        "html": TemplateFieldSpec(description="text/html body", html=True),
    },
    one_of_fields=("text", "html"),
)

# SendGrid wants text/plain before text/html, and rejects an empty part.
_PARTS = (("text", "text/plain"), ("html", "text/html"))


class SendGrid(Provider):
    def request(self, message: Message) -> HttpRequest:
        content = message.content
        body: dict[str, object] = {
            "personalizations": [{"to": [{"email": message.to}]}],
            "from": dict(self.config.setting("from")),
            "subject": content["subject"],
            "content": [{"type": mime, "value": content[name]} for name, mime in _PARTS
                        if str(content.get(name) or "").strip()],
        }
        reply_to = self.config.setting("reply_to")
        if reply_to:
            body["reply_to"] = dict(reply_to)
        if message.unsubscribe_url:
            body["headers"] = {"List-Unsubscribe": f"<{message.unsubscribe_url}>",
                               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
        return HttpRequest(self.endpoint("/v3/mail/send"),
                           json_headers(self.config.credentials["api_key"]), json_body(body))

    def message_id(self, reply: Reply) -> str | None:
        return reply.headers.get("x-message-id")

    def error_text(self, reply: Reply) -> str:
        data = reply.json()
        errors = data.get("errors") if isinstance(data, dict) else None
        if not isinstance(errors, list) or not errors:
            return super().error_text(reply)
        return "; ".join(_describe(error) for error in errors)


def _describe(error: object) -> str:
    if not isinstance(error, dict):
        return str(error)
    message = str(error.get("message", ""))
    return f"{error['field']}: {message}" if error.get("field") else message
