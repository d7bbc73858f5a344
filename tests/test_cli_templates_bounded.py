"""Templates are bounded and HTML is escaped, through the real CLI: `validate` rejects a loop it
can count without the data, located, and `simulate` and `test` refuse the project for it;
`send-test` fails a message whose loops or output grow with the profile; a profile's `<script>`
is escaped in an email's HTML and left as written in its text; `validate` warns on `| safe` and
`| raw` of a value the catalog does not mark trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from tests.support import run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

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


def _diagnostics(output: str, code: str) -> list[dict]:
    """The diagnostics with this code in `validate --format json` output (the new project's
    footer snippet, unused once the welcome email is replaced, is a warning of its own)."""
    return [d for d in json.loads(output)["diagnostics"] if d["code"] == code]


def test_validate_rejects_a_literal_loop_longer_than_a_message_may_run(new_project: Path) -> None:
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi"\n'
                                 'text: "{% for i in (1..100000000) %}.{% endfor %}"\n')
    result = run_cli("validate", ".", cwd=new_project)
    assert result.returncode == 1
    assert (f"{WELCOME}:3:11: error[JC613]: template 'welcome_email' can run 100,000,000 loop "
            "iterations in one message; a message may run at most 10,000") in result.stdout
    assert ("= hint: Liquid would stop it and fail the message: loop over fewer items (a smaller "
            "range, `limit: 100`); a loop inside a loop counts each of its runs") in result.stdout
    assert f"{WELCOME}:3:8: error[JC614]: template 'welcome_email' writes at least " \
           "100,000,002 bytes in one message" in result.stdout


def test_snippets_that_render_each_other_twice_over_are_counted_not_walked(
        new_project: Path) -> None:
    """40 snippets, each rendering the next twice: 2**40 renders. validate counts each snippet
    once (before, it walked every render and never ended: run_cli's deadline fails the test)."""
    for level in range(40):
        _write(new_project, f"snippets/s{level}.liquid",
               f"{{% render 's{level + 1}' %}}{{% render 's{level + 1}' %}}")
    _write(new_project, "snippets/s40.liquid", "x")
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi"\n'
                                 "text: \"{% render 's0' %}\"\n")
    result = run_cli("validate", ".", "--format", "json", cwd=new_project)
    assert result.returncode == 1, result.stdout
    [too_long] = _diagnostics(result.stdout, "JC614")
    assert "writes at least 1,099,511,627,778 bytes" in too_long["message"]  # 2**40 + "Hi"


def test_nested_loops_and_snippets_count_together(new_project: Path) -> None:
    _write(new_project, "snippets/rows.liquid", "{% for j in (1..100) %}-{% endfor %}")
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi"\n'
                                 "text: \"{% for i in (1..100) %}{% render 'rows' %}"
                                 "{% endfor %}\"\n")
    result = run_cli("validate", ".", "--format", "json", cwd=new_project)
    assert result.returncode == 1, result.stdout
    [problem] = _diagnostics(result.stdout, "JC613")
    assert (problem["code"], problem["file"], problem["line"], problem["column"]) == (
        "JC613", WELCOME, 3, 11)
    assert "can run 10,200 loop iterations" in problem["message"]  # 100 × (1 render + 100)


def test_simulate_and_test_refuse_a_template_over_the_limits(new_project: Path) -> None:
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi"\n'
                                 'text: "{% for i in (1..20000) %}{% endfor %}"\n')
    simulated = run_cli("simulate", ".", "--events", "data/events.jsonl", "--profiles",
                        "data/profiles.jsonl", cwd=new_project)
    tested = run_cli("test", ".", cwd=new_project)
    for result in (simulated, tested):
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"{WELCOME}:3:11: error[JC613]" in result.stdout + result.stderr


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


def test_validate_warns_on_safe_and_raw_of_a_field_not_marked_trusted(new_project: Path) -> None:
    _catalog(new_project, "  banner: {type: string, trusted: true}\n")
    _write(new_project, WELCOME, (
        'channel: email\nsubject: "Hi {{ profile.name | safe }}"\n'
        'text: "Hi {{ profile.name | raw }}"\n'
        'html: "{{ profile.banner | safe }}<p>{{ profile.name | raw }}</p>'
        '{{ profile.email | safe }}"\n'))
    result = run_cli("validate", ".", "--format", "json", cwd=new_project)
    assert result.returncode == 0, result.stdout
    found = [(d["code"], d["line"], d["column"], d["message"])
             for d in _diagnostics(result.stdout, "JC615")]
    assert found == [  # not in plain-text fields, nor on the trusted banner
        ("JC615", 4, 56, "`| raw` lets `profile.name` into HTML unescaped, and it is not a "
                         "catalog field marked trusted"),
        ("JC615", 4, 85, "`| safe` lets `profile.email` into HTML unescaped, and it is not a "
                         "catalog field marked trusted")]
    hint = _diagnostics(result.stdout, "JC615")[0]["hint"]
    assert "declare it `trusted: true` in events.yaml" in hint


def test_send_test_lets_a_trusted_field_through_safe_unescaped(new_project: Path) -> None:
    _catalog(new_project, "  banner: {type: string, trusted: true}\n")
    _write(new_project, WELCOME, 'channel: email\nsubject: "Hi"\n'
                                 'html: "{{ profile.banner | safe }}{{ profile.banner }}"\n')
    profile = {"email": "a@example.com", "banner": "<b>Sale</b>"}
    with FakeProvider() as fake:
        result = run_cli("send-test", ".", "--channel", "email", "--template", "welcome_email",
                         "--profile", json.dumps(profile), "--base-url", fake.url,
                         cwd=new_project, env=SENDGRID)
        assert result.returncode == 0, result.stdout + result.stderr
        [request] = fake.requests
    assert request.json()["content"] == [
        {"type": "text/html", "value": "<b>Sale</b>&lt;b&gt;Sale&lt;/b&gt;"}]
