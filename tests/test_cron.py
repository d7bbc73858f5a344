"""Cron: crontab weekday numbers (Sunday = 0 and 7), macros, and errors."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from journeyctl.cron import CronError, next_tick, normalise, trigger

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(("expr", "expected"), [
    ("0 10 * * 1", "0 10 * * mon"),
    ("0 10 * * MON", "0 10 * * mon"),
    ("0 10 * * 0", "0 10 * * sun"),
    ("0 10 * * 7", "0 10 * * sun"),
    ("0 9 * * 1-5", "0 9 * * mon,tue,wed,thu,fri"),
    ("0 9 * * 5-7", "0 9 * * sun,fri,sat"),
    ("0 9 * * */2", "0 9 * * sun,tue,thu,sat"),
    ("0 9 * * mon,wed", "0 9 * * mon,wed"),
    ("@daily", "0 0 * * *"),
    ("@weekly", "0 0 * * sun"),
])
def test_crontab_weekdays(expr: str, expected: str) -> None:
    assert normalise(expr) == expected


def test_monday_means_monday() -> None:
    wednesday = dt.datetime(2024, 3, 13, 12, 0, tzinfo=SEOUL)
    assert next_tick("0 10 * * 1", "Asia/Seoul", wednesday) == dt.datetime(2024, 3, 18, 10,
                                                                           tzinfo=SEOUL)


def test_next_tick_is_strictly_after() -> None:
    at_tick = dt.datetime(2024, 3, 18, 10, 0, tzinfo=SEOUL)
    assert next_tick("0 10 * * MON", "Asia/Seoul", at_tick) == at_tick + dt.timedelta(days=7)


def test_ticks_follow_the_zone() -> None:
    now = dt.datetime(2024, 3, 18, 0, 30, tzinfo=dt.UTC)  # 09:30 in Seoul
    tick = next_tick("0 10 * * *", "Asia/Seoul", now)
    assert tick is not None and tick.astimezone(dt.UTC) == dt.datetime(2024, 3, 18, 1, 0,
                                                                       tzinfo=dt.UTC)


@pytest.mark.parametrize("expr", ["0 10 * *", "61 * * * *", "0 25 * * *", "0 10 * * funday",
                                  "0 10 * * 5-1", "* * * * 8", "*/0 * * * *"])
def test_invalid(expr: str) -> None:
    with pytest.raises(CronError):
        trigger(expr, "UTC")


def test_ticks_move_on_across_a_dst_fall_back() -> None:
    # 2025-10-26 in Berlin repeats 02:00-03:00. APScheduler alone answers the second 02:30
    # again and again from it, which would hold a simulation on that instant for ever.
    berlin = ZoneInfo("Europe/Berlin")
    ticks, after = [], dt.datetime(2025, 10, 25, 12, 0, tzinfo=berlin)
    for _ in range(3):
        after = next_tick("30 2 * * *", "Europe/Berlin", after)
        ticks.append(after.astimezone(dt.UTC).strftime("%m-%d %H:%M"))
    assert ticks == ["10-26 00:30", "10-27 01:30", "10-28 01:30"]  # 02:30 local, once a day
    repeated = dt.datetime(2025, 10, 26, 2, 30, tzinfo=berlin, fold=1)  # the second 02:30
    assert next_tick("30 2 * * *", "Europe/Berlin", repeated) == dt.datetime(
        2025, 10, 27, 2, 30, tzinfo=berlin)
