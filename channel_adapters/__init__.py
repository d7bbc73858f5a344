"""Channel adapters: one module per provider, collected in `REGISTRY` by adapter name."""

from channel_adapters.registry import REGISTRY, get

__all__ = ["REGISTRY", "get"]
