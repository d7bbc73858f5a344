"""The daemon keeps going when things fail, and says so: its loops survive store failures (and
/healthz reports them), a channel added by an apply without credentials fails its messages to
their fallbacks instead of looping, and missed schedule ticks coalesce into the latest one
however many were missed. Real `journeyctl serve`, a real state (SQLite and PostgreSQL), the
fake provider over HTTP; the store failures are the store's real errors (a renamed table, a
trigger that aborts)."""

from __future__ import annotations

import datetime as dt
import random
import time
from pathlib import Path

import pytest

from journeyctl.cron import next_tick
from journeyctl.daemon.server import _record_tick, latest_fire
from tests.support.harness import (
    PATHS,
    SQLITE_ONLY,
    Served,
    State,
    apply,
    execute,
    open_core,
    rows,
    scheduled,
    ticks,
    wait_until,
)


def health(served: Served) -> tuple[int, dict]:
    response = served.get("/healthz")
    return response.status_code, response.json()


def logged(served: Served, text: str) -> list[dict]:
    return [r for r in served.logs if text in r.get("message", "")]


def signup(served: Served, user: str) -> None:
    served.post("/v1/profiles", {"profiles": [{"user_id": user, "email": f"{user}@example.com",
                                               "consent": {"email": True}}]})
    response = served.post("/v1/events", {"event_id": f"s-{user}", "user_id": user,
                                          "event": "signup", "timestamp": time.time()})
    assert response.status_code == 202, response.text


@pytest.mark.e2e
def test_the_dispatcher_survives_a_failing_store_and_healthz_says_so(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served:
        parts = 1 if isinstance(state, Path) else 32  # one SQLite file is one partition
        assert health(served) == (200, {"status": "ok", "serial": 1, "partitions": {
            "held": list(range(parts)), "of": parts, "daemons": 1}})
        execute(state, "ALTER TABLE outbox RENAME TO outbox_gone")  # every read now fails
        _, body = wait_until(lambda: (h := health(served))[0] == 503 and h, timeout=10)
        assert body["status"] == "unhealthy"
        assert "the dispatcher failed" in body["reason"]
        assert ("no such table: outbox" if isinstance(state, Path) else
                'relation "outbox" does not exist') in body["reason"]
        execute(state, "ALTER TABLE outbox_gone RENAME TO outbox")
        wait_until(lambda: health(served)[0] == 200, timeout=10)
        # 503 came after 3 failures in a row at least, and more followed while backing off:
        # still one log line, one traceback
        again = logged(served, "the dispatcher works again")
        assert again and int(again[0]["message"].split(" after ")[1].split()[0]) >= 3
        failures = logged(served, "reading the outbox failed")
        assert len(failures) == 1 and "exception" in failures[0]
        assert sum("exception" in r for r in served.logs) == 1
        # the loop went on: a new message is sent
        signup(served, "after")
        wait_until(lambda: fake.received(PATHS["email"]), timeout=10)
    assert served.process.returncode == 0


@pytest.mark.e2e
def break_commits(state: State) -> None:
    """Committing an engine transition (marking the event processed) fails, as when the disk
    is full; so does setting the event aside."""
    if isinstance(state, Path):
        execute(state, "CREATE TRIGGER broken BEFORE UPDATE OF processed_at ON inbox BEGIN "
                       "SELECT RAISE(ABORT, 'injected store failure'); END")
        return
    execute(state, "CREATE FUNCTION broken() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "RAISE EXCEPTION 'injected store failure' USING ERRCODE = 'disk_full'; "
                   "END $$")
    execute(state, "CREATE TRIGGER broken BEFORE UPDATE OF processed_at ON inbox "
                   "FOR EACH ROW EXECUTE FUNCTION broken()")


def mend_commits(state: State) -> None:
    execute(state, "DROP TRIGGER broken" if isinstance(state, Path) else
            "DROP TRIGGER broken ON inbox")


@pytest.mark.e2e
def test_the_engine_loop_survives_a_failing_store_and_loses_nothing(applied, fake) -> None:
    project, state = applied
    break_commits(state)
    with Served(project, state, fake.url) as served:
        signup(served, "u1")
        _, body = wait_until(lambda: (h := health(served))[0] == 503 and h, timeout=10)
        assert "the engine loop failed" in body["reason"]
        assert "injected store failure" in body["reason"]
        # 503 means 3 failures in a row at least: the repeats were not logged again
        assert len(logged(served, "the engine loop failed")) == 1
        assert rows(state, "SELECT COUNT(*) FROM outbox") == [(0,)]
        # the API still answers while the engine is down
        assert served.get("/v1/journeys/welcome").status_code == 200
        mend_commits(state)
        wait_until(lambda: health(served)[0] == 200, timeout=10)
        sent = wait_until(lambda: fake.received(PATHS["email"]), timeout=10)
        assert sent[0].json()["personalizations"][0]["to"][0]["email"] == "u1@example.com"
        assert rows(state, "SELECT COUNT(*) FROM set_aside") == [(0,)]  # nothing lost
        # u1 ran at its arrival time, so its overdue waits have ended it; u2 is in it
        signup(served, "u2")

        def both() -> tuple[dict, dict] | None:
            listed = {j["id"]: j for j in served.get("/v1/journeys").json()["journeys"]}
            one = served.get("/v1/journeys/welcome").json()
            # both read once u1 has ended: it may end between the two requests
            settled = one["active"] == listed["welcome"]["active"] == 1
            return (one, listed["welcome"]) if settled else None

        one, listed = wait_until(both, timeout=5)
        assert one == listed  # one journey, counted on its own, as the list shows it
        assert sum(one["live"]["v1"].values()) == 1
    assert served.process.returncode == 0


@pytest.mark.e2e
@SQLITE_ONLY  # the channels' credentials at reload, not the store (and slow)
def test_an_applied_channel_without_credentials_fails_to_its_fallback(applied, fake) -> None:
    """The start-up check passed; an apply then adds a channel whose variable is not set."""
    project, state = applied
    with Served(project, state, fake.url, env={"CRM2_SECRET": ""}) as served:
        with (project / "channels.yaml").open("a", encoding="utf-8") as channels:
            channels.write("  crm2:\n    adapter: webhook\n"
                           "    base_url: https://crm2.example.com/hooks/journeyctl\n"
                           "    credentials: {secret: env:CRM2_SECRET}\n")
        (project / "templates" / "crm2_purchase.yaml").write_text(
            (project / "templates" / "crm_purchase.yaml").read_text(encoding="utf-8")
            .replace("channel: crm", "channel: crm2"), encoding="utf-8")
        (project / "journeys" / "receipt.yaml").write_text(
            "journey: receipt\nstatus: active\ntrigger:\n  event: purchase\nsteps:\n"
            "  - id: notify_crm\n    send:\n      channel: crm2\n      template: crm2_purchase\n"
            "      category: transactional\n"
            "      fallback: [{channel: crm, template: crm_purchase}]\n", encoding="utf-8")
        apply(project, state)
        wait_until(lambda: logged(served, "applied state serial 2 loaded"), timeout=5)
        for n in range(3):
            response = served.post("/v1/events", {
                "event_id": f"p{n}", "user_id": f"u{n}", "event": "purchase",
                "timestamp": time.time(), "properties": {"amount": 1.0}})
            assert response.status_code == 202
        wait_until(lambda: len(fake.received(PATHS["crm"])) == 3, timeout=10)
        # a welcome email sent after them: the dispatcher has run again since, and a retry
        # loop would have shown itself
        signup(served, "later")
        wait_until(lambda: fake.received(PATHS["email"]), timeout=10)
        outbox = rows(state, "SELECT channel, status, attempts, error FROM outbox ORDER BY id")
        assert health(served)[0] == 200
    failed = [r for r in outbox if r[0] == "crm2"]
    assert [r[:3] for r in failed] == [("crm2", "failed", 0)] * 3  # failed for good, no retry
    assert all("CRM2_SECRET" in r[3] for r in failed)
    assert [r[:2] for r in outbox if r[0] == "crm"] == [("crm", "sent")] * 3  # the fallback
    # one clear error on reload naming the variable; no traceback at all
    errors = [r for r in served.logs if r["level"] == "error"]
    assert len(errors) == 1 and "CRM2_SECRET" in errors[0]["message"]
    assert errors[0]["message"].startswith("applied state serial 2: channel 'crm2'")
    assert not any("exception" in r for r in served.logs)
    assert len(logged(served, "channel crm2 cannot send")) == 1  # not once per message


# --- schedule ticks ----------------------------------------------------------------------------

def brute_latest(expr: str, timezone: str, after: float, now: float) -> float | None:
    """Every fire in turn (what `_record_tick` did)."""
    latest = None
    moment = dt.datetime.fromtimestamp(after, dt.UTC)
    while (fire := next_tick(expr, timezone, moment)) is not None and fire.timestamp() <= now:
        if fire <= moment:  # next_tick repeats itself after a DST fall-back: see latest_fire
            moment += dt.timedelta(seconds=1)
            continue
        latest, moment = fire.timestamp(), fire
    return latest


@pytest.mark.parametrize("expr,timezone", [
    ("* * * * *", "UTC"), ("*/7 9-17 * * 1-5", "Asia/Seoul"), ("30 2 * * *", "Europe/Berlin"),
    ("0 0 29 2 *", "UTC"), ("15 10 1 * *", "America/New_York"), ("* 9 * * *", "UTC")])
def test_latest_fire_is_the_latest_fire_not_after_now(expr: str, timezone: str) -> None:
    rng = random.Random(expr)
    base = 1_780_000_000.0
    for _ in range(25):
        after = base + rng.uniform(-400, 400) * 86400
        now = after + rng.choice([0, 30, 60, 3600, 86400 * 3, 86400 * 40, 86400 * 800]) * \
            rng.random()
        if expr == "* * * * *" and now - after > 86400 * 3:
            now = after + 86400 * 3  # the brute force is the slow part
        assert latest_fire(expr, timezone, after, now) == brute_latest(expr, timezone, after,
                                                                      now), (after, now)
    # the repeated hour of a DST fall-back, where next_tick answers the same instant again
    repeated = 1_761_442_200.0  # 2025-10-26 02:30+01:00
    assert latest_fire("30 2 * * *", "Europe/Berlin", repeated, repeated + 86400 - 1) is None
    assert latest_fire("30 2 * * *", "Europe/Berlin", repeated - 3600,
                       repeated + 86400 * 2) == repeated + 86400 * 2
    fire = 1_780_045_200.0  # 2026-05-29 09:00 UTC: a fire at exactly `now` counts
    assert latest_fire("0 9 * * *", "UTC", fire - 86400, fire) == fire
    assert latest_fire("0 9 * * *", "UTC", fire, fire + 60) is None  # `after` itself does not


@pytest.mark.e2e
def test_a_year_of_missed_minutely_ticks_records_the_latest_quickly(
        tmp_path: Path, state: State, monkeypatch: pytest.MonkeyPatch) -> None:
    from journeyctl.daemon import server

    state = scheduled(tmp_path, "minutely", "* * * * *", state=state)
    core = open_core(state)
    calls = []

    def counted(*args: object) -> object:
        calls.append(args)
        return next_tick(*args)

    monkeypatch.setattr(server, "next_tick", counted)
    try:
        now = 1_780_045_234.5  # 34.5 s past a minute
        core.runtime.start_ticks("minutely", now - 365 * 86400)  # 525,600 fires missed
        assert _record_tick(core, "minutely", now)
        assert len(calls) < 100  # a few dozen, not one per missed fire
        # the latest fire, not the 100,000th after the last one recorded
        assert ticks(state) == [("minutely", now - 34.5, now - 34.5)]
        assert not _record_tick(core, "minutely", now + 1)  # no new fire since: nothing
    finally:
        core.close()
