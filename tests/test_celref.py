"""Static reading of CEL: field paths, calls, comprehension variables, count()."""

from __future__ import annotations

from journeyctl.celenv import NAMESPACED, CountCall, parse_count
from journeyctl.celref import references


def paths(source: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.root, p.fields) for p in references(source, NAMESPACED).paths]


def calls(source: str) -> list[str]:
    return [c.name for c in references(source, NAMESPACED).calls]


def test_paths_and_methods() -> None:
    assert paths("event.price >= 10000 && profile.consent.email") == [
        ("event", ("price",)), ("profile", ("consent", "email"))]
    assert paths('profile["consent"]["sms"] == true') == [("profile", ("consent", "sms"))]
    assert paths('event.name.startsWith("x")') == [("event", ("name",))]
    assert calls('event.name.startsWith("x")') == ["startsWith"]


def test_strings_are_not_paths() -> None:
    assert paths('"event.fake" + r"profile.x" + \'\'\'entry.y\'\'\'') == []
    assert paths(r'"a\"b" + event.x') == [("event", ("x",))]


def test_comprehension_variables_are_bound() -> None:
    refs = references("event.items.exists(i, i.price > 100)", NAMESPACED)
    assert refs.bound == {"i"}
    assert [(p.root, p.fields) for p in refs.paths] == [("event", ("items",))]


def test_namespaced_functions() -> None:
    assert calls("math.greatest(event.a, 2)") == ["math.greatest"]
    assert paths("math.greatest(event.a, 2)") == [("event", ("a",))]


def test_path_offsets_and_lengths() -> None:
    ref = references("1 + profile.consent.email", NAMESPACED).paths[0]
    assert (ref.offset, ref.length) == (4, len("profile.consent.email"))


def test_count_arguments() -> None:
    call = references('count("product_view", duration("168h")) > 2', NAMESPACED).calls[0]
    assert parse_count(call) == CountCall("product_view", 168 * 3600)
    bad_window = references('count("a", duration("7d"))', NAMESPACED).calls[0]
    assert "168h" in str(parse_count(bad_window))
    not_constant = references("count(event.name, duration(\"1h\"))", NAMESPACED).calls[0]
    assert isinstance(parse_count(not_constant), str)
