"""Properties of the engine and the simulator: deterministic, independent of input order and
of how users are split across processes, and no accepted event is lost."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyctl.sim.host import Options
from journeyctl.sim.run import simulate
from tests.support.scenarios import EVERYONE, build

JOURNEYS = {
    "flow": """trigger: {event: signup}
goal: {event: purchase, within: 2d, value: 'event.amount'}
exit_on: [{event: unsubscribe}]
caps: [{channel: any, max: 2, per: 1d}]
steps:
  - {id: hello, send: {channel: email, template: e1, fallback: [{channel: sms, template: s1}]}}
  - {id: w, wait_for: {event: click, timeout: 6h, on_timeout: nudge}, next: ab}
  - {id: nudge, send: {channel: push, template: p1}}
  - {id: ab, split: [{variant: a, weight: 50}, {variant: b, weight: 50, next: late}]}
  - {id: pause, wait: 3h}
  - {id: late, send: {channel: email, template: e2}}
""",
    "quiet": """trigger: {inactive: 12h}
steps:
  - {id: back, send: {channel: email, template: e3}}
""",
}
SETTINGS = 'quiet_hours: {start: "22:00", end: "07:00"}\ncaps: [{channel: any, max: 3, per: 1d}]\n'
T0 = dt.datetime(2024, 3, 4, tzinfo=dt.UTC).timestamp()

events_strategy = st.lists(
    st.tuples(st.integers(0, 3 * 86400), st.sampled_from(["u1", "u2", "u3", "u4"]),
              st.sampled_from(["signup", "purchase", "click", "view", "unsubscribe"]),
              st.sampled_from([None, "dup-1", "dup-2"])),
    max_size=30)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> object:
    return build(tmp_path_factory.mktemp("props") / "p", JOURNEYS, SETTINGS)


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _rows(events: list[tuple]) -> list[dict]:
    rows = []
    for offset, user, name, event_id in events:
        row = {"user_id": user, "event": name,
               "timestamp": dt.datetime.fromtimestamp(T0 + offset, dt.UTC).isoformat()}
        if name == "purchase":
            row["properties"] = {"amount": 10.0}
        if event_id:
            row["event_id"] = event_id
        rows.append(row)
    return rows


PROFILES = [{"user_id": u, **EVERYONE} for u in ("u1", "u2", "u3")]  # u4 has no profile


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=events_strategy, seed=st.integers(0, 1000))
def test_same_result_whatever_the_input_order(project: object, tmp_path: Path,
                                              events: list[tuple], seed: int) -> None:
    rows = _rows(events)
    profiles = _write(tmp_path / "profiles.jsonl", PROFILES)
    ordered = sorted(range(len(rows)), key=lambda i: (events[i][0], i))
    sorted_file = _write(tmp_path / "sorted.jsonl", [rows[i] for i in ordered])
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    shuffled_file = _write(tmp_path / "shuffled.jsonl", [rows[i] for i in shuffled])
    until = Options(until=T0 + 5 * 86400)
    a = simulate(project, [sorted_file], profiles, until)  # type: ignore[arg-type]
    b = simulate(project, [shuffled_file], profiles, until)  # type: ignore[arg-type]
    again = simulate(project, [sorted_file], profiles, until)  # type: ignore[arg-type]
    assert a.messages.rows() == again.messages.rows() and a.report == again.report
    # events at the same timestamp keep their file order, so compare where no time is shared
    if len({e[0] for e in events}) == len(events):
        assert a.messages.rows() == b.messages.rows()
        assert a.report["journeys"] == b.report["journeys"]
    # nothing is lost: every record is accepted, a duplicate or rejected, and counted once
    stats = a.stats
    assert stats.read == len(rows)
    accepted = stats.read - stats.rejected - stats.duplicates - stats.skipped
    with_ids = [e for e in events if e[3]]
    assert stats.duplicates == len(with_ids) - len({(e[1], e[3]) for e in with_ids})
    assert accepted == len(rows) - stats.duplicates


def test_sharded_run_equals_one_process(tmp_path: Path) -> None:
    """Users split across two processes give the very same report and messages."""
    from journeyctl.project import load_project
    from tests.support import EXAMPLE

    example = load_project(EXAMPLE).project
    assert example is not None
    files = [EXAMPLE / "data/events.jsonl"]
    one = simulate(example, files, EXAMPLE / "data/profiles.jsonl", workers=1)
    two = simulate(example, files, EXAMPLE / "data/profiles.jsonl", workers=2,
                   trace_user="u-0057")
    assert two.workers == 2
    assert one.report == two.report
    assert one.messages.rows() == two.messages.rows()
    assert two.trace is not None and two.trace.lines
