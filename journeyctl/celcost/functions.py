"""The cost of the functions an expression may call: their own work and the shape of their
result, as the `cel` library and its Python extension library (`cel.stdlib`) run them."""

from __future__ import annotations

import math
from dataclasses import replace

from journeyctl.celcost.hints import REGEX_HINT
from journeyctl.celcost.parse import Call, Lit
from journeyctl.celcost.regex import regex_weight
from journeyctl.celcost.shapes import (
    INF,
    SCALAR,
    Cost,
    Shape,
    Why,
    fixed,
    item_of,
    number,
    plus,
    scalar,
    text,
    weighted,
)
from journeyctl.celenv import EXTENSION_FUNCTIONS, JOURNEY_FUNCTIONS
from journeyctl.celref import string_value

# The extension functions of `cel.stdlib` and `count` run in Python; `contains` does for lists.
PYTHON_FUNCTIONS = EXTENSION_FUNCTIONS | JOURNEY_FUNCTIONS | {"contains"}


def function_cost(node: Call, args: list[Shape]) -> tuple[Cost, Shape, Why]:
    """The cost of a function's own work, the shape of its result, and why it costs."""
    name = node.name
    first = args[0] if args else SCALAR
    second = args[1] if len(args) > 1 else SCALAR
    if name == "matches":
        return _matches(node, first)
    if name == "lists.range":
        n = first.most if first.most is not None else INF
        why = () if first.most is not None else (
            "`lists.range()` with a size that is not a constant number",
            "write the size as a number, as in lists.range(10)")
        return fixed(2 * n), Shape(entries=n, weight=1 + n), why
    if name in {"string", "bytes", "trim", "reverse", "substring", "charAt", "dyn", "slice",
                "strings.quote", "lowerAscii", "upperAscii", "base64.encode", "base64.decode"}:
        return _copy_like(name, first)
    if name in {"distinct", "sets.contains", "sets.equivalent", "sets.intersects", "sort"}:
        return _pairs(name, first, second)
    if name == "join":
        out = first.entries * (item_of(first).chars + second.chars)
        return plus(fixed(out / 16), weighted(first)), text(out), ()
    if name == "flatten":
        return weighted(first), _flattened(first), ()
    units, shape = _simple(name, args)
    return fixed(units), shape, ()


def _simple(name: str, args: list[Shape]) -> tuple[float, Shape]:
    first, second, third = (*args, SCALAR, SCALAR, SCALAR)[:3]
    if name == "size":
        return 1, Shape(most=max(first.entries, first.chars))
    if name in {"startsWith", "endsWith"}:
        return second.chars / 16, SCALAR
    if name in {"contains", "indexOf", "lastIndexOf"}:  # in a string, or in a list
        in_list = min(first.entries * min(item_of(first).weight, second.weight), first.weight)
        return (first.chars + second.chars) / 16 + in_list, SCALAR
    if name == "replace":
        out = first.chars + (first.chars + 1) * third.chars
        return out / 16, text(out)
    if name == "split":
        pieces = first.chars + 1
        return pieces, Shape(entries=pieces, weight=1 + 2 * pieces + first.chars / 256,
                             item=text(first.chars))
    if name in {"min", "max", "sum", "math.greatest", "math.least", "first", "last"}:
        many = len(args) == 1 and (first.entries or first.data)
        return first.entries, item_of(first) if many else SCALAR
    if name in {"int", "uint", "double", "timestamp", "duration"}:
        return first.chars / 16, SCALAR
    return 1, SCALAR  # accessors (getHours), math.*, bool, type, count, unknown ones


def _pairs(name: str, first: Shape, second: Shape) -> tuple[Cost, Shape, Why]:
    """Functions comparing items pairwise in Python; a comparison stops at the lighter item's
    end, so comparing one item with all of a list costs no more than the list weighs."""
    n = first.entries
    if name == "sort":
        units = math.log2(n + 2) * min(n * item_of(first).weight, first.weight)
        return fixed(units), replace(first, part_of=None), ()
    other = first if name == "distinct" else second
    units = min(n * other.entries * min(item_of(first).weight, item_of(other).weight),
                n * other.weight, other.entries * first.weight)
    return fixed(2 * units), replace(first, part_of=None) if name == "distinct" else SCALAR, \
        ()


def _copy_like(name: str, first: Shape) -> tuple[Cost, Shape, Why]:
    """Functions whose result is about as big as their first argument."""
    if name in {"dyn", "slice", "reverse"} and not scalar(first):
        return weighted(first), replace(first, part_of=None), ()
    chars = {"string": max(first.chars, 32), "charAt": 1, "strings.quote": 2 * first.chars + 2,
             "base64.encode": first.chars * 4 / 3 + 4}.get(name, first.chars)
    # lowerAscii and upperAscii loop over the characters in Python: a unit each
    per = 1 if name in {"lowerAscii", "upperAscii"} else 1 / 16
    return plus(fixed(first.chars * per), weighted(first)), text(chars), ()


def _flattened(shape: Shape) -> Shape:
    """A flattened list: its items are sub-values of the list, so no more of them and no
    heavier than the list."""
    item = item_of(shape)
    while not item.data and item.item is not None:
        item = item.item
    return Shape(entries=shape.weight, weight=shape.weight, item=replace(item, part_of=None),
                 data=False)


def _matches(node: Call, subject: Shape) -> tuple[Cost, Shape, Why]:
    """`matches` compiles its pattern at every call: 20 units per unit of regex weight."""
    pattern = node.args[1] if len(node.args) > 1 else None
    value = string_value(pattern.token) if isinstance(pattern, Lit) else None
    if value is None:
        return fixed(INF), SCALAR, ("`matches()` with a pattern that is not a constant string",
                                    'write the pattern as a string: matches("^[0-9]+$")')
    weight = regex_weight(value)
    cost = 20 + 20 * weight + subject.chars * (1 + weight / 64) / 16
    why = f"`matches()` compiles this pattern (weight {number(weight)}) at every call"
    return fixed(cost), SCALAR, (why, REGEX_HINT)
