"""The daemon's core on a real applied state (SQLite and PostgreSQL), with a clock the test
moves: inputs run
in time order, each batch commits with its messages, timers fire at their due time, a failing
input is set aside, schedule ticks reach every user."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from journeyctl.daemon.core import Core
from journeyctl.engine.state import new_state
from journeyctl.live import live_report
from journeyctl.state import codec
from tests.support.harness import (
    MovableClock,
    State,
    apply,
    open_core,
    payloads,
    project_copy,
    rows,
    scheduled,
    ticks,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

T0 = 1_780_000_000.0


def event(user: str, name: str, at: float, event_id: str, **properties: object) -> dict:
    return {"event_id": event_id, "user_id": user, "event": name, "time": at,
            "properties": properties}


def ingest(core: Core, *events: dict, received: float) -> list[tuple[int, int]]:
    """Ingest at a chosen arrival time: the core's clock moved there, and back."""
    clock = core.clock
    assert isinstance(clock, MovableClock)
    before, clock.now = clock.now, received
    try:
        return core.ingest([list(events)])
    finally:
        clock.now = before


def outbox(state: State) -> list[tuple]:
    return rows(state, "SELECT user_id, step, channel, template, status FROM outbox ORDER BY id")


def test_events_then_timers_in_time_order(applied: tuple[Path, State]) -> None:
    _, state = applied
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([{"user_id": "u1", "name": "민지", "email": "m@example.com",
                                   "consent": {"email": True}}])
    assert ingest(core, event("u1", "signup", T0, "e1"), event("u1", "signup", T0, "e1"),
                  received=T0) == [(1, 1)]  # the repeated event_id is a duplicate
    assert core.process(budget=60) == 1
    assert outbox(state) == [("u1", "hello", "email", "welcome_email", "pending")]
    (due,) = rows(state, "SELECT due FROM timers WHERE user_id = 'u1'")[0]
    assert due == T0 + 2
    assert core.process(budget=60) == 0  # the wait is not due yet
    clock.now = T0 + 10  # the daemon was busy or down: the timers are late
    assert core.process(budget=60) == 2  # pause fires at T0+2; wait_buy's timeout at T0+5
    assert [r[1:3] for r in outbox(state)] == [("hello", "email"), ("nudge", "email"),
                                               ("reminder", "email")]
    # each message's time is its moment in the journey, not when the late timer ran
    assert payloads(state, "time") == [T0, T0 + 2, T0 + 5]
    # the push had no address, so the nudge went by its email fallback, rendered for the user
    assert payloads(state, "content.text", "step = 'nudge'") == [
        "Hi 민지, your cart is waiting."]
    core.close()


def test_an_event_arriving_first_goes_first(applied: tuple[Path, State]) -> None:
    _, state = applied
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([{"user_id": "u1", "email": "m@example.com"}])
    ingest(core, event("u1", "signup", T0, "e1"), received=T0)
    core.process(budget=60)
    clock.now = T0 + 6
    # the purchase arrived at T0+1, before the pause ended (T0+2): the goal ends the instance
    # there, and neither the nudge nor the reminder follows
    ingest(core, event("u1", "purchase", T0 + 1, "e2", amount=5.0), received=T0 + 1)
    core.process(budget=60)
    assert [r[1] for r in outbox(state)] == ["hello", "notify_crm"]
    assert rows(state, "SELECT journey, status FROM instances ORDER BY journey") == [
        ("receipt", "completed"), ("welcome", "goal")]
    core.close()


def test_a_batch_is_one_transaction_and_a_failing_input_is_set_aside(
        applied: tuple[Path, State], monkeypatch) -> None:
    _, state = applied
    clock = MovableClock(T0)
    observed: Counter[tuple[str, ...]] = Counter()
    core = open_core(state, clock=clock, observe_counts=observed.update)
    core.upsert_profiles([{"user_id": f"u{i}", "email": f"{i}@example.com"}
                                  for i in range(5)])
    ingest(core, *(event(f"u{i}", "signup", T0, f"e{i}") for i in range(5)), received=T0)
    fail_for(core, monkeypatch, "u3")
    core.process(budget=60)
    core.process(budget=60)  # after the failed batch, one input at a time: the rest go through
    assert sorted(r[0] for r in outbox(state)) == ["u0", "u1", "u2", "u4"]
    assert rows(state, "SELECT kind, user_id, error FROM set_aside") == [
        ("InboxRow", "u3", "RuntimeError: boom")]
    assert rows(state, "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL") == [(0,)]
    # the live counts of the batch that rolled back went with it: each entry counted once
    assert live_report(core.runtime.store, core.applied.project)["journeys"]["welcome"][
        "entered"] == 4
    assert observed[("entries", "welcome")] == 4
    core.close()


def monthly(tmp_path: Path, state: State) -> State:
    """The test project plus a monthly campaign mail to VIPs, applied to `state`."""
    return scheduled(tmp_path, "monthly", "0 9 1 * *", "has(profile.vip) && profile.vip",
                     state)


def fail_for(core: Core, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    """The engine raises (a bug) on every input of `user`."""
    real = core.engine.step

    def step(state_, value, now):
        if state_.user_id == user:
            raise RuntimeError("boom")
        return real(state_, value, now)

    monkeypatch.setattr(core.engine, "step", step)


def test_schedule_ticks_page_through_every_user(tmp_path: Path, state: State) -> None:
    state = monthly(tmp_path, state)
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([{"user_id": f"u{i:04}", "email": f"{i}@example.com",
                                   "vip": i % 2 == 0, "consent": {"email": True}}
                                  for i in range(1200)])
    assert core.schedules() == {"monthly": "0 9 1 * *"}
    assert core.runtime.schedule_tick("monthly", T0)
    assert not core.runtime.schedule_tick("monthly", T0)  # the same tick twice: once
    while core.process(budget=60):
        pass
    assert rows(state, "SELECT COUNT(*), COUNT(DISTINCT user_id) FROM outbox") == [(600, 600)]
    assert [t[2] for t in ticks(state)] == [None]  # delivered to every user
    core.close()


def vips(core: Core, count: int) -> None:
    core.upsert_profiles([{"user_id": f"u{i:04}", "email": f"{i}@example.com",
                                   "vip": i % 2 == 0, "consent": {"email": True}}
                                  for i in range(count)])


def test_a_tick_goes_before_what_arrived_after_it(tmp_path: Path, state: State) -> None:
    """As in the simulator: the tick at T0+1 reaches u0000 while still a VIP, although the
    identify that ends it (received at T0+3) was already waiting when the tick ran."""
    state = monthly(tmp_path, state)
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    vips(core, 1)
    assert core.runtime.schedule_tick("monthly", T0 + 1)
    ingest(core, event("u0000", "identify", T0 + 3, "e1", vip=False), received=T0 + 3)
    clock.now = T0 + 5
    while core.process(budget=60):
        pass
    assert outbox(state) == [("u0000", "mail", "email", "reminder_email", "pending")]
    assert [codec.loads(data)["vip"] for (data,) in rows(state, "SELECT data FROM profiles")
            ] == [False]
    core.close()


def test_a_tick_sets_aside_the_one_user_it_fails_for(tmp_path: Path, state: State,
                                                      monkeypatch) -> None:
    state = monthly(tmp_path, state)
    core = open_core(state, clock=MovableClock(T0))
    vips(core, 10)
    fail_for(core, monkeypatch, "u0004")
    assert core.runtime.schedule_tick("monthly", T0)
    while core.process(budget=60):
        pass
    # (in partition order on PostgreSQL: a tick is delivered partition by partition)
    assert sorted(r[0] for r in outbox(state)) == ["u0000", "u0002", "u0006", "u0008"]
    assert rows(state, "SELECT kind, user_id, error FROM set_aside") == [
        ("PendingTick", "u0004", "RuntimeError: boom")]
    assert [t[2] for t in ticks(state)] == [None]  # delivered to every user
    # only the users the tick changed have a state written: the VIPs who entered
    assert rows(state, "SELECT user_id FROM user_state ORDER BY 1") == [
        ("u0000",), ("u0002",), ("u0006",), ("u0008",)]
    core.close()


def test_event_ids_are_unique_per_user_as_in_the_simulator(applied: tuple[Path, State]) -> None:
    _, state = applied
    core = open_core(state, clock=MovableClock(T0))
    assert ingest(core, event("u1", "signup", T0, "e1"), event("u2", "signup", T0, "e1"),
                  received=T0) == [(2, 0)]
    assert ingest(core, event("u1", "signup", T0, "e1"), received=T0) == [(0, 1)]
    core.close()


def test_cron_fires_are_recorded_once_and_missed_ones_coalesce(tmp_path: Path,
                                                                state: State) -> None:
    """What the daemon's cron job does at each fire (journeyctl.daemon.server._record_tick)."""
    from journeyctl.daemon.server import _record_tick

    state = scheduled(tmp_path, "daily", "0 9 * * *", state=state)
    core = open_core(state)
    day = 86400
    start = 1_780_045_200.0  # 2026-05-29 09:00 UTC, a fire time
    assert not _record_tick(core, "daily", start + 60)  # first sight: count from now
    assert not _record_tick(core, "daily", start + 3600)  # no fire since
    assert _record_tick(core, "daily", start + day + 5)  # the next day's 09:00
    assert ticks(state) == [("daily", start + day, start + day)]
    assert not _record_tick(core, "daily", start + day + 10)  # the same fire: once
    # down for three days: on start, one tick (the latest), not three
    assert _record_tick(core, "daily", start + 4 * day + 7200)
    assert [t[1] for t in ticks(state)] == [start + 4 * day]
    core.close()


def test_an_apply_with_migrate_moves_waiting_users_to_the_new_version(
        tmp_path: Path, state: State) -> None:
    root = project_copy(tmp_path)
    apply(root, state)
    clock = MovableClock(T0)
    core = open_core(state, clock=clock)
    core.upsert_profiles([{"user_id": "u1", "email": "m@example.com",
                                   "consent": {"email": True}}])
    ingest(core, event("u1", "signup", T0, "e1"), received=T0)
    core.process(budget=60)  # u1 waits at v1's `pause`
    journey = root / "journeys" / "welcome.yaml"
    text = journey.read_text(encoding="utf-8")
    journey.write_text(text.replace("  - id: pause\n", "  - id: hold\n").replace(
        "steps:\n", "migrate: {pause: hold}\nsteps:\n"), encoding="utf-8")
    apply(root, state)
    assert rows(state, "SELECT version, step FROM instances") == [(2, "hold")]
    assert core.reload()
    clock.now = T0 + 2.5
    core.process(budget=60)  # the wait goes on as v2's `hold`, and the journey continues on v2
    assert rows(state, "SELECT version, step, status FROM instances") == [(2, "wait_buy",
                                                                           "active")]
    assert [r[1] for r in outbox(state)] == ["hello", "nudge"]
    active = core.runtime.load_user("u1", new_state)[0].journeys["welcome"].active
    assert (active.version, active.wait.step) == (2, "wait_buy")
    core.close()


def test_a_user_last_run_on_a_newer_apply_makes_the_core_catch_up_first(
        tmp_path: Path, state: State) -> None:
    """Several daemons: another one ran the user on an apply this core has not reloaded yet
    (their partition moved here in between). The core reloads before running them, rather
    than running a v2 instance with v1's journey."""
    root = project_copy(tmp_path)
    apply(root, state)
    clock = MovableClock(T0)
    behind = open_core(state, clock=clock)  # serial 1, not reloaded below
    behind.runtime.release()  # (a shared store: its partitions go to `ahead` for a while)
    journey = root / "journeys" / "welcome.yaml"
    text = journey.read_text(encoding="utf-8")
    journey.write_text(text.replace("  - id: pause\n", "  - id: hold\n"), encoding="utf-8")
    apply(root, state)
    ahead = open_core(state, clock=clock)  # serial 2
    ahead.upsert_profiles([{"user_id": "u1", "email": "m@example.com",
                            "consent": {"email": True}}])
    ingest(ahead, event("u1", "signup", T0, "e1"), received=T0)
    ahead.process(budget=60)  # u1 waits at v2's `hold`
    ahead.runtime.release()
    ahead.close()
    assert behind.applied.serial == 1
    clock.now = T0 + 2.5
    behind.runtime.heartbeat()  # (a shared store: the partitions come back)
    assert behind.process(budget=60) == 1  # the timer of v2's `hold` fires
    assert behind.applied.serial == 2
    assert rows(state, "SELECT version, step, status FROM instances") == [(2, "wait_buy",
                                                                           "active")]
    assert rows(state, "SELECT COUNT(*) FROM set_aside") == [(0,)]
    behind.close()


def test_timer_lag_is_counted_once_when_a_batch_is_run_again(applied: tuple[Path, State],
                                                              monkeypatch) -> None:
    _, state = applied
    lags: list[float] = []
    clock = MovableClock(T0)
    core = open_core(state, clock=clock, observe_lag=lags.append)
    core.upsert_profiles([{"user_id": u, "email": f"{u}@example.com"}
                                  for u in ("u1", "u2")])
    ingest(core, event("u1", "signup", T0, "e1"), event("u2", "signup", T0, "e2"), received=T0)
    while core.process(budget=60):  # both wait 2 s (`pause`)
        pass
    fail_for(core, monkeypatch, "u2")
    clock.now = T0 + 3
    while core.process(budget=60):  # u1's timer ran, then u2's broke the batch: again one by one
        pass
    assert lags == [1.0]  # u1's, once; u2's was set aside
    core.close()
