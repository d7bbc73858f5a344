"""The state stores, in this process (no CLI), each test on both: a tmp SQLite file and a fresh
PostgreSQL database. The commands' side (`Store`: apply, lock, force_unlock) and each of the
daemon's Protocol groups (`Runtime`), at times the test chooses. (Several daemons sharing one
PostgreSQL state: tests/state/test_pg_runtime.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from journeyctl.engine import effects as fx
from journeyctl.engine.state import new_state
from journeyctl.plan import Desired, Plan, make_plan, rollback_plan, seal, unseal
from journeyctl.state.base import (
    PRUNED,
    ApplyMeta,
    Delivery,
    InboxRow,
    LockedError,
    Runtime,
    StateError,
    Store,
)
from journeyctl.state.pg import PgStore
from journeyctl.state.pg_runtime import PgRuntime
from journeyctl.state.sqlite import SqliteStore
from journeyctl.state.sqlite_runtime import SqliteRuntime
from journeyctl.state.urls import PostgresUrl, parse_state_url

T0 = 1_780_000_000.0
REPO = Path(__file__).resolve().parents[2]
JOURNEY = {"journey": {"journey": "j", "steps": [{"id": "a"}, {"id": "b"}]}, "templates": {}}
SETTINGS = {"project": {"name": "p"}, "events": {"events": {}}, "channels": None}


def applied_plan(store: Store, journeys: dict[str, dict], now: float = T0) -> Plan:
    return make_plan(Desired("p", journeys, SETTINGS), store.snapshot(), now, "state.db",
                     "/state.db")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    opened: Store
    if request.param == "sqlite":
        opened = SqliteStore(tmp_path / "state.db", create=True)
    else:
        url = parse_state_url(request.getfixturevalue("pg_url"), tmp_path)
        assert isinstance(url, PostgresUrl)
        opened = PgStore(url, create=True)
    yield opened
    opened.close()


@pytest.fixture
def runtime(store: Store) -> Runtime:
    """The runtime of one daemon, holding every partition."""
    store.apply(applied_plan(store, {"j": JOURNEY}), ApplyMeta("apply", "me"), T0)
    opened: Runtime = SqliteRuntime(store) if isinstance(store, SqliteStore) \
        else PgRuntime(store)  # type: ignore[arg-type]  # a PgStore
    held = opened.heartbeat()
    assert len(held.parts) == held.count
    return opened


# --- Store: apply, lock, force_unlock ----------------------------------------------------------


def test_apply_records_versions_at_the_given_time_and_refuses_a_stale_plan(
        store: SqliteStore) -> None:
    plan = applied_plan(store, {"j": JOURNEY})
    assert store.apply(plan, ApplyMeta("apply", "me"), T0) == 1
    snapshot = store.snapshot()
    assert (snapshot.serial, snapshot.project, snapshot.journeys["j"].version) == (1, "p", 1)
    assert [(r.action, r.applied_at) for r in store.history("j")] == [
        ("create", "2026-05-28T20:26:40Z")]
    with pytest.raises(StateError) as stale:  # made at serial 0: the state is at 1
        store.apply(plan, ApplyMeta("apply", "me"), T0)
    assert stale.value.code == "JC966"


def test_rollback_plan_brings_an_older_version_back(store: Store) -> None:
    store.apply(applied_plan(store, {"j": JOURNEY}), ApplyMeta("apply", "me"), T0)
    newer = {**JOURNEY, "journey": {**JOURNEY["journey"], "steps": [{"id": "a"}]}}
    store.apply(applied_plan(store, {"j": newer}), ApplyMeta("apply", "me"), T0 + 1)
    old = store.version("j", 1)
    assert old is not None
    plan = rollback_plan(store.snapshot(), old, "p", T0 + 2, "state.db", "/state.db")
    assert [(c.action, c.from_version, c.to_version) for c in plan.changes] == [
        ("update", 2, 3)]
    store.apply(plan, ApplyMeta("rollback", "me"), T0 + 2)
    assert store.snapshot().journeys["j"].content == JOURNEY
    assert store.history("j")[-1].action == "rollback"


def reopened(store: Store) -> Store:
    """The same state opened again, as another process would (PostgreSQL's apply lock is an
    advisory lock, which the session holding it may take again)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(Path(store.path))
    assert isinstance(store, PgStore)
    return PgStore(store.url)


def test_the_lock_is_held_once_and_force_unlock_needs_its_id(store: Store) -> None:
    store.apply(applied_plan(store, {}), ApplyMeta("apply", "me"), T0)
    other = reopened(store)
    lock = other.lock("apply", timeout=0)
    assert store.holder() == lock
    with pytest.raises(LockedError) as held:
        store.lock("apply", timeout=0)
    assert held.value.code == "JC962" and held.value.holder == lock
    assert store.force_unlock("not-the-id") is None and store.holder() == lock
    assert store.force_unlock(lock.lock_id) == lock
    assert store.holder() is None
    other.close()
    with store.locked("apply", timeout=0) as again:
        assert store.holder() == again
    assert store.holder() is None


def test_a_saved_plan_matches_its_schema_and_reads_back_equal(store: Store) -> None:
    plan = applied_plan(store, {"j": JOURNEY}).with_source(
        {"root": "/p", "commit": None, "author": None, "dirty": False})
    saved = json.loads(json.dumps(seal(plan.to_json())))
    schema = json.loads((REPO / "schema" / "plan.schema.json").read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(saved)) == []
    assert unseal(saved) == plan
    assert Plan.from_json(plan.to_json()).to_json() == plan.to_json()


# --- Runtime: one test per Protocol group ----------------------------------------------------


def test_inbox_stamps_arrival_with_the_given_time_and_drops_duplicates(runtime: Runtime) -> None:
    event = {"event_id": "e1", "user_id": "u", "event": "signup", "time": T0 - 5}
    assert runtime.ingest([[event, event]], T0) == [(1, 1)]
    row = runtime.next_event(T0)
    assert row == InboxRow(1, "e1", "u", "signup", T0 - 5, {}, T0)


def test_profiles_merge_and_users_are_paged_in_id_order(runtime: Runtime) -> None:
    runtime.upsert_profiles([{"user_id": "b", "email": "b@x"}, {"user_id": "a", "n": 1}], T0)
    runtime.upsert_profiles([{"user_id": "a", "m": 2}], T0 + 1)
    assert runtime.profile("a") == {"n": 1, "m": 2}
    assert runtime.known_users("", 1) == ["a"] and runtime.known_users("a", 10) == ["b"]
    by_part = [runtime.known_users("", 10, part) for part in runtime.heartbeat().parts]
    assert sorted(user for users in by_part for user in users) == ["a", "b"]


def test_transitions_commit_a_state_its_timers_and_messages(runtime: Runtime) -> None:
    runtime.ingest([[{"event_id": "e1", "user_id": "u", "event": "signup", "time": T0}]], T0)
    row = runtime.next_event(T0)
    assert row is not None
    state, serial = runtime.load_user("u", new_state)
    assert serial is None and state.user_id == "u"
    message = {"idempotency_key": "k", "user_id": "u", "journey": "j", "step": "a",
               "channel": "email", "template": "t", "category": "transactional", "time": T0}
    with runtime.batch():
        runtime.commit(state, [fx.Entered("u", "j", 1, T0, 1), fx.StepReached("u", "j", 1, "a", T0),
                               fx.SetTimer("u", "w", 1, T0 + 60)],
                       [message], at=T0, now=T0 + 0.5, serial=1, inbox_seq=row.seq)
    assert runtime.next_event(T0) is None  # done
    assert runtime.load_user("u", new_state)[1] == 1
    assert runtime.instance_position("u", "j", 1) == (1, "a")
    assert runtime.next_timer(T0 + 59) is None
    timer = runtime.next_timer(T0 + 60)
    assert timer is not None and (timer.key, timer.due, timer.set_at) == ("w", T0 + 60, T0)
    assert runtime.pending(T0 + 60) == {"events": 0, "timers": 1, "timers_due": 1,
                                        "messages": 1, "set_aside": 0}


def test_ticks_are_recorded_once_and_paged(runtime: Runtime) -> None:
    assert runtime.last_tick("j") is None
    runtime.start_ticks("j", T0)
    assert runtime.last_tick("j") == T0
    assert runtime.schedule_tick("j", T0 + 60) and not runtime.schedule_tick("j", T0 + 60)
    assert runtime.next_tick(T0 + 59) is None
    tick = runtime.next_tick(T0 + 60)
    assert tick is not None and (tick.journey, tick.at, tick.after, tick.set_at) == (
        "j", T0 + 60, "", T0)
    runtime.tick_progress(tick, "u5")
    assert runtime.next_tick(T0 + 60) == replace(tick, after="u5")
    delivered = []  # to each partition once (SQLite: its one, every user)
    while (tick := runtime.next_tick(T0 + 60)) is not None:
        assert tick.part not in delivered
        delivered.append(tick.part)
        runtime.tick_progress(tick, None)
    assert len(delivered) == runtime.heartbeat().count


def test_outbox_delivers_due_messages_and_records_outcomes(runtime: Runtime) -> None:
    state, _ = runtime.load_user("u", new_state)
    message = {"idempotency_key": "k1", "user_id": "u", "journey": "j", "step": "a",
               "channel": "email", "template": "t", "category": "transactional", "time": T0}
    runtime.commit(state, [], [message], at=T0, now=T0, serial=1)
    assert runtime.due_messages(T0 - 1, {"email": 5}, []) == []
    (row,) = runtime.due_messages(T0, {"email": 5}, [])
    assert runtime.due_messages(T0, {"email": 5}, [row.id]) == []  # being delivered
    fallback = {**message, "idempotency_key": "k2", "channel": "sms"}
    runtime.record_deliveries([Delivery(row.id, "failed", 1, error="no", follow_up=fallback)],
                              T0 + 3)
    (sms,) = runtime.due_messages(T0 + 3, {"email": 5, "sms": 5}, [])
    assert (sms.idempotency_key, sms.created_at) == ("k2", T0 + 3)


def test_set_aside_takes_an_input_out_of_the_way(runtime: Runtime) -> None:
    runtime.ingest([[{"event_id": "e1", "user_id": "u", "event": "signup", "time": T0}]], T0)
    row = runtime.next_event(T0)
    assert row is not None
    runtime.set_aside(row, "boom", T0 + 1)
    assert runtime.next_event(T0 + 1) is None
    assert runtime.pending(T0 + 1)["set_aside"] == 1


def test_views_show_a_user_and_the_live_counts(runtime: Runtime) -> None:
    runtime.upsert_profiles([{"user_id": "u", "email": "u@x"}], T0)
    state, _ = runtime.load_user("u", new_state)
    runtime.commit(state, [fx.Entered("u", "j", 1, T0, 1), fx.StepReached("u", "j", 1, "b", T0)],
                   [], at=T0, now=T0, serial=1)
    view = runtime.user_view("u")
    assert view is not None and view["instances"] == [{
        "journey": "j", "instance": 1, "version": 1, "step": "b", "status": "active",
        "entered_at": "2026-05-28T20:26:40Z"}]
    assert runtime.user_view("nobody") is None
    assert runtime.live_counts() == {"j": {"v1": {"b": 1}}}
    assert runtime.journey_counts("j") == {"v1": {"b": 1}}


def test_pruning_deletes_finished_rows_older_than_the_cutoff(runtime: Runtime) -> None:
    assert PRUNED == ("events", "messages")
    for number, at in enumerate((T0, T0 + 10)):
        runtime.ingest([[{"event_id": f"e{number}", "user_id": "u", "event": "signup",
                          "time": at}]], at)
        row = runtime.next_event(at)
        assert row is not None
        runtime.set_aside(row, "done", at)  # processed at `at`
    assert runtime.prune("events", 0, T0 + 5) == (1, None)
    assert runtime.prune("messages", 0, T0 + 5) == (0, None)
    assert runtime.pending(T0)["events"] == 0
    assert runtime.release_space() >= 0
