"""Channel adapters: one module per provider, collected in `REGISTRY` by adapter name.

`adapter_for(channel, client)` builds the adapter for a channel; `deliver` applies the shared
delivery policy (timeout, retries, rate limit) around its `send`.
"""

from channel_adapters.base import Adapter, Message, Outcome
from channel_adapters.delivery import deliver
from channel_adapters.factory import adapter_for
from channel_adapters.ratelimit import RateLimiter
from channel_adapters.registry import PROVIDERS, REGISTRY, get

__all__ = [
    "PROVIDERS", "REGISTRY", "Adapter", "Message", "Outcome", "RateLimiter", "adapter_for",
    "deliver", "get",
]
