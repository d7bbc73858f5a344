"""The real `journeyctl serve` sending to a Slack webhook whose provider (a fake on loopback)
echoes the request path in its error: no piece of the webhook URL longer than 8 characters
reaches `GET /v1/users/{id}`, the daemon's log or the state (the SQLite file's bytes; the
outbox rows on PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider, Response
from tests.support.harness import Served, State, apply, project_copy, rows, wait_until

pytestmark = pytest.mark.e2e  # every test here starts a process

TEAM, HOOK, TOKEN = "T0LEAKY42", "B0LEAKY42", "xoxbLeakyWebhookSecret77"
PATH = f"/services/{TEAM}/{HOOK}/{TOKEN}"
PARTS = (TEAM, HOOK, TOKEN)


def with_slack(tmp_path: Path) -> Path:
    """The daemon's test project plus a Slack channel and a journey posting to it on signup."""
    root = project_copy(tmp_path)
    channels = root / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8") + (
        "  alerts:\n    adapter: slack\n    credentials: {webhook_url: env:SLACK_URL}\n"
        "    timeout: 2s\n    retry: {attempts: 1, backoff: 1s, max_backoff: 1s}\n"),
        encoding="utf-8")
    (root / "templates" / "signup_alert.yaml").write_text(
        "channel: alerts\ntext: \"new signup: {{ profile.name | default: 'someone' }}\"\n",
        encoding="utf-8")
    (root / "journeys" / "alert.yaml").write_text(
        "journey: alert\nstatus: active\ntrigger: {event: signup}\nsteps:\n"
        "  - id: tell\n    send: {channel: alerts, template: signup_alert, "
        "category: transactional}\n", encoding="utf-8")
    return root


def failed_alert(served: Served) -> dict | None:
    user = served.get("/v1/users/kim").json()
    return next((m for m in user.get("messages", [])
                 if m["step"] == "tell" and m["status"] == "failed"), None)


def stored_bytes(state: State) -> bytes:
    """What the state holds: the whole file; on PostgreSQL, the outbox (where a message's error
    is kept) and the inputs set aside, every column."""
    if isinstance(state, Path):
        return b"".join(p.read_bytes() for p in state.parent.glob("state.db*"))
    found = rows(state, "SELECT * FROM outbox") + rows(state, "SELECT * FROM set_aside")
    return b"\n".join(v if isinstance(v, bytes) else str(v).encode() for r in found for v in r)


def test_a_webhook_path_a_provider_echoes_is_stored_and_served_redacted(
        tmp_path: Path, state: State) -> None:
    project = with_slack(tmp_path)
    env = {"SLACK_URL": f"https://hooks.slack.com{PATH}"}
    apply(project, state)
    with FakeProvider() as fake:
        fake.queue(PATH, Response(404, f"no_service for POST {PATH}",
                                  {"Content-Type": "text/html"}))
        with Served(project, state, fake.url, env=env) as served:
            served.post("/v1/events", {"event_id": "s-kim", "user_id": "kim",
                                       "event": "signup", "timestamp": time.time()})
            message = wait_until(lambda: failed_alert(served), timeout=20)
            served_text = served.get("/v1/users/kim").text
        assert [r.path for r in fake.received(PATH)] == [PATH]  # the provider saw the path
    stored = stored_bytes(state)
    assert b"no_service for POST" in stored  # the error is there, redacted
    logged = "\n".join(map(str, served.logs + served.other))
    for part in PARTS:
        assert part not in served_text
        assert part.encode() not in stored
        assert part not in logged
    assert message["error"] == "no_service for POST /services/***/***/***"
