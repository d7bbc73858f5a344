"""The adapter interface: a rendered `Message` goes in, an `Outcome` comes out.

Provider modules only describe their API (`Provider`: the request for a message, what a reply
means); `channel_adapters.http_adapter` does the I/O. Nothing here imports httpx, so `validate`
can load the registry without paying for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import orjson

from journeyctl.model import Category, Channel

Kind = Literal["accepted", "retryable", "permanent"]
ERROR_LIMIT = 500  # characters of a provider's error text kept in an outcome


@dataclass(frozen=True)
class Message:
    """One rendered message, ready to send."""

    user_id: str
    journey: str
    step: str
    channel: str  # the channel's name in channels.yaml
    template: str
    category: Category
    idempotency_key: str
    to: str | None  # the address from the profile (None for slack and webhook channels)
    content: dict[str, Any]  # the rendered template fields
    variant: str | None = None
    # RFC 8058 one-click unsubscribe URL: promotional messages on adapters that send it as a
    # header (SendGrid), when the daemon has a public URL and a secret (docs/daemon.md)
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one send: accepted, worth retrying, or failed for good."""

    kind: Kind
    status: int | None  # the HTTP status when there was a response
    provider_id: str | None  # the provider's message id when accepted
    error: str | None  # the provider's error text or the exception summary, never a credential
    retry_after: float | None  # seconds the provider asked us to wait
    attempts: int = 1

    @property
    def accepted(self) -> bool:
        return self.kind == "accepted"


class Adapter(Protocol):
    async def send(self, message: Message) -> Outcome:
        """One attempt, no retry: the delivery policy (`deliver`) decides what comes next."""
        ...


@dataclass(frozen=True)
class HttpRequest:
    """The POST a provider wants for a message (headers include the credentials)."""

    url: str
    headers: Mapping[str, str] = field(repr=False)
    body: bytes


@dataclass(frozen=True)
class Reply:
    """A provider's HTTP answer, independent of the HTTP client."""

    status: int
    headers: Mapping[str, str]  # read with lower-case names (httpx's are case-insensitive)
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (a proxy's HTML page, plain `ok`)."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


@dataclass(frozen=True)
class Config:
    """What an adapter is built from: the channel, its endpoint and its credential values."""

    channel: Channel
    base_url: str
    credentials: Mapping[str, str] = field(repr=False)

    def setting(self, name: str, default: Any = None) -> Any:
        return self.channel.settings.get(name, default)


def kind_for_status(status: int) -> Kind:
    """2xx accepted; 408, 429 and 5xx retryable; anything else (4xx, a redirect) permanent."""
    if 200 <= status < 300:
        return "accepted"
    if status in (408, 429) or status >= 500:
        return "retryable"
    return "permanent"


class Provider(ABC):
    """One provider's API: the request for a message and the meaning of its replies."""

    needs_address = True  # False for channels that post to one fixed place (slack, webhook)

    def __init__(self, config: Config) -> None:
        self.config = config

    def endpoint(self, path: str) -> str:
        """`path` below the channel's base URL."""
        return self.config.base_url.rstrip("/") + path

    @abstractmethod
    def request(self, message: Message) -> HttpRequest:
        """The HTTP request that sends `message`."""

    def message_id(self, reply: Reply) -> str | None:
        """The provider's id for an accepted message, when it gives one."""
        return None

    def error_text(self, reply: Reply) -> str:
        """The provider's explanation of a failure (its own words, as short as it allows)."""
        return reply.text.strip()

    def kind(self, reply: Reply) -> Kind:
        return kind_for_status(reply.status)


def json_body(value: Any) -> bytes:
    return orjson.dumps(value)


def json_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
