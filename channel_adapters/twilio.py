"""Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json, Basic auth.

The body is form-encoded (`To`, `From` and/or `MessagingServiceSid`, `Body`); success is 201 JSON
with the message `sid`; errors are JSON `{"code", "message", "more_info", "status"}`.
"""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from channel_adapters.base import HttpRequest, Kind, Message, Provider, Reply
from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="twilio",
    kind="sms",
    description="SMS through Twilio's Messages API",
    credentials=("account_sid", "auth_token"),
    default_base_url="https://api.twilio.com",
    settings={
        "from": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$",
                 "description": "sender number in E.164 form"},
        "messaging_service_sid": {"type": "string", "pattern": "^MG[0-9a-fA-F]{32}$"},
    },
    one_of_settings=("from", "messaging_service_sid"),
    template_fields={"text": TemplateFieldSpec(required=True, description="message body")},
)

TOO_MANY_REQUESTS = 20429  # Twilio's code for "too many concurrent requests": safe to retry


class Twilio(Provider):
    def request(self, message: Message) -> HttpRequest:
        sid = self.config.credentials["account_sid"]
        form = {"To": message.to or "", "Body": message.content["text"]}
        # Twilio takes a Messaging Service instead of, or in addition to, a sender number.
        if self.config.setting("from"):
            form["From"] = self.config.setting("from")
        if self.config.setting("messaging_service_sid"):
            form["MessagingServiceSid"] = self.config.setting("messaging_service_sid")
        pair = f"{sid}:{self.config.credentials['auth_token']}".encode()
        headers = {"Authorization": f"Basic {base64.b64encode(pair).decode()}",
                   "Content-Type": "application/x-www-form-urlencoded"}
        url = self.endpoint(f"/2010-04-01/Accounts/{quote(sid, safe='')}/Messages.json")
        return HttpRequest(url, headers, urlencode(form).encode())

    def message_id(self, reply: Reply) -> str | None:
        data = reply.json()
        return str(data["sid"]) if isinstance(data, dict) and data.get("sid") else None

    def error_text(self, reply: Reply) -> str:
        data = reply.json()
        if isinstance(data, dict) and "message" in data:
            return f"{data.get('code', '?')}: {data['message']}"
        return super().error_text(reply)

    def kind(self, reply: Reply) -> Kind:
        data = reply.json() if reply.status >= 400 else None
        if isinstance(data, dict) and data.get("code") == TOO_MANY_REQUESTS:
            return "retryable"
        return super().kind(reply)
