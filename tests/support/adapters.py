"""Shared by the adapter tests: a fake provider per test, channels and messages to send.

Use the fixture with `fake = pytest.fixture(fake_provider)` in a test module.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator, Mapping
from typing import Any

from channel_adapters import Message, Outcome, adapter_for, deliver
from channel_adapters.fake import FakeProvider
from channel_adapters.transport import fast_client
from journeyctl.diagnostics import Loc
from journeyctl.model import Channel, Duration, FrozenMap, Retry

TWILIO_SID = "AC" + "0123456789abcdef" * 2
ENV = {
    "SG_KEY": "sg-secret-0001",
    "TW_SID": TWILIO_SID,
    "TW_TOKEN": "tw-secret-0002",
    "FCM_TOKEN": "fcm-secret-0003",
    "SLACK_URL": "https://hooks.slack.com/services/T0/B0/slack-secret-0004",
    "HOOK_SECRET": "hook-secret-0005",
    "NCP_ACCESS": "ncp-access-0006",
    "NCP_SECRET": "ncp-secret-0007",
}
SECRETS = [v for k, v in ENV.items() if k not in ("TW_SID", "NCP_ACCESS")]
CREDENTIALS = {
    "sendgrid": {"api_key": "SG_KEY"},
    "twilio": {"account_sid": "TW_SID", "auth_token": "TW_TOKEN"},
    "fcm": {"access_token": "FCM_TOKEN"},
    "slack": {"webhook_url": "SLACK_URL"},
    "webhook": {"secret": "HOOK_SECRET"},
    "sens_alimtalk": {"access_key": "NCP_ACCESS", "secret_key": "NCP_SECRET"},
    "sens_friendtalk": {"access_key": "NCP_ACCESS", "secret_key": "NCP_SECRET"},
}
SENS_SETTINGS = {"service_id": "ncp:kkobizmsg:kr:2751234:acme", "plus_friend_id": "@acme"}
SETTINGS: dict[str, dict[str, Any]] = {
    "sendgrid": {"from": {"email": "no-reply@acme.example", "name": "ACME"}},
    "twilio": {"from": "+15005550006"},
    "fcm": {"project_id": "acme-test"},
    "slack": {},
    "webhook": {},
    "sens_alimtalk": SENS_SETTINGS,
    "sens_friendtalk": SENS_SETTINGS,
}
ADDRESSES = {"sendgrid": "email", "twilio": "phone", "fcm": "push_token", "slack": "",
             "webhook": "", "sens_alimtalk": "phone", "sens_friendtalk": "phone"}


def fake_provider() -> Iterator[FakeProvider]:
    """A fake provider on a free loopback port, in a thread, for one test."""
    with FakeProvider() as server:
        yield server


def make_channel(adapter: str, base_url: str | None, *, attempts: int = 3, backoff: int = 1,
                 max_backoff: int = 60, timeout: int = 5, settings: Mapping[str, Any] | None = None,
                 credentials: Mapping[str, str] | None = None) -> Channel:
    """A channel as channels.yaml would build it, with short waits for tests."""
    return Channel(
        loc=Loc("channels.yaml", 3, 3), name=f"my-{adapter}", adapter=adapter,
        address=ADDRESSES[adapter], base_url=base_url,
        credentials=FrozenMap(credentials or CREDENTIALS[adapter]),
        timeout=Duration(timeout, f"{timeout}s"),
        retry=Retry(attempts, Duration(backoff, f"{backoff}s"),
                    Duration(max_backoff, f"{max_backoff}s")),
        settings=FrozenMap({**SETTINGS[adapter], **(settings or {})}),
    )


def make_message(channel: Channel, content: dict[str, Any], to: str | None = None,
                 key: str = "u-1:cart:1:email_reminder:1") -> Message:
    return Message(user_id="u-1", journey="cart", step="email_reminder", channel=channel.name,
                   template="cart_email", category="promotional", idempotency_key=key, to=to,
                   content=content, variant="ab=coupon")


class Sleeps:
    """An injected `sleep` that records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def send(channel: Channel, message: Message, env: Mapping[str, str] = ENV,
         **policy: Any) -> Outcome:
    """`deliver` one message over a fresh client, the way the daemon and send-test do."""

    async def go() -> Outcome:
        async with fast_client() as client:
            adapter = adapter_for(channel, client, env)
            return await deliver(adapter, message, channel, **policy)

    return asyncio.run(go())


def send_once(channel: Channel, message: Message, env: Mapping[str, str] = ENV) -> Outcome:
    """One attempt, straight through the adapter (no delivery policy)."""

    async def go() -> Outcome:
        async with fast_client() as client:
            return await adapter_for(channel, client, env).send(message)

    return asyncio.run(go())


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
