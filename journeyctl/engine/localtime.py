"""Wall-clock time in a user's own zone: `wait: {until}`, quiet hours and the kr night rule.

Everything else in the engine is elapsed time (epoch seconds). A user's zone is
`profile.timezone` at the moment of the check when it names a real zone, else the project's.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from journeyctl.timeparse import zone

_UTC = dt.UTC


def user_zone(profile: dict, default: ZoneInfo) -> ZoneInfo:
    name = profile.get("timezone")
    return (zone(name) or default) if isinstance(name, str) else default


def local(t: float, tz: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, tz)


def instant(day: dt.date, time: dt.time, tz: ZoneInfo) -> float:
    """The epoch time of a local wall-clock time. In a DST gap the clock is read with the
    offset before the change (so 02:30 on a spring-forward night is 03:30 new time)."""
    return dt.datetime.combine(day, time, tzinfo=tz).timestamp()


def next_local(now: float, at: dt.time, days: tuple[int, ...], tz: ZoneInfo) -> float:
    """The first moment >= now when the local clock shows `at` on one of `days` (ISO weekday
    numbers; empty: any day)."""
    today = local(now, tz).date()
    for offset in range(0, 9):
        day = today + dt.timedelta(days=offset)
        if days and day.isoweekday() not in days:
            continue
        candidate = instant(day, at, tz)
        if candidate >= now:
            return candidate
    raise AssertionError("a weekday always comes round within 8 days")


def in_window(now: float, start: dt.time, end: dt.time, tz: ZoneInfo) -> bool:
    """Whether local time is in [start, end) (a window may cross midnight; start == end: none)."""
    if start == end:
        return False
    clock = local(now, tz).time()
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end


def window_end(now: float, end: dt.time, tz: ZoneInfo) -> float:
    """The first moment after `now` when the local clock shows `end`."""
    return next_local(now + 1e-6, end, (), tz)
