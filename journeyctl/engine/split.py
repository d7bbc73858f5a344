"""A/B assignment exactly as SPEC §4 defines it, so any tool can recompute a user's variant;
and the global control group (`holdout`), drawn the same way."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from journeyctl.model import Holdout, Variant


def bucket(journey: str, step: str, user_id: str) -> int:
    """First 8 bytes of SHA-256("{journey}:{step}:{user_id}"), big-endian, modulo 10000."""
    return _bucket(f"{journey}:{step}:{user_id}")


def holdout_bucket(salt: str, user_id: str) -> int:
    """As `bucket`, of "holdout#{salt}:{user_id}": no journey id holds a `#`, so the control
    group is drawn independently of every split."""
    return _bucket(f"holdout#{salt}:{user_id}")


def in_holdout(holdout: Holdout | None, user_id: str) -> bool:
    """A control user: bucket < percent × 100. The same user stays in control when the
    percent is raised (and only leaves it when the percent goes below their bucket)."""
    return holdout is not None and holdout_bucket(holdout.salt, user_id) < holdout.percent * 100


def _bucket(key: str) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10000


def assign(variants: Sequence[Variant], value: int) -> Variant:
    """Variant i is the first whose cumulative weight × 100 exceeds the bucket."""
    total = 0
    for variant in variants:
        total += variant.weight * 100
        if total > value:
            return variant
    return variants[-1]  # unreachable when weights sum to 100, which validate guarantees
