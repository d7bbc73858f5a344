"""The one RFC 3339 formatter: times the product writes (messages file, report, state views,
log lines, the state's meta) are UTC with a `Z` (SPEC §8). One exception, kept so that saved
plans stay byte for byte what they were: a plan's `created_at` (`plan_created_at`)."""

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


def plan_created_at(t: float) -> str:
    """When a plan was made, as plan files of format 1 and 2 have always written it
    (`2026-05-01T09:00:00+00:00`): a new format may move it to `rfc3339`."""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")
