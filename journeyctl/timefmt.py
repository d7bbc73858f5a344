"""The one RFC 3339 formatter: times the product writes (messages file, report, state views,
log lines) are UTC with a `Z` (SPEC §8)."""

from __future__ import annotations

import datetime as dt


def rfc3339(t: float, millis: bool | None = None) -> str:
    """Epoch seconds as RFC 3339 in UTC with a `Z`. Milliseconds are written when `millis`,
    left out when `millis is False`, and by default only when the time has a fraction (so
    whole seconds read as `2024-05-01T09:00:00Z`)."""
    stamp = dt.datetime.fromtimestamp(t, dt.UTC)
    if millis is None:
        millis = bool(stamp.microsecond)
    return stamp.isoformat(timespec="milliseconds" if millis else "seconds").replace(
        "+00:00", "Z")
