"""A/B assignment exactly as SPEC §4 defines it, so any tool can recompute a user's variant."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from journeyctl.model import Variant


def bucket(journey: str, step: str, user_id: str) -> int:
    """First 8 bytes of SHA-256("{journey}:{step}:{user_id}"), big-endian, modulo 10000."""
    digest = hashlib.sha256(f"{journey}:{step}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def assign(variants: Sequence[Variant], value: int) -> Variant:
    """Variant i is the first whose cumulative weight × 100 exceeds the bucket."""
    total = 0
    for variant in variants:
        total += variant.weight * 100
        if total > value:
            return variant
    return variants[-1]  # unreachable when weights sum to 100, which validate guarantees
