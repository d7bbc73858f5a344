"""The real `journeyctl serve` renders every message under the limits and escapes HTML: a
template whose loops grow with a user's data fails that user's message (recorded with the
reason, the fallback sent) while everyone else's events go on, and the input is not run again
after a restart; a profile's `<script>` reaches an email's HTML escaped, its text as written."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from tests.support.harness import (
    PATHS,
    SQLITE_ONLY,
    Served,
    State,
    apply,
    project_copy,
    rows,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

# Three loops over the user's tags: a billion iterations for 1,000 tags (the daemon froze).
CUBED = ("{% for a in profile.tags %}{% for b in profile.tags %}{% for c in profile.tags %}"
         "{{ c }}{% endfor %}{% endfor %}{% endfor %}")
SCRIPT = '<script>alert(1)</script><a href="https://evil.example">win</a>'


def _project(tmp_path: Path, state: State, welcome: str) -> tuple[Path, State]:
    """The test project with a `tags` list in the profile, this welcome email, and a plain
    `welcome_short` email as the welcome's fallback; applied."""
    project = project_copy(tmp_path)
    catalog = project / "events.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace(
        "  vip: boolean\n", "  vip: boolean\n  tags: list\n"), encoding="utf-8")
    (project / "templates" / "welcome_email.yaml").write_text(welcome, encoding="utf-8")
    (project / "templates" / "welcome_short.yaml").write_text(
        'channel: email\nsubject: "Welcome"\ntext: "Welcome aboard."\n', encoding="utf-8")
    journey = project / "journeys" / "welcome.yaml"
    journey.write_text(journey.read_text(encoding="utf-8").replace(
        "send: {channel: email, template: welcome_email, category: transactional}",
        "send: {channel: email, template: welcome_email, category: transactional,\n"
        "           fallback: [{channel: email, template: welcome_short}]}"), encoding="utf-8")
    apply(project, state)
    return project, state


def _signup(user: str) -> dict:
    return {"event_id": f"s-{user}", "user_id": user, "event": "signup",
            "timestamp": time.time(), "properties": {}}


def _subjects(fake: FakeProvider, subject: str) -> list[str]:
    return sorted(body["personalizations"][0]["to"][0]["email"]
                  for body in (r.json() for r in fake.received(PATHS["email"]))
                  if body["subject"] == subject)


def _outcomes(state: State, user: str, expected: list[tuple[str, str]]) -> list[tuple] | None:
    """The user's outbox rows (template, status, error) once they are as expected (the
    delivery is recorded after the provider answered)."""
    found = rows(state, "SELECT template, status, error FROM outbox WHERE user_id = ? ORDER BY id",
                 user)
    return found if [row[:2] for row in found] == expected else None


@SQLITE_ONLY  # rendering limits, not the store (slow; kill -9 on PostgreSQL: reliability)
def test_a_render_over_the_limits_fails_one_message_and_never_stalls_the_daemon(
        tmp_path: Path, state: State) -> None:
    project, state = _project(
        tmp_path, state, f'channel: email\nsubject: "Hi"\ntext: "{CUBED}"\n')
    others = [f"u{i}" for i in range(3)]
    profiles = [{"user_id": "big", "email": "big@example.com",
                 "tags": [f"t{i}" for i in range(1000)]}]
    profiles += [{"user_id": u, "email": f"{u}@example.com", "tags": ["a"]} for u in others]
    with FakeProvider() as fake:
        served = Served(project, state, fake.url)
        try:
            served.post("/v1/profiles", {"profiles": profiles})
            served.post("/v1/events", _signup("big"))  # first in line
            served.post("/v1/events", {"events": [_signup(u) for u in others]})
            wait_until(lambda: _subjects(fake, "Hi") == [f"{u}@example.com" for u in others])
            failed = wait_until(lambda: _outcomes(state, "big", [("welcome_email", "failed"),
                                                                 ("welcome_short", "sent")]))
        finally:
            served.kill()
        assert _subjects(fake, "Welcome") == ["big@example.com"]
        assert "cannot be rendered for user 'big': loop iteration limit reached" in failed[0][2]

        with Served(project, state, fake.url) as again:  # after kill -9: nothing is run twice
            again.post("/v1/profiles", {"profiles": [{"user_id": "late", "email": "l@x.org",
                                                       "tags": ["z"]}]})
            again.post("/v1/events", _signup("late"))
            wait_until(lambda: "l@x.org" in _subjects(fake, "Hi"))
        assert rows(state, "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL") == [(0,)]
        assert rows(state, "SELECT template, status FROM outbox WHERE user_id = 'big' "
                           "ORDER BY id") == [row[:2] for row in failed]
        assert rows(state, "SELECT COUNT(*) FROM set_aside") == [(0,)]
        assert _subjects(fake, "Welcome") == ["big@example.com"]


@SQLITE_ONLY  # HTML escaping in rendering, not the store
def test_a_script_in_a_profile_name_reaches_the_email_html_escaped_and_the_text_as_is(
        tmp_path: Path, state: State) -> None:
    project, state = _project(tmp_path, state, (
        'channel: email\nsubject: "Hi {{ profile.name }}"\n'
        'text: "Hi {{ profile.name }}"\nhtml: "<p>Hi <b>{{ profile.name }}</b></p>"\n'))
    with FakeProvider() as fake, Served(project, state, fake.url) as served:
        served.post("/v1/profiles", {"profiles": [{"user_id": "eve", "email": "eve@example.com",
                                                   "name": SCRIPT}]})
        served.post("/v1/events", _signup("eve"))
        [sent] = wait_until(lambda: fake.received(PATHS["email"]))
    body = sent.json()
    text, html = body["content"]
    assert text == {"type": "text/plain", "value": f"Hi {SCRIPT}"}
    assert html == {"type": "text/html", "value": (
        "<p>Hi <b>&lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=&#34;https://evil.example"
        "&#34;&gt;win&lt;/a&gt;</b></p>")}
    assert body["subject"] == f"Hi {SCRIPT}"
