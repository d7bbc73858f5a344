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
