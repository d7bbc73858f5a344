"""One-click unsubscribe (RFC 8058): signed per-user, per-channel tokens, and the links that
carry them (docs/daemon.md, "One-click unsubscribe").

A token is `v1.<payload>.<mac>`: `payload` the URL-safe base64 (no padding) of the JSON array
`[user_id, channel]`, `mac` that of HMAC-SHA256 over `v1.<payload>` keyed by the secret in
JOURNEYCTL_UNSUBSCRIBE_SECRET. Nothing but the secret makes a valid one, so a token can be
neither forged nor enumerated; the version prefix lets the format change (an unknown prefix is
refused). Every refusal — malformed, tampered, signed with another secret, for another user or
channel — looks the same to the caller (`verify` answers None), so nothing can be learnt from it.
The secret is never written anywhere (not in a repr, a log line or the state).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
from dataclasses import dataclass, field
from urllib.parse import quote

import orjson

from journeyctl import model as m

SECRET_VARIABLE = "JOURNEYCTL_UNSUBSCRIBE_SECRET"
PUBLIC_URL_VARIABLE = "JOURNEYCTL_PUBLIC_URL"
MIN_SECRET = 32  # characters: `openssl rand -hex 32` gives 64
VERSION = "v1"
MAX_TOKEN = 2048  # characters: a user id of 256 bytes makes about 450
PATH = "/v1/unsubscribe/"
# Adapters whose messages carry List-Unsubscribe headers (the engine reads no adapter registry;
# these are channel_adapters' names).
HEADER_ADAPTERS = frozenset({"sendgrid"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or "=" in text:
        raise ValueError("not unpadded base64")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signer:
    """Signs and checks tokens with one secret (kept out of the repr)."""

    secret: bytes = field(repr=False)

    def token(self, user_id: str, channel: str) -> str:
        payload = _b64(orjson.dumps([user_id, channel]))
        return f"{VERSION}.{payload}.{_b64(self._mac(payload))}"

    def verify(self, token: str) -> tuple[str, str] | None:
        """(user_id, channel) of a token this secret signed; None for anything else."""
        if len(token) > MAX_TOKEN:
            return None
        version, _, rest = token.partition(".")
        payload, _, mac = rest.partition(".")
        if version != VERSION:
            return None
        try:
            given = _unb64(mac)
            ours = self._mac(payload)
            if not hmac.compare_digest(given, ours):
                return None
            value = orjson.loads(_unb64(payload))
        except (ValueError, binascii.Error, orjson.JSONDecodeError):
            return None
        if (type(value) is not list or len(value) != 2
                or not all(type(v) is str and v for v in value)):
            return None
        return value[0], value[1]

    def _mac(self, payload: str) -> bytes:
        return hmac.new(self.secret, f"{VERSION}.{payload}".encode("ascii"),
                        hashlib.sha256).digest()


@dataclass(frozen=True)
class Links:
    """The unsubscribe URL a message carries: `<public_url>/v1/unsubscribe/<token>`."""

    signer: Signer
    public_url: str

    def url(self, user_id: str, channel: str) -> str:
        return (self.public_url.rstrip("/") + PATH
                + quote(self.signer.token(user_id, channel), safe=""))

    def for_message(self, channel: m.Channel, category: str, user_id: str) -> str | None:
        """The URL for a promotional message on a channel whose adapter sends the headers
        (SendGrid); None for every other message (transactional ones never get one)."""
        if category != "promotional" or channel.adapter not in HEADER_ADAPTERS:
            return None
        return self.url(user_id, channel.name)


def event_id(token: str, day: str) -> str:
    """The inbox event id of an unsubscribe through `token` on `day` (YYYY-MM-DD, UTC): a
    repeated POST the same day (a mailbox retrying, a double click) is a duplicate. The token is
    hashed, never stored: it is a capability."""
    return f"unsubscribe:{hashlib.sha256(token.encode()).hexdigest()[:32]}:{day}"


def promotional_header_channels(project: m.Project) -> list[str]:
    """The channels that promotional sends of the project use and whose adapter carries the
    List-Unsubscribe headers (a warning at start when no public URL is set)."""
    found = {option.channel for journey in project.journeys for step in journey.steps
             if isinstance(step.action, m.Send) and step.action.category == "promotional"
             for option in step.action.options}
    return sorted(name for name in found if name in project.channels
                  and project.channels[name].adapter in HEADER_ADAPTERS)


# --- what the HTTP routes answer (journeyctl.daemon.api) ----------------------------------------

REFUSED = "unknown or invalid unsubscribe link"  # the one answer to every bad token
# The pages name no user and load nothing: a token in the URL is not leaked by a Referer, and a
# link scanner or a cache keeps nothing.
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "X-Robots-Tag": "noindex", "Content-Security-Policy":
           "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"}


def inbox_row(token: str, user_id: str, channel: str, now: float, day: str
              ) -> dict[str, object]:
    """The inbox row of a one-click unsubscribe: the built-in event, ingested as POST /v1/events
    ingests one."""
    return {"event_id": event_id(token, day), "user_id": user_id, "event": m.UNSUBSCRIBE,
            "time": now, "properties": {"channel": channel, "source": "one-click"}}


def _page(title: str, body: str) -> str:
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>body{{font-family:sans-serif;max-width:32em;"
            "margin:3em auto;padding:0 1em}button{font-size:1.1em;padding:.4em 1.2em}</style>"
            f"</head><body>{body}</body></html>\n")


def confirm_page(channel: str) -> str:
    """GET: a page asking to confirm, whose form POSTs to the same URL. It changes nothing
    (mail scanners open links)."""
    name = html.escape(channel)
    return _page("Unsubscribe / 수신 거부", (
        f"<h1>Unsubscribe</h1><p>Stop promotional messages on <b>{name}</b>?</p>"
        f"<p lang=\"ko\">{name} 채널의 광고성 메시지 수신을 거부하시겠습니까?</p>"
        "<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" "
        "value=\"One-Click\"><button type=\"submit\">Unsubscribe / 수신 거부</button></form>"))


def done_page(channel: str) -> str:
    name = html.escape(channel)
    return _page("Unsubscribed / 수신 거부 완료", (
        f"<h1>Unsubscribed</h1><p>You will get no more promotional messages on <b>{name}</b>."
        f"</p><p lang=\"ko\">{name} 채널의 광고성 메시지 수신 거부가 처리되었습니다.</p>"))
