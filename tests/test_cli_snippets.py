"""Liquid snippets end to end, through the real command: `validate` (a template that renders a
snippet, problems located in the snippet file, a missing snippet, snippets in a loop, no
follow-on errors), `send-test` on a project that uses them (the simulator renders no template:
it refuses a project whose snippets do not validate), and `plan` after a snippet changes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.scaffold import scaffold
from tests.support import run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

FOOTER = "snippets/footer.liquid"
WELCOME = "templates/welcome_email.yaml"
ANA = {"user_id": "ana", "name": "Ana", "email": "ana@example.com", "consent": {"email": True}}


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A new project whose welcome email renders a footer snippet (written here, so the test
    means the same whatever `init` writes)."""
    root = tmp_path / "shop"
    scaffold(root, "shop")
    write(root, FOOTER, "--\nACME · sent to {{ profile.email }}\n")
    write(root, WELCOME, 'channel: email\nsubject: "Welcome"\ntext: |\n'
                         "  Hi {{ profile.name | default: 'there' }},\n"
                         "  {% render 'footer' %}\n")
    return root


def test_a_template_rendering_a_snippet_validates(project: Path) -> None:
    result = run_cli("validate", project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ project shop is valid: 1 journeys, 2 templates, 1 channels" in result.stdout


def test_an_unknown_variable_in_a_snippet_is_reported_at_the_snippets_line(
        project: Path) -> None:
    write(project, FOOTER, "--\nACME · sent to {{ profile.emial }}\n")
    result = run_cli("validate", ".", "--format", "json", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    [problem] = json.loads(result.stdout)["diagnostics"]
    assert (problem["code"], problem["file"], problem["line"], problem["column"]) == (
        "JC604", FOOTER, 2, 19)
    assert problem["message"] == ("profile has no attribute 'emial' (rendered by template "
                                  "'welcome_email', used by journey 'welcome')")
    assert problem["hint"].startswith("did you mean 'email'?")


def test_an_event_property_a_snippet_reads_names_the_template_and_journey(
        project: Path) -> None:
    write(project, FOOTER, "--\nACME · your {{ entry.plam }} plan\n")
    result = run_cli("validate", ".", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (f"{FOOTER}:2:16: error[JC604]: event 'signup' has no property 'plam' (rendered by "
            "template 'welcome_email', used by journey 'welcome')") in result.stdout
    assert "= hint: did you mean 'plan'? (or add it to events.yaml)" in result.stdout


def test_a_missing_snippet_is_a_located_error_listing_the_snippets(project: Path) -> None:
    write(project, "snippets/legal.liquid", "법적 고지")
    template = project / WELCOME
    template.write_text(template.read_text(encoding="utf-8").replace(
        "{% render 'footer' %}", "{% render 'footer' %}{% include 'legal' %}\n"
                                 "  {% render 'header' %}"), encoding="utf-8")
    result = run_cli("validate", ".", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert f"{WELCOME}:6:13: error[JC609]: unknown snippet 'header'" in result.stdout
    assert "  {% render 'header' %}\n   |             ^^^^^^^^" in result.stdout
    assert "= hint: snippets in snippets/: footer, legal" in result.stdout


def test_a_snippet_that_does_not_parse_is_located_in_its_file(project: Path) -> None:
    write(project, FOOTER, "--\n{% if profile.email %}ACME\n")
    result = run_cli("validate", ".", cwd=project)
    assert result.returncode == 1
    assert f"{FOOTER}:2:26: error[JC602]: Liquid syntax error in snippet 'footer'" \
        in result.stdout


def test_snippets_that_render_each_other_are_an_error_and_nothing_is_simulated(
        project: Path) -> None:
    write(project, FOOTER, "--\n{% render 'legal' %}\n")
    write(project, "snippets/legal.liquid", "법적 고지 {% render 'footer' %}\n")
    result = run_cli("validate", ".", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("snippets/legal.liquid:1:17: error[JC612]: snippets render each other in a loop: "
            "footer → legal → footer") in result.stdout
    assert "= hint: Liquid stops the loop and the message is not sent: remove this `render`" \
        in result.stdout
    events = write_events(project)
    simulated = run_cli("simulate", project, "--events", events)
    assert simulated.returncode == 1 and "JC612" in simulated.stdout + simulated.stderr


def write_events(root: Path) -> Path:
    events = root / "events.jsonl"
    events.write_text(json.dumps({"user_id": "ana", "event": "signup", "event_id": "e1",
                                  "timestamp": "2024-01-01T09:00:00Z"}) + "\n", encoding="utf-8")
    return events


def test_the_korean_ad_prefix_after_tags_that_output_nothing_validates(project: Path) -> None:
    """`(광고)` after a snippet that is only a comment, an `assign` or a `comment` is still the
    first thing the message says."""
    settings = project / "journeyctl.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + "compliance: [kr]\n",
                        encoding="utf-8")
    write(project, "snippets/header.liquid", "{%- comment -%}header{%- endcomment -%}")
    journey = project / "journeys/welcome.yaml"
    journey.write_text(journey.read_text(encoding="utf-8").replace(
        "template: nudge_email}", "template: nudge_email}\n"
        "  - id: promo\n    send: {channel: push, template: promo_push}\n"), encoding="utf-8")
    channels = project / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8") + (
        "  push:\n    adapter: fcm\n    project_id: demo\n"
        "    credentials: {access_token: env:FCM_TOKEN}\n    address: email\n"), encoding="utf-8")
    write(project, "templates/promo_push.yaml", (
        "channel: push\ntitle: \"{% render 'header' %}(광고) 새 상품\"\n"
        "body: \"{% assign n = 1 %}{% comment %}x{% endcomment %}(광고) 수신거부: 설정\"\n"))
    nudge = project / "templates/nudge_email.yaml"
    nudge.write_text(nudge.read_text(encoding="utf-8").replace(
        "subject: ", "subject: (광고) ", 1), encoding="utf-8")
    result = run_cli("validate", ".", "--format", "json", cwd=project)
    codes = [d["code"] for d in json.loads(result.stdout)["diagnostics"]]
    assert (result.returncode, codes) == (0, []), result.stdout


@pytest.mark.parametrize(("render", "expected"), [
    (None, [("JC002", FOOTER, 2, 6)]),  # the footer is not UTF-8
    ("{% if %}{% render 'footer' %}", [("JC602", WELCOME, 5, 6)]),
    ("{% render footer %}", [("JC610", WELCOME, 5, 13)]),
    ("{% render 'Footer' %}", [("JC609", WELCOME, 5, 13)]),
])
def test_one_error_and_no_follow_on_about_the_snippets(
        project: Path, render: str | None, expected: list[tuple[str, str, int, int]]) -> None:
    if render is None:
        (project / FOOTER).write_bytes(b"--\nACME \xff\n")
    else:
        template = project / WELCOME
        template.write_text(template.read_text(encoding="utf-8").replace(
            "{% render 'footer' %}", render), encoding="utf-8")
    result = run_cli("validate", ".", "--format", "json", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    found = json.loads(result.stdout)["diagnostics"]
    assert [(d["code"], d["file"], d["line"], d["column"]) for d in found] == expected


def test_a_missing_snippets_folder_named_in_the_settings_is_an_error(project: Path) -> None:
    settings = project / "journeyctl.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        "snippets: snippets/", "snippets: partials/"), encoding="utf-8")
    (project / "snippets" / "dir.liquid").mkdir()  # a folder, not a snippet
    result = run_cli("validate", ".", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ("journeyctl.yaml:13:11: error[JC902]: snippets folder partials not found"
            in result.stdout)
    assert "JC609" not in result.stdout  # the footer it would hold is not unknown
    (project / "snippets").rename(project / "partials")
    result = run_cli("validate", ".", cwd=project)
    assert result.returncode == 0 and "JC001" not in result.stdout, result.stdout


def test_send_test_renders_the_snippet_into_the_message(project: Path) -> None:
    with FakeProvider() as fake:
        result = run_cli("send-test", project, "--channel", "email", "--template",
                         "welcome_email", "--profile", json.dumps(ANA), "--base-url", fake.url,
                         env={"SENDGRID_API_KEY": "sg-test"})
        assert result.returncode == 0, result.stdout + result.stderr
        [request] = fake.requests
    text = request.json()["content"][0]["value"]
    assert text == "Hi Ana,\n--\nACME · sent to ana@example.com\n\n"  # each line's own \\n


def test_send_test_locates_a_failure_inside_the_snippet(project: Path) -> None:
    write(project, FOOTER, "--\nACME · for {{ profile.name }}\n")
    result = run_cli("send-test", ".", "--channel", "email", "--template", "welcome_email",
                     "--profile", json.dumps({"user_id": "bo", "email": "bo@example.com"}),
                     "--base-url", "http://127.0.0.1:9", cwd=project,
                     env={"SENDGRID_API_KEY": "sg-test"})
    assert result.returncode == 1
    assert (f"{FOOTER}:2:15: error[JC971]: template 'welcome_email': `text` cannot be rendered "
            "for user 'bo': profile.name is undefined (in snippet 'footer')") in result.stderr


def test_plan_shows_a_changed_snippet_as_a_new_journey_version(project: Path) -> None:
    applied = run_cli("apply", project, "--auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "No changes" in run_cli("plan", project).stdout
    write(project, FOOTER, "--\nACME Corp · sent to {{ profile.email }}\n")
    result = run_cli("plan", project, "--detailed-exitcode")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "~ update journey welcome (v1 → v2)" in result.stdout
    assert re.search(r"^\s+~ snippet footer$", result.stdout, re.M), result.stdout
