"""Liquid snippets (`snippets/<name>.liquid`): the partials engine, rendering, the static checks
(variables located in the snippet file, unknown and unquoted names, the `render`/`include`
scopes), the Korean rules on the text after rendering, and versioning in plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl import plan
from journeyctl.diagnostics import Diagnostic, JourneyctlError
from journeyctl.liquid_env import PLACEHOLDER, parse, partials, static_text, used_snippets
from journeyctl.messages import render_template
from journeyctl.model import FrozenMap, Project
from journeyctl.project import validate
from journeyctl.scaffold import scaffold

ANA = {"user_id": "ana", "name": "Ana", "email": "ana@example.com", "consent": {"email": True}}
WELCOME = "templates/welcome_email.yaml"
FOOTER = "snippets/footer.liquid"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A new project whose welcome email renders a `footer` snippet."""
    root = tmp_path / "proj"
    scaffold(root, "proj")
    write(root, FOOTER, "{%- comment -%} the footer {%- endcomment -%}\n"
                        "--\nYou get this email at {{ profile.email }} because you signed up.\n")
    welcome_text(root, "Hi {{ profile.name | default: 'there' }},\n{% render 'footer' %}")
    return root


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def welcome_text(root: Path, text: str) -> None:
    """The welcome email with this `text:` block (two-space indented lines)."""
    body = "".join(f"  {line}\n" for line in text.splitlines())
    write(root, WELCOME, f'channel: email\nsubject: "Welcome"\ntext: |\n{body}')


def checked(root: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Project, list[Diagnostic]]:
    monkeypatch.chdir(root)
    loaded = validate(Path("."))
    assert loaded.project is not None
    return loaded.project, loaded.diagnostics


def codes(diagnostics: list[Diagnostic]) -> list[tuple[str, str, int, int]]:
    return [(d.code, d.loc.file, d.loc.line, d.loc.col) for d in diagnostics]


# --- the partials engine -----------------------------------------------------------------------


SNIPPETS = FrozenMap({"footer": "Bye {{ profile.name }}{% include 'kr/legal' %}",
                      "kr/legal": " · 무료수신거부 080-000-0000", "loop": "a{% render 'loop' %}"})


def test_partials_lists_each_tag_with_the_name_where_it_is_written() -> None:
    source = "Hi {% render 'footer' %}{% include name %}{% comment %}{% render 'x' %}" \
             "{% endcomment %}{% if a %}{% include \"kr/legal\" %}{% endif %}"
    found = partials(parse(source, SNIPPETS))
    assert [(p.tag, p.name) for p in found] == [("render", "footer"), ("include", None),
                                                ("include", "kr/legal")]
    assert source[found[0].index:found[0].index + found[0].length] == "'footer'"
    assert source[found[1].index:found[1].index + found[1].length] == "name"


def test_used_snippets_follows_snippets_into_snippets() -> None:
    assert used_snippets(["{% render 'footer' %}"], SNIPPETS) == {"footer", "kr/legal"}
    assert used_snippets(["{% render 'nope' %}", "{% if %}"], SNIPPETS) == set()


def test_static_text_puts_each_snippet_in_place_and_marks_what_only_a_send_knows() -> None:
    text = static_text("(광고) {{ x }}{% render 'footer' %}{% render 'loop' %}", SNIPPETS)
    assert text == f"(광고) {PLACEHOLDER}Bye {PLACEHOLDER} · 무료수신거부 080-000-0000a" \
                   f"{PLACEHOLDER}"
    assert static_text("{% if a %}(광고){% endif %}", SNIPPETS).startswith(PLACEHOLDER)
    assert static_text("{% if %}", SNIPPETS) == "{% if %}"  # does not parse: as written


# --- rendering -----------------------------------------------------------------------------------


def test_a_send_renders_the_snippet_with_the_users_profile(project: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    built, _ = checked(project, monkeypatch)
    content = render_template(built, built.templates["welcome_email"], ANA)
    assert "You get this email at ana@example.com because you signed up." in content["text"]
    assert "comment" not in content["text"]


def test_render_has_its_own_scope_and_include_shares_the_templates(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/code.liquid", "code {{ code }}")
    welcome_text(project, "{% assign code = 'A1' %}[{% include 'code' %}]"
                              "[{% render 'code', code: 'B2' %}][{% render 'code' %}]")
    built, _ = checked(project, monkeypatch)
    with pytest.raises(JourneyctlError) as raised:
        render_template(built, built.templates["welcome_email"], ANA)
    [problem] = raised.value.diagnostics
    assert problem.code == "JC971" and "(in snippet 'code')" in problem.message
    assert "'code' is undefined" in problem.message
    welcome_text(project, "{% assign code = 'A1' %}[{% include 'code' %}]"
                              "[{% render 'code', code: 'B2' %}]")
    built, _ = checked(project, monkeypatch)
    content = render_template(built, built.templates["welcome_email"], ANA)
    assert content["text"] == "[code A1][code B2]\n"


def test_a_failure_inside_a_snippet_points_into_the_snippet_file(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, FOOTER, "--\nfor {{ profile.name }}\n")
    built, diagnostics = checked(project, monkeypatch)
    assert not [d for d in diagnostics if d.is_error]
    loaded = validate(Path("."))
    with pytest.raises(JourneyctlError) as raised:
        render_template(built, built.templates["welcome_email"], {"user_id": "x"},
                        docs=loaded.docs)
    [problem] = raised.value.diagnostics
    assert (problem.loc.file, problem.loc.line, problem.loc.col) == (FOOTER, 2, 8)
    assert problem.message == ("template 'welcome_email': `text` cannot be rendered for user "
                               "'x': profile.name is undefined (in snippet 'footer')")


def test_the_daemon_renders_with_the_snippets_of_its_version(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built, _ = checked(project, monkeypatch)
    older = FrozenMap({"footer": "-- the old footer"})
    content = render_template(built, built.templates["welcome_email"], ANA,
                              snippets=older)
    assert content["text"].endswith("-- the old footer\n")
    with pytest.raises(JourneyctlError) as raised:  # a version applied before the footer
        render_template(built, built.templates["welcome_email"], ANA, snippets=FrozenMap())
    [problem] = raised.value.diagnostics
    assert problem.code == "JC971" and problem.message.endswith(": no snippet 'footer'")


# --- static checks -------------------------------------------------------------------------------


def test_a_template_rendering_a_snippet_validates(project: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    built, diagnostics = checked(project, monkeypatch)
    assert diagnostics == []
    assert list(built.snippets) == ["footer"]
    assert built.snippets["footer"].loc.file == FOOTER


def test_variables_in_a_snippet_are_checked_and_located_in_the_snippet(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, FOOTER, "--\nHi {{ profile.nmae }}\n{{ entry.plan }} {{ entry.plam }}\n")
    _, diagnostics = checked(project, monkeypatch)
    errors = [d for d in diagnostics if d.is_error]
    assert codes(errors) == [("JC604", FOOTER, 2, 7), ("JC604", FOOTER, 3, 21)]
    assert errors[0].message == "profile has no attribute 'nmae'"
    assert errors[0].hint.startswith("did you mean 'name'?")
    assert errors[1].loc.length == len("entry.plam")


def test_render_does_not_see_the_templates_assigns_and_validate_says_so(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/code.liquid", "code {{ code }}")
    welcome_text(project, "{% assign code = 'A1' %}{% render 'code' %}{% include 'code' %}"
                              "{% render 'code', code: code %}")
    write(project, FOOTER, "unused")
    _, diagnostics = checked(project, monkeypatch)
    [error] = [d for d in diagnostics if d.is_error]
    assert codes([error]) == [("JC604", "snippets/code.liquid", 1, 9)]
    assert error.message == ("unknown variable 'code' in snippet 'code' (rendered by template "
                             "'welcome_email', used by journey 'welcome')")
    assert error.hint.endswith("a snippet sees other values only when they are passed: "
                               "{% render 'code', code: ... %}")


def test_an_unknown_snippet_is_located_at_its_name_with_the_snippets_listed(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/kr/legal.liquid", "법적 고지")
    welcome_text(project, "Hi\n{% render 'fotter' %}{% include 'kr/legal' %}"
                              "{% render 'footer' %}\n{% render 'header' %}")
    _, diagnostics = checked(project, monkeypatch)
    errors = [d for d in diagnostics if d.is_error]
    assert codes(errors) == [("JC609", WELCOME, 5, 13), ("JC609", WELCOME, 6, 13)]
    assert errors[0].message == "unknown snippet 'fotter'"
    assert errors[0].hint == "did you mean 'footer'?"
    assert errors[0].loc.length == len("'fotter'")
    assert errors[1].hint == "snippets in snippets/: footer, kr/legal"


def test_a_snippet_named_by_a_variable_is_an_error(project: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    welcome_text(project, "{% render 'footer' %}{% include profile.name %}")
    _, diagnostics = checked(project, monkeypatch)
    [error] = [d for d in diagnostics if d.is_error]
    assert codes([error]) == [("JC610", WELCOME, 4, 35)]
    assert error.message == "`include` must name its snippet in quotes"


def test_a_snippet_that_does_not_parse_is_located_in_its_file(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, FOOTER, "--\n{% if profile.name %}Hi\n{{ x | nofilter }}{% endif %}"
                               "{% render 'nope' %}")
    _, diagnostics = checked(project, monkeypatch)
    write(project, FOOTER, "--\n{% if profile.name %}Hi\n")
    _, broken = checked(project, monkeypatch)
    assert {(c, f, line) for c, f, line, _ in codes(diagnostics)} >= {
        ("JC607", FOOTER, 3), ("JC609", FOOTER, 3)}
    [error] = broken
    assert (error.code, error.loc.file, error.loc.line) == ("JC602", FOOTER, 2)
    assert error.message.startswith("Liquid syntax error in snippet 'footer': ")


def test_an_unused_snippet_is_a_warning(project: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/spare.liquid", "{{ anything }}")
    _, diagnostics = checked(project, monkeypatch)
    [warning] = diagnostics
    assert (warning.code, warning.is_error, warning.loc.file) == (
        "JC611", False, "snippets/spare.liquid")
    assert warning.hint == ("render it in a template ({% render 'spare' %}) or delete "
                            "snippets/spare.liquid")


def test_the_snippets_folder_is_optional(project: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    settings = project / "journeyctl.yaml"
    lines = settings.read_text(encoding="utf-8").splitlines(keepends=True)
    settings.write_text("".join(x for x in lines if not x.startswith("snippets:")) +
                        "snippets: partials/\n", encoding="utf-8")
    [error] = checked(project, monkeypatch)[1]
    assert (error.code, error.loc.file, error.hint) == (
        "JC609", WELCOME, "create partials/footer.liquid")
    (project / "snippets").rename(project / "partials")
    assert checked(project, monkeypatch)[1] == []


def test_a_snippet_that_is_not_utf8_is_located(project: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (project / FOOTER).write_bytes(b"--\nbye \xff\n")
    _, diagnostics = checked(project, monkeypatch)
    assert ("JC002", FOOTER, 2, 5) in codes(diagnostics)


# --- Korean rules on the rendered text ----------------------------------------------------------


def kr_project(root: Path, text: str) -> None:
    """A promotional SMS step under `compliance: [kr]`, its template's text given."""
    settings = root / "journeyctl.yaml"
    settings.write_text(settings.read_text(encoding="utf-8") + "compliance: [kr]\n",
                        encoding="utf-8")
    channels = root / "channels.yaml"
    channels.write_text(channels.read_text(encoding="utf-8") + (
        "  sms:\n    adapter: twilio\n"
        "    credentials: {account_sid: env:TWILIO_SID, auth_token: env:TWILIO_TOKEN}\n"
        '    from: "+15005550006"\n    address: phone\n'), encoding="utf-8")
    events = root / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "  email: string\n", "  email: string\n  phone: string\n"), encoding="utf-8")
    journey = root / "journeys/welcome.yaml"
    journey.write_text(journey.read_text(encoding="utf-8") +
                       "  - id: send_sms\n    send: {channel: sms, template: promo_sms}\n",
                       encoding="utf-8")
    write(root, "templates/promo_sms.yaml", f"channel: sms\ntext: {text!r}\n")


def test_an_opt_out_in_a_snippet_satisfies_the_korean_rule(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/kr/optout.liquid", "\n무료수신거부 080-000-0000")
    write(project, "snippets/kr/ad.liquid", "(광고)[Example] ")
    kr_project(project, "{% render 'kr/ad' %}새 상품이 나왔어요{% render 'kr/optout' %}")
    assert [d.code for d in checked(project, monkeypatch)[1]] == ["JC812"]  # the email
    (project / "templates/promo_sms.yaml").write_text(
        "channel: sms\ntext: \"{{ profile.name }} (광고) 새 상품\"\n", encoding="utf-8")
    assert [d.code for d in checked(project, monkeypatch)[1]] == [
        "JC611", "JC611", "JC812", "JC810", "JC811"]


# --- versions -----------------------------------------------------------------------------------


def test_a_journey_version_holds_the_snippets_its_templates_render(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/kr/legal.liquid", "법적 고지")
    write(project, FOOTER, "-- {% include 'kr/legal' %}")
    monkeypatch.chdir(project)
    loaded = validate(Path("."))
    assert loaded.project is not None
    content = plan.desired(loaded.project, loaded.docs).journeys["welcome"]
    assert content["snippets"] == {"footer": "-- {% include 'kr/legal' %}",
                                   "kr/legal": "법적 고지"}
    newer = {**content, "snippets": {**content["snippets"], "footer": "--"}}
    diff = plan.journey_diff(content, newer)
    assert diff["snippets"] == {"added": [], "removed": [], "changed": ["footer"], "fields": {
        "footer": [{"path": "source", "old": "-- {% include 'kr/legal' %}", "new": "--"}]}}
    change = {"journey": "welcome", "action": "update", "from_version": 1, "to_version": 2,
              "diff": diff}
    assert "      ~ snippet footer" in [text for _, text in plan._change_lines(change)]


def test_a_journey_without_snippets_keeps_its_content_and_hash(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    welcome_text(project, "Hi")
    write(project, FOOTER, "unused")
    monkeypatch.chdir(project)
    loaded = validate(Path("."))
    assert loaded.project is not None
    content = plan.desired(loaded.project, loaded.docs).journeys["welcome"]
    assert set(content) == {"journey", "templates"}
