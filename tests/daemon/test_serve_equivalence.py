"""One engine, two hosts: events posted to a real `serve` in real time, then the same events
(stamped with their arrival times, which is when the daemon processed them) replayed through
`simulate`, give the same messages — same users, steps, channels, templates, and times — and
the same report: `journeyctl report` (the daemon's live counts) equals `simulate --json`."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.state import codec
from tests.support import run_cli
from tests.support.harness import (
    PATHS,
    Served,
    State,
    apply,
    counted,
    profiles,
    project_copy,
    rows,
    schedule,
    state_url,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process


def test_serve_and_simulate_send_the_same_messages(tmp_path: Path, state: State) -> None:
    rng = random.Random(7)
    project = project_copy(tmp_path)
    apply(project, state)
    users = profiles(rng, 40)
    plan = schedule(rng, users)
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        assert served.post("/v1/profiles", {"profiles": users}).status_code == 200
        start = time.monotonic()
        for at, event in plan:
            delay = start + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ack = served.post("/v1/events", {**event, "timestamp": time.time()})
            assert ack.status_code == 202, ack.text
        # everything done: no event waiting, no timer left, no message unsent
        wait_until(lambda: rows(state, "SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at "
                                       "IS NULL) + (SELECT COUNT(*) FROM timers) + (SELECT "
                                       "COUNT(*) FROM outbox WHERE status = 'pending')")
                   == [(0,)], timeout=30)
        delivered = {path: len(fake.received(path)) for path in PATHS.values()}
        served_report = served.get("/v1/journeys/welcome/report").json()
        unknown = served.get("/v1/journeys/nope/report")
        assert unknown.status_code == 404 and "no journey 'nope'" in unknown.json()["error"]
        bad = served.get("/v1/journeys/welcome/report?since=yesterday")
        assert bad.status_code == 400 and "since='yesterday' is not a time" in bad.json()["error"]
        later = served.get("/v1/journeys/welcome/report?since=2099-01-01").json()
        assert later["journeys"]["welcome"]["entered"] == 0
        metrics = served.get("/metrics").text

    daemon = sorted(
        (r[0], r[1], r[2], r[3], r[4], codec.loads(r[5])["time"]) for r in rows(
            state, "SELECT user_id, journey, step, channel, template, payload FROM outbox "
                   "WHERE idempotency_key NOT LIKE '%#fallback%'"))
    assert len(daemon) > 60
    assert rows(state, "SELECT DISTINCT status FROM outbox") == [("sent",)]
    by_channel = {c: n for c, n in rows(state, "SELECT channel, COUNT(*) FROM outbox "
                                               "GROUP BY channel")}
    assert delivered == {path: by_channel.get(channel, 0) for channel, path in PATHS.items()}

    # the same events, stamped with their arrival, through the simulator
    events = tmp_path / "events.jsonl"
    arrived = rows(state, "SELECT event_id, user_id, name, properties, received_at FROM inbox "
                          "ORDER BY seq")
    events.write_text("".join(json.dumps({
        "event_id": e, "user_id": u, "event": n, "properties": codec.loads(p), "timestamp": t})
        + "\n" for e, u, n, p, t in arrived), encoding="utf-8")
    profile_file = tmp_path / "profiles.jsonl"
    profile_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in users),
                            encoding="utf-8")
    until = dt.datetime.fromtimestamp(arrived[-1][4] + 60, dt.UTC).isoformat()
    out = tmp_path / "messages.jsonl"
    done = run_cli("simulate", project, "--events", events, "--profiles", profile_file,
                   "--messages", out, "--until", until, "--json")
    assert done.returncode == 0, done.stderr
    simulated_report = json.loads(done.stdout)
    live = run_cli("report", project, "--state", state_url(state), "--json")
    assert live.returncode == 0, live.stderr
    live_report = json.loads(live.stdout)
    assert live_report["source"] == "live"
    assert counted(live_report) == counted(simulated_report)
    assert live_report["journeys"]["welcome"]["entered"] > 0
    assert served_report["journeys"] == {
        "welcome": live_report["journeys"]["welcome"]}
    entered = live_report["journeys"]["welcome"]["entered"]
    assert f'journeyctl_journey_entries_total{{journey="welcome"}} {entered}.0' \
        in metrics
    simulated = sorted(
        (m["user_id"], m["journey"], m["step"], m["channel"], m["template"],
         dt.datetime.fromisoformat(m["time"]).timestamp())
        for m in map(json.loads, out.read_text(encoding="utf-8").splitlines()))
    assert [m[:5] for m in simulated] == [m[:5] for m in daemon]
    # the same moments too (--messages writes milliseconds)
    assert all(abs(s[5] - d[5]) <= 0.001 for s, d in zip(simulated, daemon, strict=True))

