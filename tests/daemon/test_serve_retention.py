"""The store does not grow without bound (issue 11, item 10): a real `journeyctl serve` prunes
processed events and finished messages older than the project's `retention`, in small batches,
and keeps pending work; a repeated event_id inside the window is still a duplicate.

The daemon has no clock a test can move, and `retention` is at least a minute: the test ages
rows instead, moving their timestamps back in the state (SQLite and PostgreSQL) while the
daemon runs — to the pruner that is the same as the time passing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from test_serve_outage import metric

from channel_adapters.fake import FakeProvider
from channel_adapters.fake_faults import Fault
from tests.support.harness import Served, State, apply, execute, project_copy, rows, wait_until

pytestmark = pytest.mark.e2e  # every test here starts a process

JOURNEYS = {
    "mailer": "journey: mailer\nstatus: active\ntrigger: {event: signup}\nsteps:\n"
              "  - id: mail\n    send: {channel: email, template: welcome_email, "
              "category: transactional}\n",
    "texter": "journey: texter\nstatus: active\ntrigger: {event: purchase}\nsteps:\n"
              "  - id: text\n    send: {channel: sms, template: vip_sms, "
              "category: transactional}\n",
}
MINUTE = 60.0


def retention_project(tmp_path: Path, state: State) -> tuple[Path, State]:
    root = project_copy(tmp_path)
    for name in ("welcome.yaml", "receipt.yaml"):
        (root / "journeys" / name).unlink()
    for name, text in JOURNEYS.items():
        (root / "journeys" / f"{name}.yaml").write_text(text, encoding="utf-8")
    with (root / "journeyctl.yaml").open("a", encoding="utf-8") as settings:
        settings.write("retention: {events: 1h, messages: 2h}\n")
    apply(root, state)
    return root, state


def age(state: State, sql: str, *args: object) -> None:
    """Move rows' timestamps back (an UPDATE of the running daemon's state, committed)."""
    execute(state, sql, *args)


def event_ids(state: State) -> set[str]:
    return {r[0] for r in rows(state, "SELECT event_id FROM inbox")}


def signup(served: Served, user: int) -> dict:
    response = served.post("/v1/events", {"event_id": f"s{user}", "user_id": f"u{user}",
                                          "event": "signup", "timestamp": time.time()})
    assert response.status_code == 202, response.text
    return response.json()


def test_old_finished_rows_are_pruned_and_pending_ones_stay(tmp_path: Path,
                                                           state: State) -> None:
    project, state = retention_project(tmp_path, state)
    with FakeProvider() as fake, FakeProvider() as down, \
            Served(project, state, [fake.url, f"sms={down.url}"]) as served:
        down.inject(Fault(fail=503))  # sms never gets through: its message stays pending
        served.post("/v1/profiles", {"profiles": [
            {"user_id": f"u{i}", "email": f"u{i}@example.com", "phone": f"+8210000000{i:02}",
             "name": "민지", "consent": {"email": True, "sms": True}} for i in range(11)]})
        for user in range(10):
            signup(served, user)
        served.post("/v1/events", {"event_id": "p0", "user_id": "u0", "event": "purchase",
                                   "timestamp": time.time(), "properties": {"amount": 1}})
        wait_until(lambda: rows(state, "SELECT status, COUNT(*) FROM outbox GROUP BY status "
                                       "ORDER BY status") == [("pending", 1), ("sent", 10)],
                   timeout=60)
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL")
                   == [(0,)])
        (sms,) = rows(state, "SELECT id FROM outbox WHERE channel = 'sms'")[0]
        (last_message,) = rows(state, "SELECT MAX(id) FROM outbox")[0]

        # 90 minutes pass for everything so far, but s9 arrived 30 minutes ago
        age(state, "UPDATE inbox SET received_at = received_at - ?, processed_at = "
                   "processed_at - ?", 90 * MINUTE, 90 * MINUTE)
        age(state, "UPDATE inbox SET received_at = received_at + ?, processed_at = "
                   "processed_at + ? WHERE event_id = 's9'", 60 * MINUTE, 60 * MINUTE)
        age(state, "UPDATE outbox SET created_at = created_at - ?, updated_at = updated_at - ?",
            90 * MINUTE, 90 * MINUTE)
        signup(served, 10)  # a fresh one

        # events past `events: 1h` are pruned; s9 (30 min) and s10 (fresh) stay
        wait_until(lambda: event_ids(state) == {"s9", "s10"}, timeout=30)
        assert metric(served, 'journeyctl_pruned_total{kind="events"}') == 10

        # inside the window a repeat is still a duplicate, however old the first
        assert signup(served, 9) == {"accepted": 0, "duplicates": 1, "rejected": []}
        assert signup(served, 10) == {"accepted": 0, "duplicates": 1, "rejected": []}

        # s9 passes the hour too, and goes: a pruning run has finished since the messages
        # were aged 90 minutes, and they are all still there (`messages: 2h`)
        age(state, "UPDATE inbox SET received_at = received_at - ?, processed_at = "
                   "processed_at - ? WHERE event_id = 's9'", 60 * MINUTE, 60 * MINUTE)
        wait_until(lambda: event_ids(state) == {"s10"}, timeout=30)
        assert rows(state, "SELECT COUNT(*) FROM outbox WHERE id <= ?",
                    last_message) == [(11,)]
        # after the window an event id is forgotten: the same id is a new event
        assert signup(served, 0) == {"accepted": 1, "duplicates": 0, "rejected": []}

        # another hour: the finished messages go; the pending one stays, however old
        age(state, "UPDATE outbox SET created_at = created_at - ?, updated_at = updated_at - ? "
                   "WHERE id <= ?", 60 * MINUTE, 60 * MINUTE, last_message)
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM outbox WHERE id <= ?",
                                last_message) == [(1,)], timeout=30)
        assert rows(state, "SELECT id, status FROM outbox WHERE id <= ?",
                    last_message) == [(sms, "pending")]
        assert metric(served, 'journeyctl_pruned_total{kind="messages"}') == 10
        # the fresh signup's message is kept, and its user's history shows it
        messages = served.get("/v1/users/u10").json()["messages"]
        assert [m["status"] for m in messages] == ["sent"]
        assert served.get("/v1/users/u1").json()["messages"] == []
        assert served.get("/healthz").json()["status"] in ("ok", "degraded")  # sms is down
    assert served.process.returncode == 0
