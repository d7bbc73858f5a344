"""The cost bound of CEL expressions: what `validate` lets through and what it refuses (JC408),
the parser it reads expressions with, and the sizes the engine measures at run time."""

from __future__ import annotations

import cel
import pytest

from journeyctl.celcost import (
    COST_LIMIT,
    LIMITS,
    Sizes,
    Unsupported,
    depends_on_data,
    estimate,
    needs_measuring,
    round_up,
)
from journeyctl.celcost.parse import Binary, Call, Ident, Loop, Select, parse
from journeyctl.celcost.regex import regex_weight
from journeyctl.celenv import NAMESPACED
from journeyctl.checks.context import CheckContext
from journeyctl.checks.expressions import expressions
from journeyctl.diagnostics import Collector
from journeyctl.engine.celrt import measure
from journeyctl.project import validate
from tests.support import EXAMPLE, REPO

# Realistic conditions: each passes, with room (a bound, not a measurement).
ALLOWED = [
    ("event.price >= 10000", 2_000),
    ('has(profile.vip) && profile.vip && profile.country == "KR"', 5_000),
    ('count("view", duration("168h")) >= 3', 100),
    ('event.items.exists(i, i.category == "shoes")', 10_000),
    ("event.items.map(i, i.price).sum() > 100", 200_000),
    ('profile.tags.filter(t, t.startsWith("seg_")).size() > 0', 200_000),
    ("event.items.exists(i, profile.wishlist.exists(w, w == i.sku))", 600_000),
    ('"vip" in profile.tags', 2_000),
    ('event.phone.matches("^010-\\\\d{4}-\\\\d{4}$")', 20_000),
    ("lists.range(10).map(x, x * 2)", 1_000),
    ("lists.range(10000).exists(x, x == 5)", 400_000),  # linear: it stops, copies nothing
    ("lists.range(size(event.items)).exists(i, i > 3)", 50_000),  # size() is bounded too
    ('event.name.lowerAscii().contains("abc")', 10_000),
]

# (expression, the smallest part over the limit, why, at least this estimate)
REFUSED = [
    ("lists.range(10000).map(x, x * 2)", "lists.range(10000).map(x, x * 2)",
     "copies its growing result", 100_000_000),
    ("lists.range(1000).filter(x, x > 2).size() > 0", "lists.range(1000).filter(x, x > 2)",
     "copies its growing result", 1_000_000),
    ("event.x > 0 && lists.range(1000).exists(a, lists.range(1000).exists(b, a * b == 7))",
     "lists.range(1000).exists(a, lists.range(1000).exists(b, a * b == 7))",
     "for each of up to 1,000 entries", 30_000_000),
    ("event.items.exists(a, event.items.exists(b, event.items.exists(c, a == b)))",
     "event.items.exists(a, event.items.exists(b, event.items.exists(c, a == b)))",
     "for each of up to 100 entries", 10_000_000),
    ("lists.range(event.n).size() > 0", "lists.range(event.n)",
     "size that is not a constant", float("inf")),
    ("event.url.matches(profile.pattern)", "event.url.matches(profile.pattern)",
     "pattern that is not a constant", float("inf")),
    ('event.name.matches("(a{300}){300}")', 'event.name.matches("(a{300}){300}")',
     "compiles this pattern (weight 90,000)", 1_000_000),
    ('event.items.exists(i, i.name.matches("^\\\\w+$"))',
     'event.items.exists(i, i.name.matches("^\\\\w+$"))', "for each of up to 100", 1_000_000),
    ('profile.name.split("").map(c, c).size() > 0', 'profile.name.split("").map(c, c)',
     "copies its growing result", 1_000_000),
]


@pytest.mark.parametrize(("source", "at_most"), ALLOWED)
def test_realistic_conditions_pass(source: str, at_most: float) -> None:
    cel.compile(source)
    found = estimate(source)
    assert found.over is None
    assert found.cost <= at_most


@pytest.mark.parametrize(("source", "part", "why", "at_least"), REFUSED)
def test_costly_conditions_are_refused_at_their_costly_part(
        source: str, part: str, why: str, at_least: float) -> None:
    cel.compile(source)
    found = estimate(source)
    assert found.cost > COST_LIMIT and found.cost >= at_least
    assert found.over is not None
    assert source[found.over.start:found.over.end] == part
    assert why in found.over.why
    assert found.over.hint


def test_the_issue_example_is_bounded_by_the_square_of_its_range() -> None:
    # map() copies its result at each element: 10,000 × 10,000, not 10,000 steps
    assert estimate("lists.range(10000).map(x, x * 2)").cost == 100_300_027
    assert estimate("lists.range(10000).exists(x, x * 2 == 7)").cost < 400_000


def test_data_sizes_raise_the_bound_and_a_loop_over_data_depends_on_them() -> None:
    source = "event.items.map(i, i * 2).exists(p, p > 100)"
    at_limits = estimate(source).cost
    bigger = estimate(source, Sizes(1_600, LIMITS.chars, 2_000)).cost
    assert at_limits <= COST_LIMIT < bigger
    assert depends_on_data(source)
    assert not depends_on_data("lists.range(10).exists(x, x > 3)")


def test_only_costs_that_outgrow_the_data_need_it_measured_at_run_time() -> None:
    for source in ("event.price >= 10000", 'has(profile.vip) && profile.country == "KR"',
                   '"vip" in profile.tags', "event.items.all(i, has(i.sku))"):
        assert not needs_measuring(source), source  # of the order of reading the data
    for source in ("event.items.map(i, i * 2).size() > 1",  # quadratic
                   "event.items.exists(i, profile.tags.exists(t, t == i))",  # a product
                   "event.name.lowerAscii() == profile.name"):  # per character, in Python
        assert needs_measuring(source), source


def test_sizes_round_up_on_the_limits_grid() -> None:
    assert round_up(Sizes(3, 0, 40)) == LIMITS  # within the limits: what validate checked
    assert round_up(Sizes(1_000, 1_001, 1_000)) == Sizes(1_600, 2_000, 1_000)


def test_measure_counts_as_the_estimate_does() -> None:
    # a map: 1 + its keys + its values; a list: 1 + its items; strings: 2 + length / 256
    sizes = measure([{"items": [1, 2, 3], "name": "x" * 512}])
    assert sizes == Sizes(entries=3, chars=512,
                          weight=1 + (2 + 5 / 256) + (1 + 3) + (2 + 4 / 256) + (2 + 512 / 256))
    assert measure([{"a": 1}, [0] * 150]) == Sizes(150, 1, 151)  # keys are strings too


def test_regex_weight_grows_with_counts_and_unicode_classes() -> None:
    assert regex_weight("abc") == 3
    assert regex_weight("(a{300}){300}") == 90_000
    assert regex_weight(r"\w") == 500 and regex_weight(r"\d{3}-\d{4}") == 281
    assert regex_weight("[^a]") == regex_weight(".") == 20
    assert regex_weight(r"\p{Hangul}{3}") == 1_500
    assert regex_weight("(?i)abc") == 9  # case-insensitive letters are classes


def test_parser_reads_cel_precedence_and_macros() -> None:
    tree = parse("a.b + 1 * 2 in [3] && lists.range(3).map(x, x)", NAMESPACED)
    assert isinstance(tree, Binary) and tree.op == "&&"
    relation = tree.left
    assert isinstance(relation, Binary) and relation.op == "in"
    assert isinstance(relation.left, Binary) and relation.left.op == "+"
    loop = tree.right
    assert isinstance(loop, Loop) and loop.kind == "map" and loop.var == "x"
    assert isinstance(loop.target, Call) and loop.target.name == "lists.range"
    method = parse('profile.name.lowerAscii()', NAMESPACED)
    assert isinstance(method, Call) and isinstance(method.args[0], Select)
    assert isinstance(parse(".a", NAMESPACED), Ident)


def test_parser_reads_every_expression_of_the_example_projects() -> None:
    sources = []
    for root in (EXAMPLE, REPO / "tests/daemon/project"):
        loaded = validate(root)
        assert loaded.project is not None and not loaded.diagnostics
        ctx = CheckContext(loaded.project, loaded.docs, Collector())
        for journey in loaded.project.journeys:
            sources += [expr.source for expr, _ in expressions(ctx, journey)]
    assert len(sources) > 10
    for source in sources:
        assert estimate(source).over is None, source


@pytest.mark.parametrize("source", [
    "[,]", "{,}", 'Foo{a: 1}', "1.lowerAscii()", ".5 + 1e3 + 0x1F + 2u", "x.map(y, y > 1, y * 2)",
    "a ? b : c ? d : e", "!!x.y[1].z(2, 3) || --x > 0", 'r"\\d" + b"q" + """t"""', "1 < 2 < 3",
])
def test_parser_reads_what_cel_compiles(source: str) -> None:
    cel.compile(source)
    estimate(source)  # no Unsupported


def test_syntax_it_does_not_read_is_reported() -> None:
    with pytest.raises(Unsupported):
        estimate("a ? b")  # never compiles in CEL; the estimator does not guess
