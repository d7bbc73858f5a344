"""Channel adapters: one module per provider, collected in `REGISTRY` by adapter name.

`adapter_for(channel, client)` builds the adapter for a channel; `deliver` applies the shared
delivery policy (timeout, retries, rate limit) around its `send`. Those two and `RateLimiter`
load on first use: they need asyncio, which `validate` (reading `REGISTRY`) does not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from channel_adapters.base import Adapter, Message, Outcome
from channel_adapters.registry import PROVIDERS, REGISTRY

if TYPE_CHECKING:
    from channel_adapters.delivery import deliver
    from channel_adapters.factory import adapter_for
    from channel_adapters.ratelimit import RateLimiter

_LAZY = {"deliver": "channel_adapters.delivery", "adapter_for": "channel_adapters.factory",
         "RateLimiter": "channel_adapters.ratelimit"}

__all__ = [
    "PROVIDERS", "REGISTRY", "Adapter", "Message", "Outcome", "RateLimiter", "adapter_for",
    "deliver",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'channel_adapters' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
