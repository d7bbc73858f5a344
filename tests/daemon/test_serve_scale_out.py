"""Several daemons on one PostgreSQL state (docs/scale-out.md), over real sockets, a real
PostgreSQL server and real `journeyctl serve` processes:

- three daemons, events posted round-robin, send what one daemon on SQLite sends, and what
  `simulate` sends on the same log, at the same moments;
- kill -9 of one of three under load: its partitions are taken over, every acknowledged event
  is processed once, every message delivered; repeats (the at-least-once repeat, with the
  same idempotency key) are counted;
- PostgreSQL killed under load: the daemons say unhealthy, ingest answers 503, and everything
  resumes by itself once it is back, nothing lost.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.state import codec
from tests.support import postgres, run_cli
from tests.support.harness import (
    PATHS,
    Client,
    Served,
    State,
    apply,
    profiles,
    project_copy,
    rows,
    schedule,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts processes

LEASE = "2"  # seconds: a short lease, so a takeover is quick to see


def held(served: Served) -> dict[str, Any] | None:
    try:
        answer = served.get("/healthz")
    except httpx.TransportError:
        return None
    return answer.json().get("partitions") if answer.status_code == 200 else None


def balanced(daemons: list[Served], count: int = 32) -> bool:
    """Every partition held, by exactly one of `daemons`, each holding its share."""
    answers = [held(d) for d in daemons]
    if any(a is None or a["daemons"] != len(daemons) for a in answers):
        return False
    parts = [p for a in answers for p in a["held"]]  # type: ignore[index]
    share = -(-count // len(daemons))
    return sorted(parts) == list(range(count)) and all(
        0 < len(a["held"]) <= share for a in answers)  # type: ignore[index]


@contextmanager
def daemons(project: Path, state: State, fake: FakeProvider, count: int,
            *args: str) -> Iterator[list[Served]]:
    with ExitStack() as stack:
        started = [stack.enter_context(Served(project, state, fake.url, args=args))
                   for _ in range(count)]
        wait_until(lambda: balanced(started), timeout=30)
        yield started


def finished(state: State) -> bool:
    return rows(state, "SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL) + "
                       "(SELECT COUNT(*) FROM timers) + (SELECT COUNT(*) FROM outbox WHERE "
                       "status = 'pending')") == [(0,)]


def sent_messages(state: State) -> list[tuple[Any, ...]]:
    """(user, journey, step, channel, template, the engine's time) of every message but the
    fallbacks, sorted."""
    return sorted((u, j, s, c, t, codec.loads(p)["time"]) for u, j, s, c, t, p, k in rows(
        state, "SELECT user_id, journey, step, channel, template, payload, idempotency_key "
               "FROM outbox") if "#fallback" not in k)


def simulated(tmp_path: Path, project: Path, state: State, users: list[dict],
              name: str) -> list[tuple[Any, ...]]:
    """The events as the state received them, stamped with their arrival, through
    `simulate`: its messages, as `sent_messages`."""
    arrived = rows(state, "SELECT event_id, user_id, name, properties, received_at FROM inbox "
                          "ORDER BY received_at, seq")
    events = tmp_path / f"{name}-events.jsonl"
    events.write_text("".join(json.dumps({
        "event_id": e, "user_id": u, "event": n, "properties": codec.loads(p), "timestamp": t})
        + "\n" for e, u, n, p, t in arrived), encoding="utf-8")
    profile_file = tmp_path / f"{name}-profiles.jsonl"
    profile_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in users),
                            encoding="utf-8")
    until = dt.datetime.fromtimestamp(arrived[-1][4] + 60, dt.UTC).isoformat()
    out = tmp_path / f"{name}-messages.jsonl"
    done = run_cli("simulate", project, "--events", events, "--profiles", profile_file,
                   "--messages", out, "--until", until)
    assert done.returncode == 0, done.stderr
    return sorted((m["user_id"], m["journey"], m["step"], m["channel"], m["template"],
                   dt.datetime.fromisoformat(m["time"]).timestamp())
                  for m in map(json.loads, out.read_text(encoding="utf-8").splitlines()))


def same(daemon: list[tuple[Any, ...]], simulator: list[tuple[Any, ...]]) -> None:
    assert [m[:5] for m in daemon] == [m[:5] for m in simulator]
    # the same moments too (--messages writes milliseconds)
    assert all(abs(s[5] - d[5]) <= 0.001 for s, d in zip(simulator, daemon, strict=True))


def test_three_daemons_on_postgresql_send_what_one_on_sqlite_and_simulate_send(
        tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(7)
    project = project_copy(tmp_path)
    single_state = tmp_path / "state.db"
    shared = f"{pg_url}?schema=journeys"
    apply(project, single_state)
    apply(project, shared)
    users = profiles(rng, 40)
    plan = schedule(rng, users)
    with FakeProvider() as fake, Served(project, single_state, fake.url) as single, \
            daemons(project, shared, fake, 3) as three:
        for served in (single, three[0]):
            assert served.post("/v1/profiles", {"profiles": users}).status_code == 200
        start = time.monotonic()
        for n, (at, event) in enumerate(plan):
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for served in (single, three[n % 3]):  # the same log, round-robin on PostgreSQL
                ack = served.post("/v1/events", {**event, "timestamp": time.time()})
                assert ack.status_code == 202, ack.text
        wait_until(lambda: finished(single_state) and finished(shared), timeout=30)
        delivered = collections.Counter(r.path for r in fake.received())
        # each daemon ran some of the users: the work was shared
        ran = [d.get("/metrics").text for d in three]
        assert all("journeyctl_partitions_held " in text for text in ran)

    on_sqlite, on_postgresql = sent_messages(single_state), sent_messages(shared)
    assert len(on_sqlite) > 60
    # the same messages (users, journeys, steps, channels, templates) from both stores...
    assert [m[:5] for m in on_sqlite] == [m[:5] for m in on_postgresql]
    # ...each exactly what simulate sends on the log as that store received it
    same(on_sqlite, simulated(tmp_path, project, single_state, users, "sqlite"))
    same(on_postgresql, simulated(tmp_path, project, shared, users, "postgresql"))
    # every message reached the provider once: both stores' messages, no repeat
    for state in (single_state, shared):
        assert rows(state, "SELECT DISTINCT status FROM outbox") == [("sent",)]
    outbox = collections.Counter(
        PATHS[c] for state in (single_state, shared)
        for (c,) in rows(state, "SELECT channel FROM outbox"))
    assert delivered == outbox


def check_nothing_lost(state: State, client: Client, fake: FakeProvider,
                       users: int) -> int:
    """Every acknowledged event processed once, every message delivered; the number of
    provider calls repeated (same idempotency key)."""
    stored = rows(state, "SELECT event_id, processed_at IS NOT NULL FROM inbox")
    assert len(client.acknowledged) == 2 * users
    assert {e for e, _ in stored} == client.acknowledged
    assert all(done for _, done in stored)
    outbox = rows(state, "SELECT step, status, idempotency_key FROM outbox")
    steps = collections.Counter(step for step, _, _ in outbox)
    assert steps["hello"] == users and steps["notify_crm"] == users
    assert {status for _, status, _ in outbox} == {"sent"}
    crm_keys = collections.Counter(r.headers["idempotency-key"]
                                   for r in fake.received(PATHS["crm"]))
    assert set(crm_keys) == {key for step, _, key in outbox if step == "notify_crm"}
    welcome = collections.Counter(r.json()["personalizations"][0]["to"][0]["email"]
                                  for r in fake.received(PATHS["email"])
                                  if r.json()["subject"].startswith("환영"))
    assert len(welcome) == users
    return sum(n - 1 for n in crm_keys.values()) + sum(n - 1 for n in welcome.values())


def everyone(batches: int) -> list[dict]:
    return [{"user_id": f"u{b:03}-{i}", "email": f"u{b}-{i}@example.com",
             "consent": {"email": True}} for b in range(batches) for i in range(10)]


def test_kill_9_of_one_of_three_daemons_moves_its_partitions_and_loses_nothing(
        tmp_path: Path, pg_url: str) -> None:
    project = project_copy(tmp_path)
    state = f"{pg_url}?schema=journeys"
    apply(project, state)
    with FakeProvider() as fake, daemons(project, state, fake, 3, "--lease", LEASE) as three:
        assert three[0].post("/v1/profiles", {"profiles": everyone(60)}).status_code == 200
        alive = list(three)
        client = Client(alive, batches=60)
        client.start()
        wait_until(lambda: len(client.acknowledged) >= 200, timeout=30)
        victim = three[1]
        lost = held(victim)
        assert lost is not None and lost["held"]
        alive.remove(victim)
        victim.kill()
        killed = time.monotonic()
        wait_until(lambda: balanced(alive), timeout=60)
        taken_over = time.monotonic() - killed
        client.join(180)
        assert client.failure is None, client.failure
        wait_until(lambda: finished(state), timeout=60)
        repeats = check_nothing_lost(state, client, fake, users=600)
    messages = rows(state, "SELECT COUNT(*) FROM outbox")[0][0]
    print(f"\nkill -9 of 1 of 3 daemons (lease {LEASE} s): its {len(lost['held'])} partitions "
          f"taken over in {taken_over:.1f} s; {client.retries} client retries; {repeats} "
          f"repeated provider calls (same idempotency key) of {messages} messages")
    assert repeats <= 0.05 * messages


def test_postgresql_down_then_back_daemons_say_so_refuse_then_resume(tmp_path: Path) -> None:
    postgres.require()  # (the pg_cluster fixture's rule: skip outside CI, fail in it)
    cluster = postgres.Cluster()  # its own server: this test stops it
    try:
        cluster.start()
        state = f"{cluster.new_database()}?schema=journeys"
        project = project_copy(tmp_path)
        apply(project, state)
        with FakeProvider() as fake, daemons(project, state, fake, 2, "--lease", LEASE) as two:
            assert two[0].post("/v1/profiles", {"profiles": everyone(40)}).status_code == 200
            client = Client(list(two), batches=40, pause=0.1, refusals=True)
            client.start()
            wait_until(lambda: len(client.acknowledged) >= 60, timeout=30)
            cluster.kill()  # an immediate stop: connections cut, as in a crash
            down = time.monotonic()
            for served in two:
                wait_until(lambda s=served: s.get("/healthz").status_code == 503, timeout=30)
            probe = two[0].post("/v1/events", {"event_id": "probe", "user_id": "probe",
                                               "event": "signup", "timestamp": time.time()})
            assert probe.status_code == 503, probe.text
            reason = two[0].get("/healthz").json()["reason"]
            wait_until(lambda: time.monotonic() - down >= 10, timeout=15)  # a 10 s outage
            cluster.start()
            for served in two:
                wait_until(lambda s=served: s.get("/healthz").status_code == 200, timeout=60)
            wait_until(lambda: balanced(two), timeout=30)
            client.join(180)
            assert client.failure is None, client.failure
            wait_until(lambda: finished(state), timeout=60)
            repeats = check_nothing_lost(state, client, fake, users=400)
        print(f"\nPostgreSQL down 10 s: /healthz said {reason!r}; {client.refused} batches "
              f"answered 503 and posted again; {repeats} repeated provider calls")
    finally:
        cluster.remove()


def test_a_store_that_stops_answering_makes_healthz_say_so(tmp_path: Path, pg_url: str) -> None:
    """A heartbeat that hangs (here: blocked by a lock another session holds, as behind a cut
    network) raises no error: its age makes the daemon unhealthy after a lease."""
    import psycopg

    project = project_copy(tmp_path)
    state = f"{pg_url}?schema=journeys"
    apply(project, state)
    with FakeProvider() as fake, daemons(project, state, fake, 1, "--lease", LEASE) as (one,), \
            psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE journeys.daemons IN ACCESS EXCLUSIVE MODE")
        wait_until(lambda: one.get("/healthz").status_code == 503, timeout=30)
        assert "no heartbeat for" in one.get("/healthz").json()["reason"]
        blocker.rollback()  # the store answers again
        wait_until(lambda: one.get("/healthz").status_code == 200, timeout=30)
