"""Reliability over real sockets and a real state: kill -9 under load (SQLite and PostgreSQL),
provider faults.

kill -9 at random moments while a client posts events (retrying what was not acknowledged, as
any client must): every acknowledged event is processed exactly once, every message the engine
emitted is delivered, and a provider call is repeated only when the daemon died between the
provider's acceptance and our commit — with the same idempotency key. The test counts repeats.
"""

from __future__ import annotations

import collections
import random
import time
from pathlib import Path

import httpx
import pytest

from channel_adapters.fake import FakeProvider, Response
from channel_adapters.fake_faults import Fault
from tests.support.harness import (
    PATHS,
    SQLITE_ONLY,
    Client,
    Served,
    State,
    apply,
    project_copy,
    rows,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

KILLS = 3


def test_kill_9_under_load_loses_nothing_and_repeats_rarely(tmp_path: Path,
                                                            state: State) -> None:
    project = project_copy(tmp_path)
    apply(project, state)
    rng = random.Random(3)
    # on PostgreSQL the restarted daemon takes the dead one's partitions once its leases
    # lapse: a short lease, so the test does not wait 10 s per kill
    args = () if isinstance(state, Path) else ("--lease", "2")
    with FakeProvider() as fake:
        # every user has an email address (welcome) and the CRM gets every purchase (receipt)
        profiles = [{"user_id": f"u{b:03}-{i}", "email": f"u{b}-{i}@example.com",
                     "consent": {"email": True}} for b in range(60) for i in range(10)]
        current = [Served(project, state, fake.url, args=args)]
        assert current[0].post("/v1/profiles", {"profiles": profiles}).status_code == 200
        client = Client(current, batches=60)
        client.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.0))
            current[0].kill()
            current[0] = Served(project, state, fake.url, args=args)
        client.join(120)
        assert client.failure is None, client.failure
        wait_until(lambda: rows(state, "SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at "
                                       "IS NULL) + (SELECT COUNT(*) FROM timers) + (SELECT "
                                       "COUNT(*) FROM outbox WHERE status = 'pending')")
                   == [(0,)], timeout=60)
        current[0].stop()
        email = fake.received(PATHS["email"])
        crm = fake.received(PATHS["crm"])

    # every acknowledged event is in the inbox once, processed
    stored = rows(state, "SELECT event_id, processed_at IS NOT NULL FROM inbox")
    assert len(client.acknowledged) == 1200
    assert {e for e, _ in stored} == client.acknowledged
    assert all(done for _, done in stored)
    # the engine ran each exactly once: one welcome per signup, one receipt per purchase
    outbox = rows(state, "SELECT step, status, idempotency_key FROM outbox")
    steps = collections.Counter(step for step, _, _ in outbox)
    assert steps["hello"] == 600 and steps["notify_crm"] == 600
    assert {status for _, status, _ in outbox} == {"sent"}
    # every message reached its provider; repeats only with the same idempotency key
    crm_keys = collections.Counter(r.headers["idempotency-key"] for r in crm)
    assert set(crm_keys) == {key for step, _, key in outbox if step == "notify_crm"}
    welcome = collections.Counter(r.json()["personalizations"][0]["to"][0]["email"]
                                  for r in email if r.json()["subject"].startswith("환영"))
    assert len(welcome) == 600
    repeats = sum(n - 1 for n in crm_keys.values()) + sum(n - 1 for n in welcome.values())
    print(f"\n{KILLS} kills, {client.retries} client retries, {repeats} repeated provider "
          f"calls out of {len(outbox)} messages")
    assert repeats <= 0.05 * len(outbox)


@SQLITE_ONLY  # the providers' faults and the channels' independence, not the store (slow)
def test_provider_faults_do_not_block_other_channels(tmp_path: Path, state: State) -> None:
    """429 with Retry-After, 5xx, a provider slower than the timeout, connection refused, and
    a permanent refusal that falls back to the next channel."""
    project = project_copy(tmp_path)
    apply(project, state)
    with FakeProvider() as fake, FakeProvider() as crm_host:
        crm_host.inject(Fault(refuse=True, duration=600))  # the CRM is down all along
        fake.queue(PATHS["email"], Response(429, {"errors": [{"message": "slow down"}]},
                                            {"Retry-After": "1"}))
        fake.queue(PATHS["sms"], Response(500, "oops"), Response(503, "busy"))
        fake.queue(PATHS["push"], Response(200, {"name": "slow"}, delay=3),
                   Response(400, {"error": {"status": "INVALID_ARGUMENT",
                                            "message": "bad token"}}))
        wait_until(lambda: refused(crm_host.url))
        with Served(project, state, [fake.url, f"crm={crm_host.url}/hooks/journeyctl"]) as served:
            served.post("/v1/profiles", {"profiles": [
                {"user_id": "v", "name": "서연", "email": "v@example.com", "phone": "+821000000001",
                 "vip": True, "consent": {"email": True, "sms": True}},
                {"user_id": "p1", "email": "p1@example.com", "push_token": "t1",
                 "consent": {"email": True, "push": True}},
                {"user_id": "p2", "email": "p2@example.com", "push_token": "t2",
                 "consent": {"email": True, "push": True}}]})
            served.post("/v1/events", {"events": [
                {"event_id": "b", "user_id": "v", "event": "purchase",
                 "timestamp": time.time(), "properties": {"amount": 1.0}},
                *({"event_id": f"s-{u}", "user_id": u, "event": "signup",
                   "timestamp": time.time()} for u in ("v", "p1", "p2"))]})

            def status(user: str, step: str) -> list[tuple]:
                return rows(state, "SELECT channel, status, attempts, error FROM outbox "
                                   "WHERE user_id = ? AND step = ? ORDER BY id", user, step)

            # the CRM is down (connection refused): the others go on. One of the three welcome
            # emails (whichever reached the provider first) got the 429 with Retry-After: 1 s,
            # then was accepted: none held up behind the CRM
            def hellos() -> list[tuple]:
                return [row for user in ("v", "p1", "p2") for row in status(user, "hello")]

            wait_until(lambda: len(hellos()) == 3 and all(h[1] == "sent" for h in hellos()),
                       timeout=4)
            assert sorted(h[2] for h in hellos()) == [1, 1, 2]
            wait_until(lambda: status("v", "vip_sms") and status("v", "vip_sms")[0][1] ==
                       "sent", timeout=15)
            assert status("v", "vip_sms")[0][2] == 3  # 500, 503, accepted
            # the CRM message is not failed after its 3 quick attempts: it waits in the outbox
            # and is tried again (the outage test has it delivered once the CRM is back)
            wait_until(lambda: status("v", "notify_crm")[0][2] > 3, timeout=30)
            crm = status("v", "notify_crm")[0]
            assert crm[1] == "pending" and "connect" in crm[3].lower()
            # one push timed out then went through; the other was refused for good (400) and
            # fell back to email
            wait_until(lambda: len(status("p1", "nudge")) + len(status("p2", "nudge")) == 3 and
                       all(s[1] in ("sent", "failed") for s in status("p1", "nudge") +
                           status("p2", "nudge")), timeout=15)
            nudges = sorted(status("p1", "nudge") + status("p2", "nudge"))
            assert [(c, s) for c, s, _, _ in nudges] == [("email", "sent"), ("push", "failed"),
                                                         ("push", "sent")]
            failed = next(n for n in nudges if n[1] == "failed")
            assert "bad token" in failed[3]
            fallback = [r.json() for r in fake.received(PATHS["email"])
                        if r.json()["subject"] == "Anything we can help with?"]
            assert len(fallback) == 1


def refused(url: str) -> bool:
    try:
        httpx.post(url + "/probe", json={}, timeout=5)
    except httpx.ConnectError:
        return True
    return False
