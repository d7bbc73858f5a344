"""Several daemons sharing one PostgreSQL state, in this process: each `PgRuntime` is one
daemon (its own id and connection) on one fresh database. Leases and their handover, fencing,
ingest from several daemons, outbox claims, schedule ticks, concurrent profile writes, and the
reconnect after the server restarts. (Each runtime test on both stores: test_stores.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from journeyctl.engine import effects as fx
from journeyctl.engine.state import new_state
from journeyctl.state import is_store_failure, pg_inbox
from journeyctl.state.base import ApplyMeta, Delivery, InboxRow
from journeyctl.state.failures import LeaseLost
from journeyctl.state.partitions import partition_of
from journeyctl.state.pg import PgStore
from journeyctl.state.pg_runtime import PgRuntime
from journeyctl.state.urls import PostgresUrl, parse_state_url
from tests.state.test_stores import JOURNEY, T0, applied_plan
from tests.support import postgres

ALL = set(range(32))
Daemons = Callable[..., PgRuntime]


@pytest.fixture
def location(pg_url: str, tmp_path: Path) -> PostgresUrl:
    """An applied state on a fresh database."""
    url = parse_state_url(pg_url, tmp_path)
    assert isinstance(url, PostgresUrl)
    store = PgStore(url, create=True)
    store.apply(applied_plan(store, {"j": JOURNEY}), ApplyMeta("apply", "me"), T0)
    store.close()
    return url


@pytest.fixture
def daemon(location: PostgresUrl) -> Iterator[Daemons]:
    """A new daemon's runtime on the state (`lease` seconds), closed after the test."""
    opened: list[PgRuntime] = []

    def start(lease: float = 10.0) -> PgRuntime:
        runtime = PgRuntime(PgStore(location), lease=lease)
        opened.append(runtime)
        return runtime

    yield start
    for runtime in opened:
        runtime.close()


def wait_for(condition: Callable[[], Any], timeout: float = 15.0) -> Any:
    """`condition()` once it is true (polled), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return result


def settle(*daemons: PgRuntime) -> list[set[int]]:
    """Heartbeat round after round until every partition is held once, and each daemon holds
    its share at most; what each holds."""
    share = -(-len(ALL) // len(daemons))

    def round_() -> list[set[int]] | None:
        held = [set(d.heartbeat().parts) for d in daemons]
        once = sum(map(len, held)) == len(ALL) and set().union(*held) == ALL
        return held if once and max(map(len, held)) <= share else None

    result: list[set[int]] = wait_for(round_)
    return result


def user_in(part: int, prefix: str = "u") -> str:
    """A user id of partition `part`."""
    return next(f"{prefix}{n}" for n in range(10_000) if partition_of(f"{prefix}{n}", 32) == part)


def message(key: str, user: str = "u") -> dict[str, Any]:
    return {"idempotency_key": key, "user_id": user, "journey": "j", "step": "a",
            "channel": "email", "template": "t", "category": "transactional", "time": T0}


def waits_on_a_lock(url: PostgresUrl, backend: int) -> bool:
    with psycopg.connect(url.conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s",
                           [backend]).fetchone()
    return row is not None and row[0] == "Lock"


# --- leases ------------------------------------------------------------------------------------


def test_daemons_share_the_partitions_evenly_as_they_join(daemon: Daemons) -> None:
    a, b = daemon(), daemon()
    assert set(a.heartbeat().parts) == ALL  # alone: everything
    held = b.heartbeat()
    assert (held.parts, held.daemons, held.count) == ((), 2, 32)  # nothing free yet
    assert set(a.heartbeat().parts) == set(range(16))  # gives back the highest half
    assert set(b.heartbeat().parts) == set(range(16, 32))
    c = daemon()
    shares = settle(a, b, c)
    assert sorted(map(len, shares)) == [10, 11, 11]
    assert c.heartbeat().daemons == 3


def test_a_released_or_lapsed_daemons_partitions_are_taken_over(daemon: Daemons) -> None:
    a, b = daemon(), daemon()
    settle(a, b)
    b.release()  # stopping: at once, no lease to wait for
    assert set(a.heartbeat().parts) == ALL
    c = daemon(lease=0.5)
    held_by_c = settle(a, c)[1]
    assert held_by_c  # c is then killed: it never heartbeats again
    wait_for(lambda: set(a.heartbeat().parts) == ALL)


def test_a_batch_runs_only_partitions_held_and_a_lapsed_lease_runs_nothing(
        daemon: Daemons) -> None:
    a, b = daemon(lease=0.5), daemon()  # (only the one that stops has a short lease)
    a.heartbeat()
    a.ingest([[{"event_id": "e1", "user_id": "u", "event": "signup", "time": T0}]], T0)
    row = a.next_event(T0)  # chosen outside a batch, as the core does after a failed batch
    assert row is not None
    # a stops heartbeating (paused); b takes everything once a's lease lapses
    wait_for(lambda: set(b.heartbeat().parts) == ALL)
    with a.batch():
        assert a.next_event(T0) is None and a.next_timer(T0) is None
        state, _ = a.load_user("u", new_state)
        with pytest.raises(LeaseLost) as lost:
            a.commit(state, [], [], at=T0, now=T0, serial=1, inbox_seq=row.seq)
        assert is_store_failure(lost.value)
        with pytest.raises(LeaseLost):  # nor may it set the input aside
            a.set_aside(row, "RuntimeError: boom", T0)
    with b.batch():
        assert b.next_event(T0) == row  # not done: b runs it


def test_a_paused_batch_keeps_its_partitions_until_the_server_ends_it(daemon: Daemons) -> None:
    a, b = daemon(lease=0.5), daemon()
    a.heartbeat()
    with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout) as ended, a.batch():
        # a is paused inside a batch: its lease rows are locked, b cannot take them...
        assert set(b.heartbeat().parts) == set()
        # ...until the server ends a's idle transaction (after a lease), which frees them
        wait_for(lambda: set(b.heartbeat().parts) == ALL)
    assert is_store_failure(ended.value)
    a.ingest([[{"event_id": "e1", "user_id": "u", "event": "x", "time": T0}]], T0)
    with a.batch():  # reconnected; it holds nothing now
        assert a.next_event(T0) is None


# --- what every daemon does: ingest, claim messages, record ticks, upsert profiles ----------


def test_ingest_from_two_daemons_keeps_a_partitions_arrivals_in_order(daemon: Daemons) -> None:
    a, b = daemon(), daemon()
    a.heartbeat()
    a.ingest([[{"event_id": "e1", "user_id": "u", "event": "x", "time": T0}]], T0 + 10)
    # b's clock is 10 s behind: its event still arrives after a's
    assert b.ingest([[{"event_id": "e2", "user_id": "u", "event": "x", "time": T0},
                      {"event_id": "e1", "user_id": "u", "event": "x", "time": T0}],
                     [{"user_id": "u", "event": "y", "time": T0}]], T0) == [(1, 1), (1, 0)]
    seen = []
    with a.batch():
        while (row := a.next_event(T0 + 20)) is not None:
            seen.append((row.event_id, row.received_at))
            a.set_aside(row, "seen", T0 + 20)
    assert seen == [("e1", T0 + 10), ("e2", T0 + 10), (None, T0 + 10)]


def test_one_batch_the_store_refuses_fails_alone(daemon: Daemons) -> None:
    a = daemon()
    a.heartbeat()
    good = [{"event_id": "e1", "user_id": "u", "event": "x", "time": T0}]
    bad = [{"event_id": "e2", "user_id": "u\x00", "event": "x", "time": T0}]  # NUL: no text
    results = a.ingest([good, bad, good], T0)
    assert results[0] == (1, 0) and results[2] == (0, 1)
    assert isinstance(results[1], psycopg.DataError) and not is_store_failure(results[1])
    assert a.pending(T0)["events"] == 1


def test_two_daemons_never_claim_one_message_and_a_dead_ones_claims_lapse(
        daemon: Daemons) -> None:
    a, b = daemon(lease=0.5), daemon()
    a.heartbeat()
    b.heartbeat()
    state, _ = a.load_user("u", new_state)
    a.commit(state, [], [message(f"k{n}") for n in range(3)], at=T0, now=T0, serial=1)
    first = a.due_messages(T0, {"email": 1}, [])
    rest = b.due_messages(T0, {"email": 10}, [])
    assert [r.idempotency_key for r in first] == ["k0"]
    assert [r.idempotency_key for r in rest] == ["k1", "k2"]
    assert a.due_messages(T0, {"email": 10}, [first[0].id]) == []  # b's claims: b is alive
    b.record_deliveries([Delivery(rest[0].id, "pending", 1, retry_at=T0)], T0)  # let go
    assert [r.idempotency_key for r in a.due_messages(T0, {"email": 10}, [first[0].id])] == [
        "k1"]
    # a dies (no heartbeat): b has its own claim (k2) at once, and a's once a's heartbeat lapses
    assert [r.idempotency_key for r in b.due_messages(T0, {"email": 10}, [])] == ["k2"]

    def all_of_them() -> list[str]:
        b.heartbeat()
        keys = [r.idempotency_key for r in b.due_messages(T0, {"email": 10}, [])]
        return keys if len(keys) == 3 else []

    assert wait_for(all_of_them) == ["k0", "k1", "k2"]


def test_a_tick_is_recorded_once_by_two_daemons_and_delivered_per_partition(
        daemon: Daemons) -> None:
    a, b = daemon(), daemon()
    a.start_ticks("j", T0)
    b.start_ticks("j", T0)
    held = settle(a, b)
    start = threading.Barrier(2)
    recorded: list[bool] = []

    def fire(runtime: PgRuntime) -> None:
        start.wait()
        recorded.append(runtime.schedule_tick("j", T0 + 60))

    threads = [threading.Thread(target=fire, args=(d,)) for d in (a, b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recorded) == [False, True]
    for runtime, parts in zip((a, b), held, strict=True):
        delivered = set()
        with runtime.batch():
            while (tick := runtime.next_tick(T0 + 60)) is not None:
                assert tick.set_at == T0
                delivered.add(tick.part)
                runtime.tick_progress(tick, None)
        assert delivered == parts


def test_a_profile_upsert_and_the_engines_profile_change_are_both_kept(
        daemon: Daemons) -> None:
    a, b = daemon(), daemon()
    a.heartbeat()
    a.upsert_profiles([{"user_id": "u", "plan": {"tier": "free", "seats": 1}}], T0)
    with a.batch():
        state, _ = a.load_user("u", new_state)
        # the engine runs an identify and an `update` step on the profile it loaded...
        state.profile.update(name="Ann")
        state.profile["plan"]["tier"] = "gold"
        effects = [fx.ProfileUpdated("u", {"name": "Ann"}, T0),
                   fx.ProfileUpdated("u", {"plan.tier": "gold"}, T0, "j")]
        # ...while another daemon's API upserts the same user (committed before a's commit)
        b.upsert_profiles([{"user_id": "u", "email": "ann@x", "plan": {"seats": 5}}], T0 + 1)
        a.commit(state, effects, [], at=T0, now=T0 + 2, serial=1, profile_changed=True)
    assert b.profile("u") == {"name": "Ann", "email": "ann@x",
                              "plan": {"tier": "gold", "seats": 5}}


def test_an_upsert_waits_for_a_batch_holding_the_profile_then_merges_into_it(
        daemon: Daemons) -> None:
    a, b = daemon(), daemon()
    a.heartbeat()
    done = threading.Event()

    def upsert() -> None:
        b.upsert_profiles([{"user_id": "v", "email": "v@x"}], T0 + 1)
        done.set()

    with a.batch():
        state, _ = a.load_user("v", new_state)
        a.commit(state, [fx.ProfileUpdated("v", {"name": "Vi"}, T0)], [], at=T0, now=T0,
                 serial=1, profile_changed=True)
        backend = b.store.connection().info.backend_pid
        thread = threading.Thread(target=upsert)
        thread.start()
        wait_for(lambda: waits_on_a_lock(a.store.url, backend))  # the row a's batch holds
        assert not done.is_set()
    thread.join()
    assert a.profile("v") == {"name": "Vi", "email": "v@x"}


# --- what a batch keeps of its pending inputs ---------------------------------------------------


class Statements:
    """A runtime's connection, counting the statements run through it that contain `text`."""

    def __init__(self, runtime: PgRuntime, monkeypatch: pytest.MonkeyPatch) -> None:
        self.conn = runtime.store.connection()
        self.sql: list[str] = []
        monkeypatch.setattr(runtime, "_conn", lambda: self)

    def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
        self.sql.append(query)
        return self.conn.execute(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def count(self, text: str) -> int:
        return sum(text in query for query in self.sql)


def event(event_id: str, user: str) -> list[list[dict[str, Any]]]:
    return [[{"event_id": event_id, "user_id": user, "event": "x", "time": T0}]]


def run(runtime: PgRuntime, row: InboxRow, effects: list[Any] | None = None) -> None:
    """Commit `row` as the engine would (its transition changed nothing but `effects`)."""
    state, _ = runtime.load_user(row.user_id, new_state)
    runtime.commit(state, effects or [], [], at=row.received_at, now=T0 + 100, serial=1,
                   inbox_seq=row.seq)


def drain(runtime: PgRuntime) -> list[str | None]:
    """One batch: every event it finds, run in turn; their ids."""
    seen = []
    with runtime.batch():
        while (row := runtime.next_event(T0 + 100)) is not None:
            seen.append(row.event_id)
            run(runtime, row)
    return seen


def test_a_batch_reads_its_events_a_page_at_a_time_and_new_ones_run_in_the_next(
        daemon: Daemons, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_inbox, "PAGE", 3)
    a, b = daemon(), daemon()
    a.heartbeat()
    u, v = user_in(0), user_in(1)
    for n in range(7):  # arriving a second apart, alternately for u and v
        a.ingest(event(f"e{n}", u if n % 2 else v), T0 + n)
    statements = Statements(a, monkeypatch)
    seen = []
    with a.batch():
        while (row := a.next_event(T0 + 100)) is not None:
            seen.append(row.event_id)
            if row.event_id == "e1":  # another daemon, its clock behind: after u's e5 all the
                b.ingest(event("mid-u", u), T0)  # same, in the next page
            if row.event_id == "e6":  # after the last page (short): in the next batch
                b.ingest(event("late-u", u) + event("late-v", v), T0)
            assert a.next_event(T0 + 100) == row  # the same until it runs
            run(a, row)
    assert seen == ["e0", "e1", "e2", "e3", "e4", "e5", "mid-u", "e6"]
    assert statements.count("FROM inbox WHERE processed_at IS NULL") == 3  # 3 + 3 + 2 (short)
    assert drain(a) == ["late-u", "late-v"]


def test_a_batch_that_fails_forgets_what_it_ran(daemon: Daemons) -> None:
    a = daemon()
    a.heartbeat()
    a.ingest(event("e1", "u") + event("e2", "u"), T0)
    with pytest.raises(RuntimeError), a.batch():
        row = a.next_event(T0)
        assert row is not None
        run(a, row)
        raise RuntimeError("an input broke: the batch rolls back")
    assert drain(a) == ["e1", "e2"]


def test_an_unreadable_event_of_a_page_is_set_aside(daemon: Daemons) -> None:
    a = daemon()
    a.heartbeat()
    a.ingest(event("bad", "u") + event("good", "u"), T0)
    with a.store.connection().transaction():  # (not JSON)
        a.store.connection().execute("UPDATE inbox SET properties = '\\xff' "
                                     "WHERE event_id = 'bad'")
    assert drain(a) == ["good"]
    assert a.pending(T0)["set_aside"] == 1


def test_a_timer_the_batch_sets_is_not_missed_nor_one_it_cancels_run(
        daemon: Daemons, monkeypatch: pytest.MonkeyPatch) -> None:
    a = daemon()
    a.heartbeat()
    a.ingest(event("e1", "u"), T0)
    statements = Statements(a, monkeypatch)
    with a.batch():
        assert a.next_timer(T0) is None and a.next_timer(T0 + 1) is None
        assert statements.count("FROM timers") == 1  # none at all: not asked again
        row = a.next_event(T0)
        assert row is not None
        run(a, row, [fx.SetTimer("u", "w", 1, T0 + 5), fx.SetTimer("u", "gone", 1, T0 + 4),
                     fx.CancelTimer("u", "gone")])
        assert a.next_timer(T0 + 3) is None
        timer = a.next_timer(T0 + 5)  # set by the batch itself: due now
        assert timer is not None and (timer.key, timer.due) == ("w", T0 + 5)
        state, _ = a.load_user("u", new_state)
        a.commit(state, [], [], at=timer.due, now=T0 + 5, serial=1, timer=timer)  # fired
        assert a.next_timer(T0 + 10) is None


def test_a_tick_progressed_in_the_batch_is_not_served_again(
        daemon: Daemons, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = daemon(), daemon()
    a.heartbeat()
    a.start_ticks("j", T0)
    a.schedule_tick("j", T0 + 60)
    statements = Statements(a, monkeypatch)
    delivered = []
    with a.batch():
        first = a.next_tick(T0 + 60)
        assert first is not None
        a.tick_progress(first, "u5")
        assert a.next_tick(T0 + 60) == replace(first, after="u5")
        b.start_ticks("k", T0)  # recorded by another daemon meanwhile: from the next batch on
        assert b.schedule_tick("k", T0 + 30)
        while (tick := a.next_tick(T0 + 60)) is not None:
            assert tick.journey == "j" and tick.part not in delivered
            delivered.append(tick.part)
            a.tick_progress(tick, None)
    assert sorted(delivered) == sorted(ALL)
    assert statements.count("FROM tick_parts") == 1
    with a.batch():
        tick = a.next_tick(T0 + 60)
        assert tick is not None and (tick.journey, tick.at) == ("k", T0 + 30)


# --- the server going away ---------------------------------------------------------------------


@pytest.mark.e2e  # stops and starts the session's PostgreSQL server (pg_ctl)
def test_after_the_server_restarts_the_next_call_reconnects(
        daemon: Daemons, pg_cluster: postgres.Cluster) -> None:
    a = daemon()
    assert set(a.heartbeat().parts) == ALL
    a.ingest([[{"event_id": "e1", "user_id": "u", "event": "x", "time": T0}]], T0)
    pg_cluster.stop()
    try:
        with pytest.raises(psycopg.Error) as gone:
            a.ingest([[{"event_id": "e2", "user_id": "u", "event": "x", "time": T0}]], T0)
        assert is_store_failure(gone.value)
        with pytest.raises(psycopg.Error) as still:  # and while it is down
            a.heartbeat()
        assert is_store_failure(still.value)
    finally:
        pg_cluster.start()
    assert set(a.heartbeat().parts) == ALL
    assert a.ingest([[{"event_id": "e2", "user_id": "u", "event": "x", "time": T0}]], T0) == [
        (1, 0)]
    assert a.pending(T0)["events"] == 2
