"""The adapter registry: adapter name -> its declaration."""

from __future__ import annotations

from channel_adapters import fcm, sendgrid, slack, twilio, webhook
from channel_adapters.spec import AdapterSpec

REGISTRY: dict[str, AdapterSpec] = {
    module.SPEC.name: module.SPEC for module in (sendgrid, twilio, fcm, slack, webhook)
}


def get(name: str) -> AdapterSpec | None:
    return REGISTRY.get(name)
