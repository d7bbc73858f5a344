"""The real `journeyctl serve` over real sockets: the API, its refusals, messages reaching the
(fake) providers, a new apply picked up without a restart, shutdown, and start-up checks."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.support import run_cli
from tests.support.harness import (
    CREDENTIALS,
    PATHS,
    Served,
    State,
    apply,
    execute,
    rows,
    state_url,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process


def now_event(user: str, name: str, event_id: str, **props: object) -> dict:
    return {"event_id": event_id, "user_id": user, "event": name, "timestamp": time.time(),
            "properties": props}


def inbox_count(state: State) -> int:
    return rows(state, "SELECT COUNT(*) FROM inbox")[0][0]


def test_bad_requests_are_refused_clearly_and_store_nothing(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served, httpx.Client(base_url=served.url) as \
            anonymous:
        assert anonymous.get("/healthz").json()["status"] == "ok"  # no auth
        assert anonymous.get("/v1/openapi.json").status_code == 200
        refused = anonymous.post("/v1/events", json=now_event("u1", "signup", "a"))
        assert refused.status_code == 401
        assert "JOURNEYCTL_API_TOKEN" in refused.json()["error"]
        wrong = anonymous.get("/v1/journeys", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert anonymous.get("/metrics").status_code == 401

        def refused_with(response, status: int, text: str) -> dict:
            assert response.status_code == status, response.text
            body = response.json()
            assert text in body["error"], body
            return body

        refused_with(served.client.post("/v1/events", content=b'{"user_id": "u1",'), 400,
                     "malformed JSON: ")
        refused_with(served.client.post("/v1/events", content=b""), 400, "the body is empty")
        refused_with(served.post("/v1/events", [1, 2]), 400, "must be a JSON object")
        body = refused_with(served.post("/v1/events", {
            "user_id": "u1", "event": "purchase", "timestamp": time.time(),
            "properties": {"amount": "lots"}}), 400, "no valid event")
        assert body["rejected"] == [{"index": 0, "error": "property 'amount' is text, the "
                                                          "catalog says number"}]
        body = refused_with(served.post("/v1/events", {"events": [
            {"user_id": "u1", "event": "signup", "timestamp": time.time(), "plan": "pro"},
            {"user_id": "u1", "event": "signup", "timestamp": time.time() + 86400,
             "event_id": "future"}]}), 400, "no valid event")
        assert "unknown field 'plan'" in body["rejected"][0]["error"]
        assert body["rejected"][1]["event_id"] == "future"
        assert "in the future" in body["rejected"][1]["error"]
        huge = now_event("u1", "signup", "big", plan="x" * 2_000_000)
        refused_with(served.post("/v1/events", huge), 413, "the limit is 1048576")
        refused_with(served.post("/v1/profiles", {"profiles": [{"name": "x"}]}), 400,
                     "no valid profile")
        refused_with(served.get("/v1/users/nobody"), 404, "no user 'nobody'")
        refused_with(served.get("/v1/journeys/nope"), 404, "applied: receipt, welcome")
        refused_with(served.get("/v1/nowhere"), 404, "no route /v1/nowhere")
        refused_with(served.client.delete("/v1/events"), 405, "DELETE is not allowed")
        assert inbox_count(state) == 0
        assert rows(state, "SELECT COUNT(*) FROM profiles") == [(0,)]

        # some valid, some not: the valid ones are committed, the others listed
        mixed = served.post("/v1/events", {"events": [
            now_event("u1", "signup", "ok-1"), {"user_id": "u1", "event": "signup"},
            now_event("u1", "signup", "ok-1")]})
        assert mixed.status_code == 202
        assert mixed.json() == {"accepted": 1, "duplicates": 1, "rejected": [
            {"index": 1, "error": "missing timestamp"}]}
        assert inbox_count(state) == 1
        metrics = served.get("/metrics").text
        assert "journeyctl_events_ingested_total 1.0" in metrics
        assert "journeyctl_events_rejected_total 4.0" in metrics
    assert served.other == []  # every log line was JSON


def test_events_become_messages_at_the_providers(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served:
        profiles = [
            {"user_id": "vip", "name": "서연", "email": "vip@example.com", "phone": "+821012345678",
             "vip": True, "consent": {"email": True, "sms": True}},
            {"user_id": "plain", "name": "Sam", "email": "sam@example.com",
             "push_token": "tok-1", "consent": {"email": True, "push": True}},
        ]
        assert served.post("/v1/profiles", {"profiles": profiles}).json() == {
            "upserted": 2, "rejected": []}
        ack = served.post("/v1/events", {"events": [now_event("vip", "signup", "s1"),
                                                    now_event("plain", "signup", "s2")]})
        assert ack.status_code == 202 and ack.json()["accepted"] == 2
        welcome = wait_until(lambda: len(fake.received(PATHS["email"])) >= 2 and
                             fake.received(PATHS["email"]), timeout=2)  # at once: no wait
        subjects = sorted(r.json()["subject"] for r in welcome)
        assert subjects == ["환영합니다, Sam님!", "환영합니다, 서연님!"]
        assert all(r.headers["authorization"] == f"Bearer {CREDENTIALS['SENDGRID_API_KEY']}"
                   for r in welcome)
        # two seconds later: the VIP gets an SMS, the other user a push
        sms = wait_until(lambda: fake.received(PATHS["sms"]), timeout=6)
        assert "서연님, VIP 혜택" in sms[0].form()["Body"]
        push = wait_until(lambda: fake.received(PATHS["push"]), timeout=6)
        assert push[0].json()["message"]["token"] == "tok-1"
        # Sam buys: the receipt goes to the CRM webhook, and the welcome journey converts
        served.post("/v1/events", now_event("plain", "purchase", "p1", amount=12.5))
        crm = wait_until(lambda: fake.received(PATHS["crm"]), timeout=5)
        assert crm[0].json()["content"]["body"] == {"user": "plain", "amount": "12.5"}
        # the VIP does not: the reminder follows the wait_for timeout (3 s)
        wait_until(lambda: len(fake.received(PATHS["email"])) >= 3, timeout=8)
        reminder = fake.received(PATHS["email"])[2].json()
        assert reminder["personalizations"][0]["to"][0]["email"] == "vip@example.com"
        assert reminder["subject"] == "Still thinking it over?"

        user = served.get("/v1/users/plain").json()
        assert user["profile"]["name"] == "Sam"
        assert [(i["journey"], i["status"]) for i in user["instances"]] == [
            ("welcome", "goal"), ("receipt", "completed")]
        assert {(m["step"], m["status"]) for m in user["messages"]} == {
            ("hello", "sent"), ("nudge", "sent"), ("notify_crm", "sent")}
        assert user["messages"][0]["created_at"].endswith("Z")
        journeys = served.get("/v1/journeys").json()["journeys"]
        assert [(j["id"], j["version"], j["trigger"]) for j in journeys] == [
            ("receipt", 1, "event"), ("welcome", 1, "event")]
        metrics = served.get("/metrics").text
        assert 'journeyctl_messages_total{channel="email",outcome="accepted"} 3.0' in metrics
        assert 'journeyctl_adapter_latency_seconds_count{channel="sms"} 1.0' in metrics
        assert "journeyctl_timer_lag_seconds_count" in metrics
        assert 'journeyctl_pending{kind="events"} 0.0' in metrics
        assert "journeyctl_applied_serial 1.0" in metrics
    assert served.process.returncode == 0


def test_a_new_apply_is_picked_up_without_a_restart(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served:
        template = project / "templates" / "welcome_email.yaml"
        template.write_text(template.read_text(encoding="utf-8").replace("환영합니다", "반가워요"),
                            encoding="utf-8")
        served.post("/v1/profiles", {"profiles": [{"user_id": "old", "email": "o@example.com"}]})
        served.post("/v1/events", now_event("old", "signup", "o"))  # waits 2 s on v1
        wait_until(lambda: 'journeyctl_instances_active{journey="welcome",step="pause",'
                           'version="v1"} 1.0' in served.get("/metrics").text, timeout=3)
        apply(project, state)
        wait_until(lambda: served.get("/v1/journeys/welcome").json()["version"] == 2,
                   timeout=2)  # the deadline the daemon promises for picking up an apply
        served.post("/v1/profiles", {"profiles": [{"user_id": "u", "email": "u@example.com"}]})
        served.post("/v1/events", now_event("u", "signup", "s"))
        def to(address: str) -> list[dict]:
            return [r.json() for r in fake.received(PATHS["email"])
                    if r.json()["personalizations"][0]["to"][0]["email"] == address]

        sent = wait_until(lambda: to("u@example.com"), timeout=5)
        assert sent[0]["subject"] == "반가워요, 고객님!"  # the new version's template
        assert to("o@example.com")[0]["subject"] == "환영합니다, 고객님!"
        assert any(r.get("message", "").startswith("applied state serial 2") for r in
                   served.logs)


def test_restart_fires_overdue_timers_and_expires_late_messages(applied, fake) -> None:
    project, state = applied
    journey = project / "journeys" / "welcome.yaml"
    journey.write_text(journey.read_text(encoding="utf-8").replace(
        "status: active\n", "status: active\nmax_delay: 1s\n"), encoding="utf-8")
    apply(project, state)
    served = Served(project, state, fake.url)
    served.post("/v1/profiles", {"profiles": [{"user_id": "u", "email": "u@example.com",
                                               "consent": {"email": True}}]})
    served.post("/v1/events", now_event("u", "signup", "s"))
    wait_until(lambda: fake.received(PATHS["email"]), timeout=5)
    assert served.stop() == 0
    assert len(rows(state, "SELECT key FROM timers")) == 1  # the pause, kept in the store
    # down past the pause (2 s) and the wait_buy timeout (3 s more), +1.5 s: a real `serve`
    # reads the wall clock, so the stored times move back 6.5 s instead of the test waiting
    execute(state, "UPDATE timers SET due = due - 6.5, set_at = set_at - 6.5")
    with Served(project, state, fake.url):
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM outbox WHERE status = "
                                       "'expired'")[0][0] == 2, timeout=5)
    statuses = rows(state, "SELECT step, status, error FROM outbox ORDER BY id")
    assert [s[:2] for s in statuses] == [("hello", "sent"), ("nudge", "expired"),
                                         ("reminder", "expired")]
    assert "more than max_delay 1s" in statuses[1][2]
    assert len(fake.received(PATHS["email"])) == 1  # nothing late went out
    assert rows(state, "SELECT status FROM instances") == [("completed",)]


def test_shutdown_on_sigterm_is_graceful_and_logs_are_json(applied, fake) -> None:
    project, state = applied
    served = Served(project, state, fake.url)
    served.post("/v1/profiles", {"profiles": [{"user_id": f"u{i}", "email": f"{i}@example.com"}
                                              for i in range(50)]})
    fake.queue(PATHS["email"], *[fake_response_slow()] * 5)  # deliveries in flight at SIGTERM
    served.post("/v1/events", {"events": [now_event(f"u{i}", "signup", f"e{i}")
                                          for i in range(50)]})
    wait_until(lambda: fake.received(PATHS["email"]), timeout=5)
    # every event run first: SIGTERM lets the engine finish its batch, and leaves the rest in
    # the store for the next start, so how many are left otherwise is a matter of timing
    wait_until(lambda: rows(state, "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL")
               == [(0,)], timeout=10)
    assert served.stop() == 0  # within stop()'s deadline: in-flight deliveries end, then it
    messages = [r["message"] for r in served.logs]
    assert messages[-1] == "stopped"
    assert any(m.startswith("SIGTERM") for m in messages)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in served.logs)
    # every message handed to the provider before SIGTERM has its outcome recorded
    in_flight = rows(state, "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND "
                            "attempts > 0")
    assert in_flight == [(0,)]


def fake_response_slow():
    from channel_adapters.fake import Response
    return Response(202, b"", {"X-Message-Id": "slow"}, delay=1.0)


def test_start_up_refusals(applied, tmp_path: Path) -> None:
    project, state = applied
    env = {**CREDENTIALS, "JOURNEYCTL_API_TOKEN": ""}
    open_host = run_cli("serve", project, "--state", state_url(state), "--host", "0.0.0.0",
                        env=env)
    assert open_host.returncode != 0
    assert "JC981" in open_host.stderr and "JOURNEYCTL_API_TOKEN" in open_host.stderr
    assert open_host.stderr.startswith("--host: error[JC981]")  # an option has no line:col
    empty = tmp_path / "empty.db"
    nothing = run_cli("serve", project, "--state", state_url(empty), env=env)
    assert nothing.returncode != 0 and "JC980" in nothing.stderr
    assert "journeyctl apply" in nothing.stderr
    no_key = {k: v for k, v in env.items() if k != "SENDGRID_API_KEY"}
    missing = run_cli("serve", project, "--state", state_url(state), "--port", "0",
                      env={**no_key, "SENDGRID_API_KEY": ""})
    assert missing.returncode != 0 and "JC970" in missing.stderr
    assert "SENDGRID_API_KEY" in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run_cli("serve", project, "--state", state_url(state), "--port", str(port),
                       env=env)
    assert busy.returncode != 0 and "JC982" in busy.stderr
    bad_url = run_cli("serve", project, "--state", state_url(state), "--base-url", "ftp://x",
                      env=env)
    assert bad_url.returncode != 0 and "JC983" in bad_url.stderr
    no_port = run_cli("serve", project, "--state", state_url(state), "--base-url",
                      "http://127.0.0.1:99999", env=env)  # a URL by its prefix, but no port
    assert no_port.returncode != 0 and "its port is not a number" in no_port.stderr
    (project / "journeys" / "receipt.yaml").write_text("journey: receipt\nsteps: [\n",
                                                      encoding="utf-8")
    invalid = run_cli("serve", project, "--state", state_url(state), env=env)
    assert invalid.returncode == 1
    assert "receipt.yaml:3:1" in invalid.stderr
    assert "the project is invalid: the daemon was not started" in invalid.stderr
    for result in (open_host, nothing, missing, busy, bad_url, no_port, invalid):
        assert "Traceback" not in result.stderr
    assert rows(state, "SELECT COUNT(*) FROM inbox") == [(0,)]
