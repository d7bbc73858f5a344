"""The render limits (journeyctl.liquid_limits), HTML escaping, and what `validate` counts
without the data (liquid_env.cost, ranges, safe_uses; checks.snippets.trusted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from liquid.exceptions import (
    LocalNamespaceLimitError,
    LoopIterationLimitError,
    OutputStreamLimitError,
)

from journeyctl import liquid_env
from journeyctl.checks.snippets import trusted
from journeyctl.diagnostics import Diagnostic, JourneyctlError, Loc
from journeyctl.liquid_limits import (
    LOOP_ITERATIONS,
    OUTPUT_BYTES,
    VALUE_CHARS,
    Budget,
    RenderFailure,
    RenderTimeError,
)
from journeyctl.messages import render_template
from journeyctl.model import Attr, Catalog, EventDef, FrozenMap, Project
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


@pytest.mark.parametrize("tag", ["render", "include"])
def test_snippets_rendering_the_next_several_times_over_are_stopped(tag: str) -> None:
    """4**8 renders without a loop, a filter or a variable: each render spends one iteration,
    so the message fails past 10,000 instead of rendering on (and on, a level deeper)."""
    fan = FrozenMap({f"s{n}": f"{{% {tag} 's{n + 1}' %}}" * 4 for n in range(8)} | {"s8": "x"})
    assert liquid_env.render(f"{{% {tag} 's5' %}}", {}, Budget(), fan, False) == "x" * 64
    with pytest.raises(LoopIterationLimitError):
        liquid_env.render(f"{{% {tag} 's0' %}}", {}, Budget(), fan, False)


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
     f"join: the result would have more than {VALUE_CHARS} characters"),
    # 9,000 numbers joined by 500 KB: 4.5 GB, were it built before being measured
    ("{{ (1..9000) | join: profile.v | size }}", {"v": "a" * 500_000},
     f"join: the result would have more than {VALUE_CHARS} characters"),
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


# --- what validate counts without the data -----------------------------------------------------

@pytest.mark.parametrize(("source", "iterations", "output"), [
    ("{% for i in (1..20) %}ab{% endfor %}", 20, 40),
    ("{% for i in (1..20) offset: 5 limit: 3 %}a{% endfor %}", 8, 3),  # 5 stepped over
    ("{% for t in profile.tags %}a{% endfor %}", 1, 0),  # data: once, writes nothing for sure
    ("{% for t in profile.tags limit: 50 %}{% for i in (1..10) %}{% endfor %}{% endfor %}",
     550, 0),
    ("{% if profile.x %}{% for i in (1..9) %}{% endfor %}{% else %}{% for i in (1..4) %}"
     "{% endfor %}{% endif %}ok", 9, 2),
    ("{% for i in (1..3) %}{% render 'rows' %}{% endfor %}", 306, 0),  # a render is one too
    ("{% capture c %}{% for i in (1..7) %}long{% endfor %}{% endcapture %}", 7, 0),
])
def test_cost_counts_what_a_template_runs_whatever_the_data(source: str, iterations: int,
                                                            output: int) -> None:
    found = liquid_env.cost(source, SNIPPETS)
    assert found is not None
    assert (found.iterations, found.output) == (iterations, output)


def test_cost_points_at_the_heaviest_loop() -> None:
    source = "{% for i in (1..2) %}{% endfor %}{% for j in (1..90) %}{% endfor %}"
    found = liquid_env.cost(source, SNIPPETS)
    assert found is not None and found.heaviest == (source.index("for j"), 3)


def test_ranges_finds_the_ranges_filters_read_not_a_loops_own() -> None:
    parsed = liquid_env.parse("{% for i in (1..5) %}{% endfor %}{{ (2..40) | join }}")
    assert [(r.text, r.size) for r in liquid_env.ranges(parsed)] == [("(2..40)", 39)]


def test_safe_uses_name_the_values_let_through() -> None:
    parsed = liquid_env.parse("{{ 'x' | safe }}{{ profile.a.b | append: entry.c | raw }}")
    uses = liquid_env.safe_uses(parsed)
    assert [(u.filter, u.paths) for u in uses] == [
        ("safe", ()), ("raw", (("profile", "a", "b"), ("entry", "c")))]


def test_a_field_is_trusted_only_when_the_catalog_says_so_everywhere() -> None:
    loc = Loc("events.yaml")
    banner = Attr(loc=loc, name="banner", trusted=True)
    promo = Attr(loc=loc, name="promo", type="object", trusted=True)
    catalog = Catalog(loc=loc, profile=FrozenMap({"banner": banner, "promo": promo,
                                                  "name": Attr(loc=loc, name="name")}),
                      events=FrozenMap({
                          "a": EventDef(loc=loc, name="a", properties=FrozenMap({"c": banner})),
                          "b": EventDef(loc=loc, name="b", properties=FrozenMap(
                              {"c": Attr(loc=loc, name="c")}))}))
    assert trusted(catalog, ("profile", "banner"))
    assert trusted(catalog, ("profile", "promo", "url"))  # inside a trusted object
    assert not trusted(catalog, ("profile", "name"))
    assert not trusted(catalog, ("entry", "c"))  # event b declares `c` untrusted
    assert not trusted(catalog, ("message", "template"))


def _codes(root: Path, code: str, monkeypatch: pytest.MonkeyPatch) -> list[Diagnostic]:
    monkeypatch.chdir(root)
    return [d for d in validate(Path(".")).diagnostics if d.code == code]


def test_safe_is_checked_in_snippets_an_html_field_renders(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    scaffold(root, "proj")
    (root / "snippets" / "in_html.liquid").write_text("{{ profile.name | safe }}", "utf-8")
    (root / "snippets" / "in_text.liquid").write_text("{{ profile.name | safe }}", "utf-8")
    (root / "templates" / "welcome_email.yaml").write_text(
        "channel: email\nsubject: Hi\ntext: \"{% render 'in_text' %}{% render 'footer' %}\"\n"
        "html: \"{% render 'in_html' %}\"\n", encoding="utf-8")
    assert [d.loc.file for d in _codes(root, "JC615", monkeypatch)] == [
        "snippets/in_html.liquid"]


def test_a_range_a_filter_reads_is_checked_statically(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "proj"
    scaffold(root, "proj")
    (root / "snippets" / "footer.liquid").write_text("{{ (1..20000) | join }}", "utf-8")
    [problem] = _codes(root, "JC613", monkeypatch)
    assert (problem.loc.file, problem.loc.line, problem.loc.col) == ("snippets/footer.liquid", 1, 4)
    assert problem.message.startswith("the range (1..20000) holds 20,000 numbers")

