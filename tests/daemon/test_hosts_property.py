"""Property: one engine, two hosts. For any schedule of events, the daemon's core — on a real
state (SQLite and PostgreSQL), one transaction per batch, its clock moved from arrival to
arrival — emits the same messages, at the same moments, as the simulator given the same
events (a user on the global suppression list included); and its live report
(`journeyctl.live`) counts what the simulate report counts."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from journeyctl.live import live_report
from journeyctl.project import validate
from journeyctl.sim.host import Options
from journeyctl.sim.run import simulate
from journeyctl.state import codec
from tests.support.harness import (
    MovableClock,
    State,
    apply,
    counted,
    execute,
    open_core,
    project_copy,
    rows,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

T0 = 1_780_000_000.0
PROFILES = [
    {"user_id": "a", "name": "민지", "email": "a@example.com", "consent": {"email": True}},
    {"user_id": "b", "email": "b@example.com", "push_token": "t-b",
     "consent": {"email": True, "push": True}},
    {"user_id": "c", "name": "Cy", "email": "c@example.com", "phone": "+821000000003",
     "vip": True, "consent": {"email": True, "sms": True}},
    {"user_id": "d", "email": "d@example.com"},  # no consent: promotional sends suppressed
    {"user_id": "e", "email": "e@example.com", "push_token": "t-e", "vip": True,
     "phone": "+821000000005", "consent": {"email": True, "push": True, "sms": True}},
]
LISTED = frozenset({"e"})  # on the global suppression list: transactional messages only
EVENTS = st.lists(
    st.tuples(st.integers(0, 40).map(lambda tenths: tenths / 4),  # seconds, on a 0.25 s grid
              st.sampled_from([p["user_id"] for p in PROFILES]),
              st.sampled_from(["signup", "signup", "purchase", "unsubscribe"])),
    min_size=1, max_size=12)


# what the daemon writes as it runs, emptied between examples on PostgreSQL
RUNTIME = ("profiles, user_state, instances, timers, inbox, outbox, ticks, tick_parts, set_aside, "
           "report_counts, suppressions")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def applied(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
            ) -> tuple[Path, State]:
    """The project applied once per store (the examples are many): an SQLite file each
    example copies, or a PostgreSQL schema each example empties."""
    tmp = tmp_path_factory.mktemp("hosts")
    project = project_copy(tmp)
    state: State = tmp / "state.db"
    if request.param == "postgresql":
        state = request.getfixturevalue("pg_cluster").new_database() + "?schema=journeys"
    apply(project, state)
    return project, state


@contextmanager
def fresh(template: State, folder: Path, name: str) -> Iterator[State]:
    """The applied state as it was before any example ran."""
    if isinstance(template, str):
        execute(template, f"TRUNCATE {RUNTIME} RESTART IDENTITY")
        # a partition's arrivals never go back in time: the next example's clock starts over
        execute(template, "UPDATE partitions SET received = 0")
        yield template
        return
    state = folder / name
    shutil.copy(template, state)
    try:
        yield state
    finally:
        state.unlink()


def daemon_run(state: State, schedule: list[tuple[float, str, str]]
               ) -> tuple[list[tuple], dict[str, Any]]:
    """The messages the daemon's core sent, and its live report."""
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([dict(p) for p in PROFILES])
    core.runtime.suppress(sorted(LISTED), "test", T0)
    for offset, group in itertools.groupby(enumerate(schedule), key=lambda item: item[1][0]):
        clock.now = T0 + offset - 1e-6
        while core.process(budget=60):  # what is due before these arrivals (at the same instant,
            pass               # events go first, as in the simulator)
        clock.now = T0 + offset  # the events arrive now
        core.ingest([[{"event_id": f"e{n}", "user_id": user, "event": name,
                       "time": clock.now,
                       "properties": {"amount": 10.0} if name == "purchase" else {}}
                      for n, (_, user, name) in group]])
        while core.process(budget=60):
            pass
    clock.now = T0 + 60  # every wait and timeout has fired
    while core.process(budget=60):
        pass
    report = live_report(core.runtime.store, core.applied.project)
    core.runtime.release()  # its partitions, for the next example's core
    core.close()
    return report, sorted((u, j, s, c, t, round(codec.loads(payload)["time"], 3))
                  for u, j, s, c, t, payload in rows(
                      state, "SELECT user_id, journey, step, channel, template, payload "
                             "FROM outbox"))


def simulated_run(project: Path, folder: Path, schedule: list[tuple[float, str, str]]
                  ) -> tuple[list[tuple], dict[str, Any]]:
    events = folder / "events.jsonl"
    events.write_text("".join(json.dumps({
        "event_id": f"e{n}", "user_id": user, "event": name, "timestamp": T0 + offset,
        "properties": {"amount": 10.0} if name == "purchase" else {}}) + "\n"
        for n, (offset, user, name) in enumerate(schedule)), encoding="utf-8")
    profiles = folder / "profiles.jsonl"
    profiles.write_text("".join(json.dumps(p) + "\n" for p in PROFILES), encoding="utf-8")
    loaded = validate(project)
    assert loaded.project is not None
    result = simulate(loaded.project, [events], profiles, Options(until=T0 + 60, suppressed=LISTED))
    assert result.messages is not None
    sent = sorted((e.user_id, e.journey, e.step, e.channel, e.template, round(e.time, 3))
                  for e in result.messages.ordered())
    result.messages.close()
    return result.report, sent


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(schedule=EVENTS)
@example(schedule=[(0.0, "a", "signup"), (2.0, "a", "purchase")])  # at the wait's due time
@example(schedule=[(0.0, "e", "signup")])  # a listed VIP: every promotional send suppressed

def test_the_daemon_and_the_simulator_agree(applied, tmp_path: Path, schedule) -> None:
    project, template = applied
    schedule = sorted(schedule)
    with fresh(template, tmp_path, f"state-{abs(hash(tuple(schedule)))}.db") as state:
        live, sent = daemon_run(state, schedule)
        simulated, simulated_sent = simulated_run(project, tmp_path, schedule)
        assert sent == simulated_sent
        assert counted(live) == counted(simulated)
        assert live["source"] == "live"
