"""KakaoTalk through NAVER Cloud SENS: AlimTalk (`sens_alimtalk`, informational messages on a
template Kakao approved) and brand messages (`sens_friendtalk`, the FriendTalk API: advertising).

Both POST JSON to `{base_url}/{alimtalk|friendtalk}/v2/services/{serviceId}/messages`, signed
with the NCP API Gateway scheme: `x-ncp-apigw-timestamp` (Unix milliseconds),
`x-ncp-iam-access-key`, and `x-ncp-apigw-signature-v2` = base64 HMAC-SHA256(secret key,
"POST {path?query}\\n{timestamp}\\n{access key}"). Success is 202 JSON with `requestId`,
`statusCode` "202" and `statusName`; a gateway refusal is JSON `{"error": {"errorCode",
"message", "details"}}`. docs/adapters.md cites the documentation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from channel_adapters.base import Config, HttpRequest, Message, Provider, Reply, json_body
from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

DEFAULT_BASE_URL = "https://sens.apigw.ntruss.com"
KOREA = "+82"
_SETTINGS: dict[str, Any] = {
    "service_id": {"type": "string", "minLength": 1,
                   "description": "the SENS Biz Message service id (ncp:kkobizmsg:...)"},
    "plus_friend_id": {"type": "string", "minLength": 1,
                       "description": "the KakaoTalk channel id (@name), formerly plusFriendId"},
}
_BUTTONS = TemplateFieldSpec(kind="json", description="Kakao buttons ({type, name, linkMobile, "
                                                      "linkPc, ...}), as SENS takes them")

ALIMTALK = AdapterSpec(
    name="sens_alimtalk",
    kind="kakao",
    description="KakaoTalk AlimTalk (informational, on a Kakao-approved template) "
                "through NAVER Cloud SENS",
    credentials=("access_key", "secret_key"),
    default_base_url=DEFAULT_BASE_URL,
    settings=_SETTINGS,
    required_settings=("service_id", "plus_friend_id"),
    template_fields={
        "text": TemplateFieldSpec(required=True, description="the message, as the approved text "
                                  "with each #{slot} filled by one {{ ... }}"),
        "template_code": TemplateFieldSpec(description="the code Kakao approved the template "
                                                       "under"),
        "approved": TemplateFieldSpec(description="the approved text, with #{변수} slots"),
        "buttons": _BUTTONS,
    },
)

FRIENDTALK = AdapterSpec(
    name="sens_friendtalk",
    kind="kakao",
    description="KakaoTalk brand messages (FriendTalk: advertising) through NAVER Cloud SENS",
    credentials=("access_key", "secret_key"),
    default_base_url=DEFAULT_BASE_URL,
    settings=_SETTINGS,
    required_settings=("service_id", "plus_friend_id"),
    template_fields={"text": TemplateFieldSpec(required=True, description="message text"),
                     "buttons": _BUTTONS},
)


def signature(secret_key: str, method: str, uri: str, timestamp: str, access_key: str) -> str:
    """The `x-ncp-apigw-signature-v2` value for a request to `uri` (its path and query)."""
    message = f"{method} {uri}\n{timestamp}\n{access_key}"
    digest = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def recipient(to: str) -> dict[str, str]:
    """`to` as SENS takes it: a Korean number in E.164 (+8210...) becomes 010... with
    countryCode 82; any other address goes as written."""
    if to.startswith(KOREA):
        return {"countryCode": "82", "to": "0" + to[len(KOREA):]}
    return {"to": to}


class _Sens(Provider):
    api = ""  # alimtalk | friendtalk

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        super().__init__(config)
        self.clock = clock

    def request(self, message: Message) -> HttpRequest:
        service = quote(str(self.config.setting("service_id")), safe=":")
        url = self.endpoint(f"/{self.api}/v2/services/{service}/messages")
        parts = urlsplit(url)
        uri = parts.path + (f"?{parts.query}" if parts.query else "")
        timestamp = str(int(self.clock() * 1000))
        access_key = self.config.credentials["access_key"]
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "x-ncp-apigw-timestamp": timestamp,
            "x-ncp-iam-access-key": access_key,
            "x-ncp-apigw-signature-v2": signature(self.config.credentials["secret_key"], "POST",
                                                  uri, timestamp, access_key),
        }
        body = {"plusFriendId": self.config.setting("plus_friend_id"), **self.extra(message),
                "messages": [self.entry(message)]}
        return HttpRequest(url, headers, json_body(body))

    def extra(self, message: Message) -> dict[str, Any]:
        return {}

    def entry(self, message: Message) -> dict[str, Any]:
        entry: dict[str, Any] = {**recipient(message.to or ""),
                                 "content": message.content["text"]}
        if message.content.get("buttons"):
            entry["buttons"] = message.content["buttons"]
        return entry

    def message_id(self, reply: Reply) -> str | None:
        data = reply.json()
        return str(data["requestId"]) if isinstance(data, dict) and data.get("requestId") \
            else None

    def error_text(self, reply: Reply) -> str:
        data = reply.json()
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and "message" in error:
            details = f" ({error['details']})" if error.get("details") else ""
            return f"{error.get('errorCode', '?')}: {error['message']}{details}"
        if isinstance(data, dict) and data.get("errorMessage"):
            return f"{data.get('statusCode', reply.status)}: {data['errorMessage']}"
        return super().error_text(reply)


class AlimTalk(_Sens):
    api = "alimtalk"

    def extra(self, message: Message) -> dict[str, Any]:
        return {"templateCode": message.content["template_code"]}


class FriendTalk(_Sens):
    api = "friendtalk"

    def entry(self, message: Message) -> dict[str, Any]:
        # SENS marks advertising with isAd; Kakao adds its own (광고) label to such messages.
        return {"isAd": "Y" if message.category == "promotional" else "N",
                **super().entry(message)}
