"""Parsing of the language's small value types: durations, times of day, days, rates, zones."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from functools import cache

from journeyctl.model import Duration, RateLimit

_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\Z")
_UNIT_SECONDS = (7 * 86400, 86400, 3600, 60, 1)

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?\Z")
_RATE = re.compile(r"(\d+)\s*/\s*(s|m|h|d|sec|second|min|minute|hour|day)\Z")
_RATE_SECONDS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60,
                 "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def parse_duration(text: str) -> Duration | None:
    """`30s`, `15m`, `6h`, `3d`, `2w`, `1d12h` -> Duration; None when it does not parse or is 0."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not any(match.groups()):
        return None
    seconds = sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if n)
    return Duration(seconds, text.strip()) if seconds > 0 else None


def parse_time_of_day(text: str) -> dt.time | None:
    match = _TIME.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    hour, minute, second = match.groups()
    return dt.time(int(hour), int(minute), int(second or 0))


def parse_day(text: str) -> int | None:
    """`mon` .. `sun` -> ISO weekday number 1..7."""
    return DAYS.index(text) + 1 if text in DAYS else None


def parse_rate(text: str) -> RateLimit | None:
    """`100/s`, `20/m`, `5000/h` -> RateLimit."""
    match = _RATE.match(text.strip()) if isinstance(text, str) else None
    if not match or int(match.group(1)) == 0:
        return None
    return RateLimit(int(match.group(1)), _RATE_SECONDS[match.group(2)], text.strip())


@cache
def zone(name: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone, or None when the name is not one (never raises)."""
    if not isinstance(name, str) or not name or name != name.strip():
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None


def zone_hint(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(str(name), sorted(zoneinfo.available_timezones()), n=1)
    return f"did you mean '{close[0]}'?" if close else "use an IANA zone name like Asia/Seoul"
