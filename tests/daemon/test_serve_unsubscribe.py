"""One-click unsubscribe (RFC 8058) on a real `serve`, with the fake provider standing in for
SendGrid: a promotional email carries `List-Unsubscribe` and `List-Unsubscribe-Post`; a POST to
that URL (the form body a mailbox sends, no Authorization) turns the user's email consent off
through the engine, so the next journey's promotional email is suppressed `no_consent`; forged
tokens are all refused the same way and change nothing; a GET changes nothing; transactional
email carries no header. `--public-url` without the secret is JC984; promotional SendGrid email
without a public URL is a warning at start."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.daemon.unsubscribe import PUBLIC_URL_VARIABLE, SECRET_VARIABLE
from tests.support import run_cli
from tests.support.harness import (
    PATHS,
    Served,
    State,
    apply,
    project_copy,
    rows,
    state_url,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

SECRET = "k" * 16 + "0123456789abcdef0123"  # test value only
PUBLIC = "https://journeys.example.com"
REFUSED = {"error": "unknown or invalid unsubscribe link"}
JOURNEYS = {
    "promo-a": "trigger: {event: offer}\nsteps:\n"
               "  - {id: mail, send: {channel: email, template: reminder_email}}\n",
    "promo-b": "trigger: {event: later}\nsteps:\n"
               "  - {id: mail, send: {channel: email, template: reminder_email}}\n",
    "notice": "trigger: {event: notice}\nsteps:\n"
              "  - {id: mail, send: {channel: email, template: reminder_email, "
              "category: transactional}}\n",
}
PROFILES = [{"user_id": u, "name": u, "email": f"{u}@example.com", "consent": {"email": True}}
            for u in ("ann", "bob")]


def _project(tmp_path: Path) -> Path:
    root = project_copy(tmp_path)
    for name, text in JOURNEYS.items():
        (root / "journeys" / f"{name}.yaml").write_text(f"journey: {name}\n{text}",
                                                          encoding="utf-8")
    events = root / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  unsubscribe: {}\n", "  unsubscribe: {}\n  offer: {}\n  later: {}\n  notice: {}\n"),
        encoding="utf-8")
    return root


def _event(user: str, name: str, event_id: str) -> dict:
    return {"event_id": event_id, "user_id": user, "event": name, "timestamp": time.time()}


def _mails(fake: FakeProvider, user: str) -> list[dict]:
    return [r.json() for r in fake.received(PATHS["email"])
            if r.json()["personalizations"][0]["to"][0]["email"] == f"{user}@example.com"]


def _consent(served: Served, user: str) -> object:
    return served.get(f"/v1/users/{user}").json()["profile"]["consent"]["email"]


def _unsubscribes(state: State) -> int:
    return rows(state, "SELECT COUNT(*) FROM inbox WHERE name = ?",
                "journeyctl.unsubscribe")[0][0]


def test_one_click_unsubscribe_changes_consent_and_forgeries_do_not(
        tmp_path: Path, state: State, fake: FakeProvider) -> None:
    project = _project(tmp_path)
    apply(project, state)
    env = {SECRET_VARIABLE: SECRET}
    with Served(project, state, fake.url, env=env, args=("--public-url", PUBLIC)) as served:
        assert served.post("/v1/profiles", {"profiles": PROFILES}).status_code == 200
        served.post("/v1/events", {"events": [_event("ann", "offer", "o1"),
                                              _event("ann", "notice", "n1"),
                                              _event("bob", "offer", "o2")]})
        wait_until(lambda: len(_mails(fake, "ann")) == 2 and _mails(fake, "bob"), timeout=10)
        # the promotional email carries both headers; the transactional one neither
        headers = [m.get("headers") for m in _mails(fake, "ann")]
        promo = next(h for h in headers if h)
        assert headers.count(None) == 1
        assert promo["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = promo["List-Unsubscribe"]
        assert link.startswith(f"<{PUBLIC}/v1/unsubscribe/v1.") and link.endswith(">")
        path = urlsplit(link[1:-1]).path
        token = path.rsplit("/", 1)[1]
        bob_token = urlsplit(_mails(fake, "bob")[0]["headers"]["List-Unsubscribe"][1:-1]
                             ).path.rsplit("/", 1)[1]
        assert bob_token != token
        anonymous = httpx.Client(base_url=served.url, timeout=10)  # no Authorization

        # forgeries: each refused with the one answer, nothing ingested
        version, _, mac = token.split(".")
        _, bob_payload, _ = bob_token.split(".")
        flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
        sms = base64.urlsafe_b64encode(b'["ann","sms"]').rstrip(b"=").decode()
        for bad in (flipped, f"{version}.{bob_payload}.{mac}", f"{version}.{sms}.{mac}",
                    "v1.x.y", "nothing"):
            answer = anonymous.post(f"/v1/unsubscribe/{bad}",
                                    content=b"List-Unsubscribe=One-Click", headers={
                                        "Content-Type": "application/x-www-form-urlencoded"})
            assert (answer.status_code, answer.json()) == (404, REFUSED), bad
            assert anonymous.get(f"/v1/unsubscribe/{bad}").status_code == 404
        # GET (a link scanner) shows the confirmation form and changes nothing
        page = anonymous.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<form method="post">' in page.text and "ann" not in page.text
        assert page.headers["cache-control"] == "no-store"
        assert _unsubscribes(state) == 0
        assert _consent(served, "ann") is True and _consent(served, "bob") is True

        # the one-click POST, as a mailbox sends it: form body, no Authorization
        done = anonymous.post(path, content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert (done.status_code, done.json()) == (200, {"unsubscribed": True,
                                                        "channel": "email"})
        wait_until(lambda: _consent(served, "ann") is False, timeout=10)
        # a repeat (a retry, a double click) is a duplicate of the same event
        assert anonymous.post(path, content=b"List-Unsubscribe=One-Click").status_code == 200
        assert _unsubscribes(state) == 1
        assert _consent(served, "bob") is True  # only the token's user

        # the second journey's promotional email to ann is suppressed; bob still gets his
        served.post("/v1/events", {"events": [_event("ann", "later", "l1"),
                                              _event("bob", "later", "l2")]})
        wait_until(lambda: 'journeyctl_journey_suppressions_total{journey="promo-b",'
                           'reason="no_consent"} 1.0' in served.get("/metrics").text,
                   timeout=10)
        wait_until(lambda: len(_mails(fake, "bob")) == 2, timeout=10)
        assert len(_mails(fake, "ann")) == 2
        assert rows(state, "SELECT COUNT(*) FROM outbox WHERE user_id = ? AND journey = ?",
                    "ann", "promo-b") == [(0,)]
        anonymous.close()
    assert served.process.returncode == 0


def test_public_url_needs_the_secret_and_its_absence_is_warned(
        tmp_path: Path, fake: FakeProvider) -> None:
    project = _project(tmp_path)
    state = tmp_path / "state.db"
    apply(project, state)
    for secret in ("", "too-short"):
        done = run_cli("serve", project, "--state", state_url(state), "--port", "0",
                       "--public-url", PUBLIC, env={SECRET_VARIABLE: secret})
        assert done.returncode != 0
        assert "JC984" in done.stderr + done.stdout
        assert secret not in (done.stderr + done.stdout) or not secret
    done = run_cli("serve", project, "--state", state_url(state), "--port", "0",
                   env={PUBLIC_URL_VARIABLE: "not a url", SECRET_VARIABLE: SECRET})
    assert done.returncode != 0 and "JC984" in done.stderr + done.stdout
    assert SECRET not in done.stderr + done.stdout
    with Served(project, state, fake.url, env={SECRET_VARIABLE: ""}) as served:
        warned = [r["message"] for r in served.logs if "one-click unsubscribe" in
                  r.get("message", "")]
        assert len(warned) == 1 and "promotional email on email" in warned[0]
