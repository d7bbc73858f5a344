"""The render limits (journeyctl.liquid_limits) and HTML escaping."""

from __future__ import annotations

from pathlib import Path

import pytest
from liquid.exceptions import (
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
)

from journeyctl import liquid_env
from journeyctl.diagnostics import JourneyctlError
from journeyctl.liquid_limits import (
    LOOP_ITERATIONS,
    OUTPUT_BYTES,
    VALUE_CHARS,
    Budget,
    RenderFailure,
    RenderTimeError,
)
from journeyctl.messages import render_template
from journeyctl.model import FrozenMap, Project
from journeyctl.project import validate
from journeyctl.scaffold import scaffold

SNIPPETS = FrozenMap({"rows": "{% for j in (1..100) %}{% endfor %}",
                      "name": "{{ profile.name }}"})
EVE = {"name": "<script>x</script>", "tags": list(range(200))}


def render(source: str, profile: dict | None = None, budget: Budget | None = None, *,
           html: bool = False) -> str:
    return liquid_env.render(source, {"profile": profile or {}}, budget or Budget(), SNIPPETS,
                             html)


# --- the limits ------------------------------------------------------------------------------

def test_loops_count_each_run_of_an_inner_loop() -> None:
    assert render("{% for i in (1..10) %}{% for j in (1..999) %}{% endfor %}{% endfor %}") == ""
    with pytest.raises(LoopIterationLimitError):  # 10 + 10 * 1,000 > 10,000
        render("{% for i in (1..10) %}{% for j in (1..1000) %}{% endfor %}{% endfor %}")


def test_a_loop_over_data_is_stopped_when_it_starts() -> None:
    with pytest.raises(LoopIterationLimitError):
        render("{% for t in profile.tags %}{% endfor %}", {"tags": [0] * (LOOP_ITERATIONS + 1)})


def test_the_fields_of_a_message_and_its_snippets_share_one_budget() -> None:
    budget = Budget()
    render("{% for i in (1..6000) %}{% endfor %}", budget=budget)
    with pytest.raises(LoopIterationLimitError):
        render("{% for i in (1..3000) %}{% endfor %}{% render 'rows' %}"
               "{% for i in (1..1000) %}{% endfor %}", budget=budget)
    assert render("{% for i in (1..6000) %}{% endfor %}") == ""  # a new message: a new budget


def test_a_range_a_filter_reads_counts_as_loop_iterations() -> None:
    assert render("{{ (1..3) | join: ',' }}") == "1,2,3"
    with pytest.raises(LoopIterationLimitError):
        render("{{ (1..100000000) | join: ',' }}")


def test_output_is_bounded_over_the_fields_of_a_message() -> None:
    budget = Budget()
    half = "x" * (OUTPUT_BYTES // 2)
    render("{{ profile.v }}", {"v": half}, budget)
    with pytest.raises(OutputStreamLimitError):
        render("{{ profile.v }}{{ profile.v }}", {"v": half}, budget)


def test_what_a_template_assigns_is_bounded() -> None:
    with pytest.raises(LocalNamespaceLimitError):
        render("{% assign x = profile.v %}{% for i in (1..20) %}{% assign x = x | append: x %}"
               "{% endfor %}", {"v": "ab"})


@pytest.mark.parametrize(("source", "profile", "reason"), [
    ("{{ profile.v | split: '' | join: ', ' | size }}", {"v": "a" * 600_000},
     f"join: a value of more than {VALUE_CHARS} characters"),
    ("{{ profile.v | replace: 'a', 'aaaa' | size }}", {"v": "a" * 300_000},
     f"replace: the result would have more than {VALUE_CHARS} characters"),
    ("{{ profile.n | times: profile.n | times: profile.n | size }}", {"n": 10 ** 2000},
     "times: a number of more than 4300 digits"),
])
def test_a_value_too_large_for_a_filter_fails_the_render(source: str, profile: dict,
                                                         reason: str) -> None:
    with pytest.raises(RenderFailure, match=reason):
        render(source, profile)


def test_a_render_past_its_time_budget_fails() -> None:
    with pytest.raises(RenderTimeError, match="render time limit reached"):
        render("{{ profile.name }}", {"name": "a"}, Budget(seconds=-1))


# --- escaping --------------------------------------------------------------------------------

def test_html_escapes_values_and_not_what_the_template_writes() -> None:
    assert render("<b>{{ profile.name }}</b>{{ profile.name | append: '<i>' }}", EVE,
                  html=True) == "<b>&lt;script&gt;x&lt;/script&gt;</b>&lt;script&gt;x&lt;/" \
                                "script&gt;<i>"
    assert render("{{ profile.name | escape }}", EVE, html=True) == \
        "&lt;script&gt;x&lt;/script&gt;"  # escaped once
    assert render("{% render 'name' %}", EVE, html=True) == "&lt;script&gt;x&lt;/script&gt;"


def test_safe_and_raw_let_a_value_through_and_plain_text_stays_plain() -> None:
    assert render("{{ profile.name | safe }}{{ profile.name | raw }}", EVE, html=True) == \
        "<script>x</script>" * 2
    assert render("<b>{{ profile.name }}</b>", EVE) == "<b><script>x</script></b>"


# --- render_template: the message fails with the reason ---------------------------------------

@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "proj"
    scaffold(root, "proj")
    catalog = root / "events.yaml"
    catalog.write_text(catalog.read_text(encoding="utf-8").replace(
        "profile:\n", "profile:\n  tags: list\n"), encoding="utf-8")
    (root / "templates" / "welcome_email.yaml").write_text(
        'channel: email\nsubject: "Hi {{ profile.name }}"\n'
        'text: "{% for a in profile.tags %}{% for b in profile.tags %}{% endfor %}{% endfor %}'
        'Hi {{ profile.name }}"\nhtml: "<p>{{ profile.name }}</p>"\n', encoding="utf-8")
    monkeypatch.chdir(root)
    loaded = validate(Path("."))
    assert loaded.project is not None
    return loaded.project


def test_a_message_over_a_limit_is_jc971_with_the_reason_and_a_hint(project: Project) -> None:
    with pytest.raises(JourneyctlError) as caught:
        render_template(project, project.templates["welcome_email"], EVE)
    [problem] = caught.value.diagnostics
    assert problem.code == "JC971"
    assert problem.message == ("template 'welcome_email': `text` cannot be rendered for user "
                               "'?': loop iteration limit reached")
    assert problem.hint is not None and "bound loops over the profile's lists" in problem.hint


def test_render_template_escapes_only_the_html_field(project: Project) -> None:
    content = render_template(project, project.templates["welcome_email"],
                              {"name": "<i>", "tags": []})
    assert content == {"subject": "Hi <i>", "text": "Hi <i>", "html": "<p>&lt;i&gt;</p>"}
