"""Standard crontab expressions, evaluated with APScheduler's cron logic.

APScheduler 3.x numbers weekdays from Monday = 0, while crontab uses Sunday = 0 (and 7). We
expand the day-of-week field ourselves into day names so `0 10 * * 1` means Monday, as every
cron user expects, and hand the rest to APScheduler. The simulator and the daemon both call
`next_tick`, so they agree on every tick.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DOW_ITEM = re.compile(r"(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?\Z")


class CronError(ValueError):
    pass


def _day_number(token: str) -> int:
    """0-7 (both 0 and 7 are Sunday) or a day name -> 0..7, keeping 7 so `5-7` works."""
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token in _CRON_DAYS:
        return _CRON_DAYS.index(token)
    raise CronError(f"{token!r} is not a day of the week (0-7 or sun-sat)")


def _expand_dow(field: str) -> str:
    """Crontab day-of-week field -> APScheduler day names (`1-5` -> `mon,tue,wed,thu,fri`)."""
    days: set[int] = set()
    for item in field.lower().split(","):
        match = _DOW_ITEM.match(item)
        if not match:
            raise CronError(f"{item!r} is not a valid day-of-week entry")
        start, end, step = match.groups()
        if start == "*":
            lo, hi = 0, 6
        else:
            lo = _day_number(start)
            hi = _day_number(end) if end else (6 if step else lo)
        if hi < lo or (step is not None and int(step) == 0):
            raise CronError(f"{item!r} is not a valid day-of-week range")
        days.update(d % 7 for d in range(lo, hi + 1, int(step or 1)))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def normalise(expr: str) -> str:
    expr = MACROS.get(expr.strip().lower(), expr.strip())
    fields = expr.split()
    if len(fields) != 5:
        raise CronError(
            f"a cron expression has 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    if fields[4] != "*":
        fields[4] = _expand_dow(fields[4])
    return " ".join(fields)


@cache
def trigger(expr: str, timezone: str) -> CronTrigger:
    """The APScheduler trigger for `expr` in `timezone`; raises CronError when invalid."""
    from apscheduler.triggers.cron import CronTrigger  # heavy import: only when a cron is used

    from journeyctl.timeparse import zone

    fields = normalise(expr).split()
    try:
        return CronTrigger(
            minute=fields[0], hour=fields[1], day=fields[2], month=fields[3],
            day_of_week=fields[4], timezone=zone(timezone) or dt.UTC,
        )
    except ValueError as exc:
        raise CronError(str(exc)) from exc


def next_tick(expr: str, timezone: str, after: dt.datetime) -> dt.datetime | None:
    """The first tick strictly after `after` (an aware datetime)."""
    cron = trigger(expr, timezone)
    probe = after + dt.timedelta(microseconds=1)
    while True:
        found = cron.get_next_fire_time(None, probe)
        if found is None or found > after:
            return found
        # Where a DST change repeats an hour, APScheduler can answer the second 02:30 again
        # for any time up to it: look again from a minute later (crons count in minutes).
        probe = found.astimezone(dt.UTC) + dt.timedelta(minutes=1)
