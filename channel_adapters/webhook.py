"""Generic JSON webhook, signed with HMAC-SHA256 over the timestamp and the body.

The body is the whole message as JSON. Headers: `Idempotency-Key` (the same on every attempt),
`X-Journeyctl-Timestamp` (Unix seconds, fresh on every attempt) and the signature header
(`signature_header`, default `X-Journeyctl-Signature`) = `v1=` + hex HMAC-SHA256(secret,
f"{timestamp}.{body}"). docs/adapters.md shows how a receiver verifies it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from channel_adapters.base import Config, HttpRequest, Message, Provider, Reply, json_body
from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

DEFAULT_SIGNATURE_HEADER = "X-Journeyctl-Signature"

SPEC = AdapterSpec(
    name="webhook",
    kind="webhook",
    description="A signed JSON POST of the whole message to your own endpoint",
    credentials=("secret",),
    settings={
        "signature_header": {"type": "string", "default": DEFAULT_SIGNATURE_HEADER},
    },
    required_settings=("base_url",),
    template_fields={"body": TemplateFieldSpec(required=True, kind="json",
                                               description="payload (Liquid strings)")},
)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 of `{timestamp}.{body}` with the shared secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


class Webhook(Provider):
    needs_address = False

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config)
        self.clock = clock

    def request(self, message: Message) -> HttpRequest:
        body = json_body({
            "user_id": message.user_id, "journey": message.journey, "step": message.step,
            "channel": message.channel, "template": message.template,
            "category": message.category, "variant": message.variant,
            "idempotency_key": message.idempotency_key, "to": message.to,
            "content": message.content,
        })
        timestamp = str(int(self.clock()))
        header = self.config.setting("signature_header", DEFAULT_SIGNATURE_HEADER)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.idempotency_key,
            "X-Journeyctl-Timestamp": timestamp,
            header: signature(self.config.credentials["secret"], timestamp, body),
        }
        return HttpRequest(self.config.base_url, headers, body)

    def message_id(self, reply: Reply) -> str | None:
        """A receiver may answer `{"id": ...}`; any other success body is fine too."""
        data = reply.json()
        return str(data["id"]) if isinstance(data, dict) and data.get("id") else None
