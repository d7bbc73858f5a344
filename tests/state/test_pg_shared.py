"""A PostgreSQL state shared by several daemons: an outcome is recorded only by the daemon
that still holds the message's claim; a daemon holding a single partition runs it."""

from __future__ import annotations

from journeyctl.engine.state import new_state
from journeyctl.state.base import Delivery
from tests.state.test_pg_runtime import Daemons, daemon, location, message, wait_for
from tests.state.test_stores import T0

__all__ = ["daemon", "location"]  # the fixtures, used by name


def test_a_daemon_whose_claim_lapsed_records_nothing_and_adds_no_fallback(
        daemon: Daemons) -> None:
    slow, other = daemon(lease=0.5), daemon()
    slow.heartbeat()
    state, _ = slow.load_user("u", new_state)
    slow.commit(state, [], [message("k0")], at=T0, now=T0, serial=1)
    (mine,) = slow.due_messages(T0, {"email": 1}, [])
    # `slow` pauses past its lease: `other` takes the message over and sends it
    claimed = wait_for(lambda: other.heartbeat() and other.due_messages(T0, {"email": 1}, []))
    assert [r.id for r in claimed] == [mine.id]
    other.record_deliveries([Delivery(mine.id, "sent", 1, provider_id="p-1")], T0 + 1)
    # `slow` comes back with its own outcome: refused for good, with a fallback to send
    fallback = {**message("k0#fallback"), "channel": "sms"}
    slow.record_deliveries([Delivery(mine.id, "failed", 1, error="400", follow_up=fallback)],
                           T0 + 2)
    rows = other.store.connection().execute(
        "SELECT idempotency_key, status, provider_id FROM outbox ORDER BY id").fetchall()
    assert rows == [("k0", "sent", "p-1")]  # no second outcome, no fallback


def test_the_claim_holder_records_its_outcome(daemon: Daemons) -> None:
    one = daemon()
    one.heartbeat()
    state, _ = one.load_user("u", new_state)
    one.commit(state, [], [message("k0")], at=T0, now=T0, serial=1)
    (mine,) = one.due_messages(T0, {"email": 1}, [])
    fallback = {**message("k0#fallback"), "channel": "sms"}
    one.record_deliveries([Delivery(mine.id, "failed", 1, error="400", follow_up=fallback)], T0)
    rows = one.store.connection().execute(
        "SELECT idempotency_key, status, claimed_by FROM outbox ORDER BY id").fetchall()
    assert rows == [("k0", "failed", None), ("k0#fallback", "pending", None)]


def test_a_daemon_holding_one_partition_runs_its_events(daemon: Daemons) -> None:
    """(One partition of 32 is what a daemon holds among 32, or for a moment while the
    partitions move: the page of events is then one branch, not a merge.)"""
    from journeyctl.state.partitions import partition_of

    one = daemon()
    held = set(one.heartbeat().parts)
    part = partition_of("u", 32)
    conn = one.store.connection()
    conn.execute("UPDATE leases SET owner = NULL WHERE part <> %s", [part])
    one.ingest([[{"event_id": "e1", "user_id": "u", "event": "signup", "time": T0}]], T0)
    assert part in held
    with one.batch():
        row = one.next_event(T0)
    assert row is not None and row.user_id == "u"
