"""The YAML loader: YAML 1.2 scalars, marks, and every rejection as a located error."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeyctl.diagnostics import JourneyctlError
from journeyctl.yamlload import MAX_DEPTH, decode, load_file, parse


def error_of(text: str) -> tuple[str, int, int, str]:
    with pytest.raises(JourneyctlError) as info:
        parse(text, "f.yaml")
    d = info.value.diagnostics[0]
    return d.code, d.loc.line, d.loc.col, d.message


@pytest.mark.parametrize(("text", "value"), [
    ("a: 21:00", "21:00"),  # YAML 1.1 would read 1260
    ("a: no", "no"),  # YAML 1.1 would read False
    ("a: on", "on"),
    ("a: 2024-03-13", "2024-03-13"),  # stays text, no date object
    ("a: 010", 10),
    ("a: 0x1F", 31),
    ("a: 0o17", 15),
    ("a: 1.5e3", 1500.0),
    ("a: true", True),
    ("a: False", False),
    ("a: ~", None),
    ("a:", None),
    ("a: '007'", "007"),
    ("a: !!str 12", "12"),
    ("a: 장바구니", "장바구니"),
])
def test_yaml_1_2_core_scalars(text: str, value: object) -> None:
    assert parse(text, "f.yaml").data == {"a": value}


def test_marks_point_at_values_and_keys() -> None:
    doc = parse("steps:\n  - id: a\n    next: b\n  - {id: c, wait: 1h}\n", "f.yaml")
    assert str(doc.loc(("steps", 0, "next"))) == "f.yaml:3:11"
    assert str(doc.loc(("steps", 0, "next"), key=True)) == "f.yaml:3:5"
    assert str(doc.loc(("steps", 1, "wait"))) == "f.yaml:4:19"
    # a path below a scalar falls back to the nearest ancestor with a mark
    assert str(doc.loc(("steps", 1, "wait", "nope"))) == "f.yaml:4:19"


def test_location_inside_a_scalar() -> None:
    doc = parse('a: "xx {{ y }}"\nb: |\n  one\n  two {{ z }}\n', "f.yaml")
    assert str(doc.loc_in_scalar(("a",), 3)) == "f.yaml:1:8"
    assert str(doc.loc_in_scalar(("b",), doc.data["b"].index("{{"))) == "f.yaml:4:7"


def test_merge_keys_explicit_wins() -> None:
    doc = parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n", "f.yaml")
    assert doc.data["c"] == {"x": 1, "y": 3}


def test_aliases_share_values() -> None:
    doc = parse("a: &x [1, 2]\nb: *x\n", "f.yaml")
    assert doc.data == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize(("text", "code", "line", "col"), [
    ("a: 1\na: 2\n", "JC004", 2, 1),
    ("a:\n\tb: 1\n", "JC003", 2, 1),
    ("a: [1, 2\n", "JC003", 2, 1),
    ("a: *nope\n", "JC003", 1, 4),
    ("a: &r [*r]\n", "JC005", 1, 8),
    ("a: 1\n---\nb: 2\n", "JC006", 2, 1),
    ("a: !custom x\n", "JC006", 1, 4),
    ("? [k]\n: v\n", "JC006", 1, 3),
    ("a: \x07\n", "JC003", 1, 4),
    ("a: !!int twelve\n", "JC003", 1, 4),
])
def test_rejections_are_located(text: str, code: str, line: int, col: int) -> None:
    assert error_of(text)[:3] == (code, line, col)


def test_tab_error_explains_itself() -> None:
    code, _, _, message = error_of("a:\n\tb: 1\n")
    assert code == "JC003" and "tab" in message


def test_alias_bomb_is_bounded() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcdefghi", "bcdefghij", strict=True):
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    code, *_ = error_of("\n".join(lines))
    assert code == "JC005"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    # libyaml's own composer recurses on this and takes the interpreter down with it
    code, line, _, message = error_of("[" * 100_000 + "]" * 100_000)
    assert (code, line) == ("JC005", 1) and str(MAX_DEPTH) in message


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 999, 1_001, 100_000])
@pytest.mark.parametrize("style", ["flow", "block"])
def test_one_nesting_error_below_and_beyond_libyamls_own_limit(depth: int, style: str) -> None:
    # PyYAML 6.0.4's libyaml stops at 1,000 levels with a scanner error of its own: both
    # limits are the same JC005, at the opening of the first level too deep
    if style == "flow":
        text, where = "[" * depth + "]" * depth, (1, MAX_DEPTH + 1)
    else:
        text, where = "- " * depth + "x", (1, 2 * MAX_DEPTH + 1)
    assert error_of(text) == ("JC005", *where,
                              f"values are nested more than {MAX_DEPTH} levels deep")


def test_not_utf8_is_located() -> None:
    with pytest.raises(JourneyctlError) as info:
        decode("a: 1\nb: caf\xe9\n".encode("latin-1"), "f.yaml")
    d = info.value.diagnostics[0]
    assert (d.code, d.loc.line, d.loc.col) == ("JC002", 2, 7)


def test_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_file(path).data == {"a": 1}


def test_unreadable_file_is_located(tmp_path: Path) -> None:
    with pytest.raises(JourneyctlError) as info:
        load_file(tmp_path / "missing.yaml", "missing.yaml")
    assert info.value.diagnostics[0].code == "JC001"
