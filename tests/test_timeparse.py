"""Durations, times of day, days, rates and zones."""

from __future__ import annotations

import datetime as dt

import pytest

from journeyctl.timeparse import parse_day, parse_duration, parse_rate, parse_time_of_day, zone


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("15m", 900), ("6h", 21600), ("3d", 259200), ("2w", 1209600),
    ("1d12h", 129600), ("1w1d1h1m1s", 694861),
])
def test_durations(text: str, seconds: int) -> None:
    parsed = parse_duration(text)
    assert parsed is not None and parsed.seconds == seconds and parsed.text == text


@pytest.mark.parametrize("text", ["", "0s", "6", "h", "1h30", "1.5h", "1m1h", "-1h", "1 h", 7])
def test_bad_durations(text: object) -> None:
    assert parse_duration(text) is None  # type: ignore[arg-type]


def test_times_days_rates_zones() -> None:
    assert parse_time_of_day("09:30") == dt.time(9, 30)
    assert parse_time_of_day("7:05:09") == dt.time(7, 5, 9)
    assert parse_time_of_day("24:00") is None
    assert parse_day("mon") == 1 and parse_day("sun") == 7 and parse_day("monday") is None
    rate = parse_rate("100/s")
    assert rate is not None and (rate.count, rate.per_seconds) == (100, 1)
    assert parse_rate("5000 / hour").per_seconds == 3600  # type: ignore[union-attr]
    assert parse_rate("0/s") is None and parse_rate("10/x") is None
    assert zone("Asia/Seoul") is not None
    assert zone("Asia/Seol") is None and zone("") is None and zone("../etc/passwd") is None
