"""Templates are bounded and HTML is escaped, through the real CLI: `send-test` fails a message
whose loops or output grow with the profile; a profile's `<script>` is escaped in an email's
HTML and left as written in its text."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli

from channel_adapters.fake import FakeProvider

WELCOME = "templates/welcome_email.yaml"
SCRIPT = "<script>alert(1)</script>"
SENDGRID = {"SENDGRID_API_KEY": "sg-test"}


def _write(root: Path, relative: str, text: str) -> None:
    (root / relative).write_text(text, encoding="utf-8")


def _catalog(root: Path, profile_lines: str) -> None:
    """Add these lines (two-space indented) to the catalog's `profile:`."""
    catalog = root / "events.yaml"
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(text.replace("profile:\n", f"profile:\n{profile_lines}"), encoding="utf-8")


def test_send_test_fails_a_message_whose_loops_grow_with_the_profile(new_project: Path) -> None:
    _catalog(new_project, "  tags: list\n")
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi"\ntext: |\n'
                                 "  {% for a in profile.tags %}{% for b in profile.tags %}"
                                 "{{ a }}{{ b }}{% endfor %}{% endfor %}\n")
    assert run_cli("validate", ".", cwd=new_project).returncode == 0
    profile = {"email": "a@example.com", "tags": [f"t{i}" for i in range(200)]}
    with FakeProvider() as fake:
        result = run_cli("send-test", ".", "--channel", "email", "--template", "welcome_email",
                         "--profile", json.dumps(profile), "--base-url", fake.url,
                         cwd=new_project, env=SENDGRID)
        assert fake.requests == []
    assert result.returncode == 1
    assert (f"{WELCOME}:4:6: error[JC971]: template 'welcome_email': `text` cannot be rendered "
            "for user 'send-test': loop iteration limit reached") in result.stderr
    assert ("= hint: a message runs at most 10,000 loop iterations in all: bound loops over the "
            "profile's lists with `limit:`") in result.stderr


def test_send_test_fails_a_message_longer_than_a_message_may_be(
        new_project: Path, tmp_path: Path) -> None:
    profile = tmp_path / "long.json"
    profile.write_text(json.dumps({"email": "a@example.com", "name": "x" * 300_000}),
                       encoding="utf-8")
    result = run_cli("send-test", ".", "--channel", "email", "--template", "welcome_email",
                     "--profile", profile, "--base-url", "http://127.0.0.1:9",
                     cwd=new_project, env=SENDGRID)
    assert result.returncode == 1
    assert "`subject` cannot be rendered for user 'send-test': output stream limit reached" \
        in result.stderr
    assert "= hint: a message renders at most 262,144 bytes" in result.stderr


def test_send_test_escapes_values_in_html_and_not_in_text(new_project: Path) -> None:
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi {{ profile.name }}"\n'
                                 'text: "Hi {{ profile.name }}"\n'
                                 'html: "<p>Hi {{ profile.name }}</p>"\n')
    with FakeProvider() as fake:
        result = run_cli("send-test", ".", "--channel", "email", "--template", "welcome_email",
                         "--profile", json.dumps({"email": "a@example.com", "name": SCRIPT}),
                         "--base-url", fake.url, cwd=new_project, env=SENDGRID)
        assert result.returncode == 0, result.stdout + result.stderr
        [request] = fake.requests
    body = request.json()
    assert body["subject"] == f"Hi {SCRIPT}"
    assert body["content"] == [
        {"type": "text/plain", "value": f"Hi {SCRIPT}"},
        {"type": "text/html", "value": "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"}]
