"""What the fake provider answers: each provider's replies to well-formed and broken
requests (status codes, ids, error bodies in each provider's format), and the request and
response values the server (`channel_adapters.fake`) records and plays."""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import orjson

from channel_adapters import sens
from channel_adapters.webhook import DEFAULT_SIGNATURE_HEADER, signature

_TWILIO = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
_FCM = re.compile(r"/v1/projects/([^/]+)/messages:send")
_SENS = re.compile(r"/(alimtalk|friendtalk)/v2/services/([^/]+)/messages")
SENS_MAX_MESSAGES = 100  # per request, as SENS documents


@dataclass(frozen=True)
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    received_at: float = 0.0  # time.time() when the body had arrived (latency benchmarks)
    status: int = 0  # the status it was answered with

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return orjson.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.text, keep_blank_values=True))


@dataclass(frozen=True)
class Response:
    """An answer to play: a body (bytes, text, or a value sent as JSON), headers, a delay."""

    status: int = 200
    body: bytes | str | Mapping[str, Any] | list[Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (beyond the client's timeout: a slow provider)

    def encode(self, keep_alive: bool) -> bytes:
        body, content_type = _payload(self.body)
        headers = {"Content-Type": content_type} if "content-type" not in _lower(self.headers) \
            else {}
        headers.update(self.headers)
        headers["Content-Length"] = str(len(body))
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        lines = [f"HTTP/1.1 {self.status} {phrase(self.status)}",
                 *(f"{k}: {v}" for k, v in headers.items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

def answer(request: Recorded, webhook_secret: str | None = None,
           sens_keys: Mapping[str, str] | None = None) -> Response:
    """What the real provider at this path would answer to a well-formed or broken request.
    `sens_keys` (access key -> secret key): the NCP keys SENS signatures are checked against;
    without them a SENS request only needs the three signing headers."""
    if request.method != "POST":
        return Response(405, "method not allowed")
    if match := _SENS.fullmatch(request.path):
        return _sens(request, match[1], sens_keys)
    if request.path == "/v3/mail/send":
        return _sendgrid(request)
    if match := _TWILIO.fullmatch(request.path):
        return _twilio(request, match[1])
    if match := _FCM.fullmatch(request.path):
        return _fcm(request, match[1])
    if request.path.startswith("/services/"):
        return _slack(request)
    return _webhook(request, webhook_secret)


# --- the providers ----------------------------------------------------------------------------


def _sendgrid(request: Recorded) -> Response:
    if not _bearer(request):
        return _sendgrid_errors(401, [(None, "The provided authorization grant is invalid, "
                                             "expired, or revoked")])
    data = request_json(request)
    problems: list[tuple[str | None, str]] = (
        _sendgrid_problems(data) if isinstance(data, dict) else [(None, "Bad Request")])
    if problems:
        return _sendgrid_errors(400, problems)
    return Response(202, b"", {"X-Message-Id": uuid.uuid4().hex[:22]})


def _sendgrid_problems(data: dict[str, Any]) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    people = data.get("personalizations")
    if not (isinstance(people, list) and people
            and all(isinstance(p, dict) and p.get("to") for p in people)):
        problems.append(("personalizations", "at least one personalization with a `to` is "
                                             "required"))
    sender = data.get("from")
    if not (isinstance(sender, dict) and sender.get("email")):
        problems.append(("from.email", "the from object with an email is required"))
    if not data.get("subject"):
        problems.append(("subject", "the subject is required"))
    content = data.get("content")
    if not (isinstance(content, list) and content
            and all(isinstance(c, dict) and c.get("type") and c.get("value") for c in content)):
        problems.append(("content", "content needs at least one part with a type and a "
                                    "non-empty value"))
    headers = data.get("headers")  # kept as sent (recorded): List-Unsubscribe, RFC 8058
    if headers is not None and not (isinstance(headers, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
        problems.append(("headers", "headers must be an object of strings"))
    return problems


def _sendgrid_errors(status: int, problems: list[tuple[str | None, str]]) -> Response:
    errors = [{"message": message, "field": name, "help": None} for name, message in problems]
    return Response(status, {"errors": errors})


def _twilio(request: Recorded, account_sid: str) -> Response:
    if _basic_user(request) != account_sid:
        return _twilio_error(401, 20003, "Authenticate")
    form = request.form()
    if not form.get("To"):
        return _twilio_error(400, 21604, "A 'To' phone number is required.")
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return _twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is "
                                         "required to send a message")
    if not form.get("Body"):
        return _twilio_error(400, 21602, "Message body is required.")
    sid = "SM" + uuid.uuid4().hex
    return Response(201, {
        "sid": sid, "account_sid": account_sid, "to": form["To"], "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"), "body": form["Body"],
        "status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
    })


def _twilio_error(status: int, code: int, message: str) -> Response:
    return Response(status, {"code": code, "message": message, "status": status,
                             "more_info": f"https://www.twilio.com/docs/errors/{code}"})


def _fcm(request: Recorded, project: str) -> Response:
    if not _bearer(request):
        return _fcm_error(401, "UNAUTHENTICATED",
                          "Request is missing required authentication credential.")
    data = request_json(request)
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or not message.get("token"):
        return _fcm_error(400, "INVALID_ARGUMENT", "Recipient of the message is not set.")
    payload = message.get("data", {})
    if not isinstance(payload, dict) or not all(isinstance(v, str) for v in payload.values()):
        return _fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': "
                                                   "values must be strings")
    return Response(200, {"name": f"projects/{project}/messages/0:{uuid.uuid4().hex}"})


def _fcm_error(status: int, name: str, message: str) -> Response:
    return Response(status, {"error": {"code": status, "message": message, "status": name}})


def _slack(request: Recorded) -> Response:
    data = request_json(request)
    if not isinstance(data, dict) or not (data.get("text") or data.get("blocks")):
        return Response(400, "invalid_payload", {"Content-Type": "text/html"})
    return Response(200, "ok", {"Content-Type": "text/html"})


def _webhook(request: Recorded, secret: str | None) -> Response:
    if secret is not None:
        timestamp = request.headers.get("x-journeyctl-timestamp", "")
        given = request.headers.get(DEFAULT_SIGNATURE_HEADER.lower(), "")
        if given != signature(secret, timestamp, request.body):
            return Response(401, {"error": "bad signature"})
    if not isinstance(request_json(request), dict):
        return Response(400, {"error": "the body is not a JSON object"})
    return Response(200, {"id": f"wh_{uuid.uuid4().hex[:16]}"})


def _sens(request: Recorded, api: str, keys: Mapping[str, str] | None) -> Response:
    if not _sens_signed(request, keys):
        return Response(401, {"error": {"errorCode": "200", "message": "Authentication Failed",
                                        "details": "Invalid authentication information."}})
    data = request_json(request)
    problem = _sens_problem(data, api)
    if problem is not None:
        return Response(400, {"statusCode": "400", "statusName": "fail",
                              "errorMessage": problem})
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return Response(202, {
        "requestId": f"RSSA-{uuid.uuid4().hex[:20]}", "requestTime": now,
        "statusCode": "202", "statusName": "success",
        "messages": [{"messageId": str(uuid.uuid4()), "countryCode": m.get("countryCode", "82"),
                      "to": m["to"], "content": m["content"], "requestStatusCode": "A000",
                      "requestStatusName": "success", "requestStatusDesc": "성공",
                      "useSmsFailover": False} for m in data["messages"]]})


def _sens_signed(request: Recorded, keys: Mapping[str, str] | None) -> bool:
    headers = request.headers
    timestamp = headers.get("x-ncp-apigw-timestamp", "")
    access_key = headers.get("x-ncp-iam-access-key", "")
    given = headers.get("x-ncp-apigw-signature-v2", "")
    if not (timestamp.isdigit() and access_key and given):
        return False
    if keys is None:
        return True
    secret = keys.get(access_key)
    uri = request.path + (f"?{request.query}" if request.query else "")
    return secret is not None and hmac.compare_digest(
        given, sens.signature(secret, request.method, uri, timestamp, access_key))


def _sens_problem(data: Any, api: str) -> str | None:
    if not isinstance(data, dict):
        return "the body is not a JSON object"
    if not data.get("plusFriendId"):
        return "plusFriendId is required"
    if api == "alimtalk" and not data.get("templateCode"):
        return "templateCode is required"
    messages = data.get("messages")
    if not isinstance(messages, list) or not 1 <= len(messages) <= SENS_MAX_MESSAGES:
        return f"messages must hold 1 to {SENS_MAX_MESSAGES} messages"
    for message in messages:
        if not (isinstance(message, dict) and message.get("to") and message.get("content")):
            return "each message needs `to` and `content`"
    return None


# --- HTTP plumbing ----------------------------------------------------------------------------


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _payload(body: bytes | str | Mapping[str, Any] | list[Any]) -> tuple[bytes, str]:
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return orjson.dumps(body), "application/json"


def _lower(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers}


def request_json(request: Recorded) -> Any:
    try:
        return request.json()
    except orjson.JSONDecodeError:
        return None


def _bearer(request: Recorded) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return scheme == "Bearer" and bool(token.strip())


def _basic_user(request: Recorded) -> str | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme != "Basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user if password else None


def summary(request: Recorded) -> str:
    """Who a logged request is for and what it says, so a demo shows the message arrive."""
    try:
        if request.path == "/v3/mail/send":
            data = request.json()
            to = data["personalizations"][0]["to"][0]["email"]
            unsubscribe = " list-unsubscribe=one-click" if "List-Unsubscribe-Post" in (
                data.get("headers") or {}) else ""
            return f"  to={to} subject={_short(data.get('subject'))}{unsubscribe}"
        if _TWILIO.fullmatch(request.path):
            form = request.form()
            return f"  to={form.get('To')} body={_short(form.get('Body'))}"
        if _SENS.fullmatch(request.path):
            data = request.json()
            first = data["messages"][0]
            code = f" template={data['templateCode']}" if data.get("templateCode") else ""
            return f"  to={first.get('to')}{code} content={_short(first.get('content'))}"
        if _FCM.fullmatch(request.path):
            message = request.json()["message"]
            notification = message.get("notification", {})
            return f"  token={message.get('token')} title={_short(notification.get('title'))}"
        data = request.json()
        if request.path.startswith("/services/"):
            return f"  text={_short(data.get('text'))}"
        return f"  key={request.headers.get('idempotency-key')}"
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def _short(text: Any, limit: int = 60) -> str:
    flat = " ".join(str(text).split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")

