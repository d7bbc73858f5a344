"""Real data: 69,659 CDNOW purchases (1997-1998) through a win-back journey (`inactive`) and a
monthly RFM-style VIP audience, checked against figures computed here from the original
whitespace-separated file, independently of the simulator."""

from __future__ import annotations

import datetime as dt
import itertools
import os
from collections import defaultdict
from pathlib import Path

import pytest

from journeyctl.engine import effects as fx
from journeyctl.sim.host import Options
from journeyctl.sim.run import simulate
from tests.support import REPO
from tests.support.scenarios import build

DATA = Path(os.environ.get("JOURNEYCTL_DATA", REPO.parent / "shared" / "data")) / "cdnow"
pytestmark = pytest.mark.skipif(not (DATA / "CDNOW_master.txt").is_file(),
                                reason=f"the CDNOW data set is not at {DATA}")

DAY = 86400
UNTIL = dt.datetime(1998, 10, 1, tzinfo=dt.UTC).timestamp()

WINBACK = """trigger: {inactive: 90d, events: [purchase]}
goal: {event: purchase, within: 30d, value: 'event.amount'}
steps:
  - {id: tell, send: {channel: hook, template: h1, category: transactional}}
"""
VIP = """trigger: {schedule: "0 0 1 * *"}
audience: 'count("purchase", duration("2160h")) >= 1 && count("purchase", duration("8760h")) >= 5'
steps:
  - {id: tell, send: {channel: hook, template: h1, category: transactional}}
"""


def _purchases() -> dict[str, list[tuple[float, float]]]:
    """customer -> [(epoch seconds, dollars)] in file order, from CDNOW_master.txt."""
    found: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with (DATA / "CDNOW_master.txt").open() as handle:
        next(handle)
        for line in handle:
            customer, date, _, dollars = line.split()
            day = dt.datetime.strptime(date, "%Y%m%d").replace(tzinfo=dt.UTC).timestamp()
            found[f"c{customer}"].append((day, float(dollars)))
    return found


@pytest.fixture(scope="module")
def purchases() -> dict[str, list[tuple[float, float]]]:
    return _purchases()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    project = build(tmp_path_factory.mktemp("cdnow") / "p", {"winback": WINBACK, "vip": VIP})
    events = DATA / "cdnow_purchases.jsonl.gz"
    return {name: simulate(project, [events], None, Options(until=UNTIL, journeys={name}))
            for name in ("winback", "vip")}


def test_the_file_is_read_whole_and_streamed(runs: dict, purchases: dict) -> None:
    result = runs["winback"]
    assert result.report["events"]["read"] == sum(len(p) for p in purchases.values()) == 69659
    assert result.report["events"]["rejected"] == 0
    assert result.report["users"] == len(purchases) == 23570
    assert result.stats.restarted is False  # grouped by customer: streamed, not sorted


def test_winback_entries_and_conversions(runs: dict, purchases: dict) -> None:
    entries = conversions = 0
    revenue = 0.0
    for rows in purchases.values():
        days = sorted({t for t, _ in rows})
        for previous, following in itertools.pairwise(days):
            gap = following - previous
            if gap > 90 * DAY:  # a purchase exactly at +90d comes first: no entry
                entries += 1
                if gap <= 120 * DAY:  # the goal: a purchase within 30 days of entering
                    conversions += 1
                    revenue += next(d for t, d in rows if t == following)  # the first that day
        if days[-1] + 90 * DAY <= UNTIL:
            entries += 1
    data = runs["winback"].report["journeys"]["winback"]
    assert data["entered"] == entries
    assert data["steps"]["tell"]["sent"] == entries
    assert data["conversions"] == conversions
    assert data["revenue"] == pytest.approx(revenue)


def test_monthly_vip_audience(runs: dict, purchases: dict) -> None:
    ticks = [dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp()
             for year in (1997, 1998) for month in range(1, 13)]
    first = min(t for rows in purchases.values() for t, _ in rows)
    ticks = [t for t in ticks if first <= t <= UNTIL]
    expected = 0
    per_tick: dict[float, int] = defaultdict(int)
    for rows in purchases.values():
        times = [t for t, _ in rows]
        for tick in ticks:
            recent = sum(1 for t in times if tick - 90 * DAY < t <= tick)
            year = sum(1 for t in times if tick - 365 * DAY < t <= tick)
            if recent >= 1 and year >= 5:
                expected += 1
                per_tick[tick] += 1
    result = runs["vip"]
    assert result.report["journeys"]["vip"]["entered"] == expected
    entered = defaultdict(int)
    for effect in result.messages.sent:
        assert isinstance(effect, fx.Send)
        entered[effect.time] += 1
    assert dict(entered) == dict(per_tick)
