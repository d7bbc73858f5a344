"""Slack incoming webhooks: POST {"text": ..., "blocks": [...]} to the webhook URL.

The webhook URL is itself the secret (a credential). Success is 200 with the body `ok`; errors
are plain text such as `invalid_payload` or `no_service`; 429 carries `Retry-After`. Slack gives
no message id.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channel_adapters.base import HttpRequest, Message, Provider, json_body
from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="slack",
    kind="chat",
    description="Messages to a Slack channel through an incoming webhook",
    credentials=("webhook_url",),
    template_fields={
        "text": TemplateFieldSpec(required=True, description="message text (mrkdwn)"),
        "blocks": TemplateFieldSpec(kind="json", description="Block Kit blocks"),
    },
)


class Slack(Provider):
    needs_address = False

    def request(self, message: Message) -> HttpRequest:
        body: dict[str, object] = {"text": message.content["text"]}
        if message.content.get("blocks"):
            body["blocks"] = message.content["blocks"]
        return HttpRequest(self.url(), {"Content-Type": "application/json"}, json_body(body))

    def url(self) -> str:
        """The webhook URL; a channel `base_url` replaces its scheme, host and port (a proxy,
        or a fake provider), keeping the path that identifies the webhook."""
        url = self.config.credentials["webhook_url"]
        if not self.config.base_url:
            return url
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.config.base_url.rstrip("/") + path
