"""The one adapter implementation: a `Provider`'s request sent with httpx, its reply classified.

Every httpx failure becomes an outcome (connection errors retryable; a URL or protocol the
client cannot even send permanent; the channel's timeout is `delivery.deliver`'s), and every
error text is scrubbed of the channel's credentials before it leaves this module.
"""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus

import httpx

from channel_adapters.base import ERROR_LIMIT, Kind, Message, Outcome, Provider, Reply

REDACTED = "***"
# A piece of a credential a provider or proxy may echo alone (a Slack webhook's path segments):
# runs of these characters longer than this many are redacted on their own too.
PART_LENGTH = 8
_PIECES = re.compile(r"[A-Za-z0-9_-]+")
# Unix times are this large; smaller X-RateLimit-Reset values are seconds from now.
_EPOCH_THRESHOLD = 1_000_000_000
_UNSENDABLE = (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL)


class HttpAdapter:
    """An `Adapter` for one channel: one POST per `send`, never a retry. The channel's timeout
    is `deliver`'s, over the whole exchange: the request itself sets none (not even the
    client's default, which would cut a longer channel timeout short)."""

    def __init__(self, provider: Provider, client: httpx.AsyncClient, secrets: Iterable[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.provider = provider
        self.client = client
        self._secrets = list(secrets)
        self._clock = clock

    async def send(self, message: Message) -> Outcome:
        if self.provider.needs_address and not message.to:
            return Outcome("permanent", None, None, "the message has no address", None)
        request = self.provider.request(message)
        try:
            response = await self.client.post(request.url, content=request.body,
                                              headers=dict(request.headers), timeout=None)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            outcome = transport_outcome(exc)
        else:
            reply = Reply(response.status_code, response.headers, response.content)
            outcome = reply_outcome(self.provider, reply, self._clock())
        return self._scrubbed(outcome, request.headers.get("Authorization"))

    def _scrubbed(self, outcome: Outcome, authorization: str | None) -> Outcome:
        """The outcome without any credential, even one a provider echoed back (encoded as
        the Authorization header carries it, too)."""
        secrets = self._secrets
        if authorization:
            secrets = [authorization.partition(" ")[2], *secrets]
        if outcome.provider_id is not None:  # an id a provider made up may echo one too
            outcome = replace(outcome, provider_id=redact(outcome.provider_id, secrets))
        if outcome.error is None:
            return outcome
        text = redact(outcome.error, secrets)  # before truncating: never half a secret
        if len(text) > ERROR_LIMIT:
            text = text[:ERROR_LIMIT - 1] + "…"
        return replace(outcome, error=text)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, and every long piece of one, replaced by ***."""
    for part in secret_parts(secrets):
        text = text.replace(part, REDACTED)
    return text


def secret_parts(secrets: Iterable[str]) -> list[str]:
    """What to redact, longest first (one may contain another): each secret of 4 characters or
    more, as written and whole as a provider may echo it (percent-encoded, base64), and each
    run of letters, digits, `_` and `-` in it longer than `PART_LENGTH`."""
    # Very short values would blank out half of every message; a real credential is longer.
    whole = {s for s in secrets if len(s) >= 4}
    parts = {form for s in whole for form in _echoed(s)}
    parts |= {piece for s in whole for piece in _PIECES.findall(s) if len(piece) > PART_LENGTH}
    return sorted(parts, key=lambda part: (-len(part), part))


def _echoed(secret: str) -> set[str]:
    """`secret` and the forms a provider or proxy echoes it in: percent-encoded (a URL path, a
    form body) and base64 (a Basic header, a token)."""
    raw = secret.encode()
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret),
            base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode(),
            base64.b64encode(raw).decode().rstrip("=")}


def _short(message_id: str | None) -> str | None:
    """A provider's message id as stored: an id, not a page of text."""
    return message_id if message_id is None or len(message_id) <= 256 else message_id[:256]


def transport_outcome(exc: Exception) -> Outcome:
    """No response: a connection problem is worth retrying, a bad URL is not."""
    kind: Kind = "permanent" if isinstance(exc, _UNSENDABLE) else "retryable"
    detail = str(exc) or "no detail"
    return Outcome(kind, None, None, f"{type(exc).__name__}: {detail}", None)


def reply_outcome(provider: Provider, reply: Reply, now: float) -> Outcome:
    kind = provider.kind(reply)
    if kind == "accepted":
        return Outcome(kind, reply.status, _short(provider.message_id(reply)), None, None)
    wait = retry_after(reply.headers, now) if kind == "retryable" else None
    error = provider.error_text(reply) or f"HTTP {reply.status} with an empty body"
    return Outcome(kind, reply.status, None, error, wait)


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP-date) or `X-RateLimit-Reset`
    (Unix time or seconds); None when neither is there or readable."""
    value = headers.get("retry-after")
    if value:
        seconds = _number(value)
        if seconds is not None:
            return max(seconds, 0.0)
        try:
            return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
        except (TypeError, ValueError):
            pass
    reset = _number(headers.get("x-ratelimit-reset") or "")
    if reset is None:
        return None
    return max(reset - now if reset >= _EPOCH_THRESHOLD else reset, 0.0)


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # NaN or inf is not a wait
