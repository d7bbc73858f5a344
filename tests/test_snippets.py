"""Liquid snippets (`snippets/<name>.liquid`): the partials engine, rendering, the static checks
(variables located in the snippet file, unknown and unquoted names, the `render`/`include`
scopes), the Korean rules on the text after rendering, and versioning in plans."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl import plan
from journeyctl.checks.snippets import _loops
from journeyctl.diagnostics import Diagnostic, JourneyctlError
from journeyctl.liquid_env import (
    PLACEHOLDER,
    Partial,
    parse,
    partials,
    reach,
    static_text,
    used_snippets,
)
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


@pytest.mark.parametrize(("source", "text"), [
    ("{% assign n = 1 %}(광고)", "(광고)"),
    ("{% comment %}header{% endcomment %}(광고)", "(광고)"),
    ("{%- comment -%} header {%- endcomment -%}\n(광고)", "(광고)"),
    ("{% # header %}(광고)", "(광고)"),
    ("{% doc %}header{% enddoc %}(광고)", "(광고)"),
    ("{% capture c %}무료수신거부{% endcapture %}(광고)", "(광고)"),  # its body is not output
    ("{% liquid\nassign a = 1\nassign b = 2 %}(광고)", "(광고)"),
    ("{% liquid\nassign a = 1\necho a %}(광고)", f"{PLACEHOLDER}(광고)"),
    ("{% increment n %}(광고)", f"{PLACEHOLDER}(광고)"),  # prints the counter
    ("{% decrement n %}(광고)", f"{PLACEHOLDER}(광고)"),
    ("{% for i in x %}{% break %}{% endfor %}(광고)", f"{PLACEHOLDER}(광고)"),
    ("{% render 'header' %}(광고)", "(광고)"),
])
def test_static_text_adds_nothing_for_tags_that_output_nothing(source: str, text: str) -> None:
    snippets = FrozenMap({"header": "{%- comment -%}header{%- endcomment -%}"})
    assert static_text(source, snippets) == text


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
    assert problem.hint == ("the journey's version has no such snippet: create "
                            "snippets/footer.liquid, then validate and apply")


def test_each_kind_of_render_failure_has_its_own_hint(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built, _ = checked(project, monkeypatch)
    loop = FrozenMap({"footer": "{% render 'legal' %}", "legal": "{% render 'footer' %}"})
    hints = {}
    for name, snippets in (("loop", loop), ("filter", FrozenMap(
            {"footer": "{{ 1 | divided_by: 0 }}"})), ("undefined", FrozenMap(
            {"footer": "{{ profile.nickname }}"}))):
        with pytest.raises(JourneyctlError) as raised:
            render_template(built, built.templates["welcome_email"], ANA, snippets=snippets)
        [problem] = raised.value.diagnostics
        hints[name] = (problem.code, problem.hint)
    assert hints == {
        "loop": ("JC971", "a snippet renders itself, directly or through other snippets: "
                          "remove the loop (validate reports it as JC612)"),
        "filter": ("JC971", "a filter cannot take this value: check its arguments, or guard "
                            "it with {% if %} for users whose value does not fit"),
        "undefined": ("JC971", 'give the variable a fallback (`| default: "..."`) or supply it'),
    }


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
    assert errors[0].message == ("profile has no attribute 'nmae' (rendered by template "
                                 "'welcome_email', used by journey 'welcome')")
    assert errors[0].hint.startswith("did you mean 'name'?")
    assert errors[1].loc.length == len("entry.plam")


def test_a_problem_in_a_snippet_names_what_renders_it_once_however_many_do(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, FOOTER, "--\n{{ entry.plam }} {{ profile.nmae }}\n")
    nudge = project / "templates/nudge_email.yaml"
    nudge.write_text(nudge.read_text(encoding="utf-8") + "html: \"{% render 'footer' %}\"\n",
                     encoding="utf-8")
    _, diagnostics = checked(project, monkeypatch)
    assert [(d.code, d.loc.line, d.loc.col, d.message) for d in diagnostics] == [
        ("JC604", 2, 4, "event 'signup' has no property 'plam' (rendered by template "
                        "'nudge_email', used by journey 'welcome', and by 1 more)"),
        ("JC604", 2, 21, "profile has no attribute 'nmae' (rendered by template 'nudge_email', "
                         "used by journey 'welcome', and by 1 more)")]


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


def test_snippets_that_render_each_other_are_an_error_at_the_tag_closing_the_loop(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, FOOTER, "--\n{% render 'legal' %}")
    write(project, "snippets/legal.liquid",
          "법적 고지\n{% if profile.name %}{% include 'footer' %}{% endif %}")
    write(project, "snippets/self.liquid", "{% render 'self' %}")
    welcome_text(project, "{% render 'footer' %}{% render 'self' %}")
    _, diagnostics = checked(project, monkeypatch)
    assert codes(diagnostics) == [("JC612", "snippets/legal.liquid", 2, 33),
                                  ("JC612", "snippets/self.liquid", 1, 11)]
    loop, itself = diagnostics
    assert loop.message == "snippets render each other in a loop: footer → legal → footer"
    assert loop.loc.length == len("'footer'")
    assert itself.message == "snippet 'self' renders itself: self → self"
    assert loop.hint == ("Liquid stops the loop and the message is not sent: remove this "
                         "`include`, or move what the snippets share into a snippet that "
                         "renders none of them")


def test_loops_are_found_once_each_however_the_snippets_call_each_other() -> None:
    def call(name: str) -> Partial:
        return Partial("render", name, 0, len(name) + 2)

    calls = {"a": [call("b"), call("c")], "b": [call("a"), call("c")], "c": [call("c")],
             "d": [call("a"), call("missing")]}
    found = [(name, loop) for name, _, loop in _loops(calls)]
    assert found == [("b", ["a", "b", "a"]), ("c", ["c", "c"])]
    chain = {str(i): [call(str(i + 1))] for i in range(5_000)} | {"5000": [call("0")]}
    [(_, _, long)] = _loops(chain)  # no recursion: a long chain does not exhaust the stack
    assert len(long) == 5_002


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


def snippets_setting(root: Path, line: str) -> None:
    settings = root / "journeyctl.yaml"
    lines = settings.read_text(encoding="utf-8").splitlines(keepends=True)
    settings.write_text("".join(x for x in lines if not x.startswith("snippets:")) + line,
                        encoding="utf-8")


def test_the_default_snippets_folder_is_optional(project: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (project / FOOTER).unlink()
    (project / "snippets").rmdir()
    welcome_text(project, "Hi {% render 'footer' %}")
    for setting in ("", "snippets: snippets/\n", "snippets: snippets\n"):
        snippets_setting(project, setting)
        [error] = checked(project, monkeypatch)[1]
        assert (error.code, error.loc.file, error.hint) == (
            "JC609", WELCOME, "create snippets/footer.liquid")


def test_a_snippets_folder_named_in_the_settings_must_exist(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippets_setting(project, "snippets: partials/\n")
    [error] = checked(project, monkeypatch)[1]  # and the footer it would hold is not unknown
    assert (error.code, error.loc.file, error.loc.line, error.message) == (
        "JC902", "journeyctl.yaml", 13, "snippets folder partials not found")
    assert error.hint == ("create it, or point `snippets:` in journeyctl.yaml at it (leave "
                          "`snippets:` out when there are no snippets)")
    (project / "snippets").rename(project / "partials")
    assert checked(project, monkeypatch)[1] == []


def test_a_folder_named_like_a_snippet_is_not_read(project: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "snippets/dir.liquid").mkdir()
    built, diagnostics = checked(project, monkeypatch)
    assert diagnostics == [] and list(built.snippets) == ["footer"]


def test_a_snippet_that_is_not_utf8_is_located_and_nothing_follows_from_it(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / FOOTER).write_bytes(b"--\nbye \xff\n")
    write(project, "snippets/legal.liquid", "법적 고지")  # rendered by the broken one, maybe
    built, diagnostics = checked(project, monkeypatch)
    assert codes(diagnostics) == [("JC002", FOOTER, 2, 5)]  # no "unknown snippet", no "unused"
    assert not built.loaded("snippet", "footer") and built.loaded("snippet", "legal")


@pytest.mark.parametrize(("text", "expected"), [
    ("{% if %}{% render 'footer' %}", [("JC602", WELCOME, 4, 6)]),  # does not parse
    ("{% render footer %}", [("JC610", WELCOME, 4, 13)]),  # not in quotes: any snippet
    ("{% render 'Footer' %}", [("JC609", WELCOME, 4, 13)]),  # misspelt: maybe this one
])
def test_a_call_that_cannot_be_followed_keeps_every_snippet_from_being_called_unused(
        project: Path, monkeypatch: pytest.MonkeyPatch, text: str,
        expected: list[tuple[str, str, int, int]]) -> None:
    welcome_text(project, text)
    assert codes(checked(project, monkeypatch)[1]) == expected


def test_a_broken_field_keeps_every_snippet_from_being_called_unused(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, WELCOME, 'channel: email\nsubject: "Welcome"\ntext: "{% render \'footer\' %}"'
                            "\nhtml: [1]\n")
    assert [c for c, *_ in codes(checked(project, monkeypatch)[1])] == ["JC103"]
    write(project, WELCOME, 'channel: email\nsubject: "Welcome"\ntext: "Hi"\n')
    assert [c for c, *_ in codes(checked(project, monkeypatch)[1])] == ["JC611"]


def test_reach_says_when_a_call_could_not_be_followed() -> None:
    assert reach(["{% render 'footer' %}"], SNIPPETS) == ({"footer", "kr/legal"}, True)
    assert reach(["{% render 'footer' %}{% render x %}"], SNIPPETS).complete is False
    assert reach(["{% render 'nope' %}"], SNIPPETS).complete is False
    assert reach(["{% if %}"], SNIPPETS).complete is False
    assert reach(["{% render 'bad' %}"], FrozenMap({"bad": "{% if %}"})) == ({"bad"}, False)


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


def test_tags_that_output_nothing_do_not_hide_the_ad_prefix(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(project, "snippets/kr/ad.liquid", "{%- comment -%}header{%- endcomment -%}(광고)")
    kr_project(project, "{% render 'kr/ad' %}{% assign n = 1 %}새 상품 무료수신거부 080")
    assert [d.code for d in checked(project, monkeypatch)[1]] == ["JC812"]  # the email
    (project / "templates/promo_sms.yaml").write_text(
        "channel: sms\ntext: \"{% comment %}x{% endcomment %}{% assign n = 1 %}(광고) 새 상품 "
        "무료수신거부 080\"\n", encoding="utf-8")
    assert [d.code for d in checked(project, monkeypatch)[1]] == ["JC611", "JC812"]


def test_the_korean_rules_wait_for_a_snippet_that_cannot_be_read(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "snippets/kr").mkdir()
    (project / "snippets/kr/ad.liquid").write_bytes("(광고) 무료수신거부 080 ".encode() + b"\xff")
    kr_project(project, "{% render 'kr/ad' %}새 상품")
    assert [d.code for d in checked(project, monkeypatch)[1]] == ["JC002", "JC812"]


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
    change = plan.Change("welcome", "update", 1, 2, "sha256:x", newer, diff)
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
