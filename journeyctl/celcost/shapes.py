"""The values a cost estimate reasons about: the sizes of data (`Sizes`), what is known of a
value (`Shape`), and costs that may grow with the weight of a loop variable's element (`Cost`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

INF = math.inf


class Sizes(NamedTuple):
    """The data an expression reads: its largest list or map (entries), its longest string
    (characters) and its weight: values (nodes) plus characters / 256 (what copying costs)."""

    entries: float
    chars: float
    weight: float

    def over(self, other: Sizes) -> bool:
        return (self.entries > other.entries or self.chars > other.chars
                or self.weight > other.weight)


# What `validate` assumes of each value an expression reads from an event or a profile.
LIMITS = Sizes(entries=100, chars=1_000, weight=1_000)


@dataclass(frozen=True, slots=True)
class Shape:
    """What is known of a value, as upper bounds."""

    entries: float = 0.0  # of a list or map
    chars: float = 0.0  # of a string or bytes
    weight: float = 1.0  # what copying it costs
    item: Shape | None = None  # its items (of a map: keys and values); None: none known
    data: bool = False  # received data: any of the above up to `Sizes`, items data too
    part_of: str | None = None  # the loop variable it is (a part of)
    most: float | None = None  # a bound of a non-negative integer (for `lists.range`)


SCALAR = Shape()


def item_of(shape: Shape) -> Shape:
    if shape.data:
        return shape
    return shape.item if shape.item is not None else SCALAR


def join(a: Shape, b: Shape) -> Shape:
    """A shape covering both (the branches of `?:`, the items of a list literal)."""
    items = [s for s in (a.item, b.item) if s is not None]
    item = join(*items) if len(items) == 2 else (items[0] if items else None)
    most = max(a.most, b.most) if a.most is not None and b.most is not None else None
    return Shape(max(a.entries, b.entries), max(a.chars, b.chars), max(a.weight, b.weight),
                 item, a.data or b.data, a.part_of if a.part_of == b.part_of else None, most)


def text(chars: float) -> Shape:
    return Shape(chars=chars, weight=string_weight(chars))


def string_weight(chars: float) -> float:
    """Copying a string: about two steps, and one more per 256 characters."""
    return 2 + chars / 256


def data_shape(sizes: Sizes) -> Shape:
    return Shape(sizes.entries, sizes.chars, sizes.weight, None, True)


# A cost: fixed units under "", and under a loop variable the units per unit of weight of
# the element it holds. The elements of a list together weigh no more than the list, so a loop
# adds up such a term over its elements as the list's weight, not entries × the heaviest one.
Cost = dict[str, float]
Why = tuple[str, ...]  # (why a part costs, a hint), or () for parts not worth blaming


def plus(*costs: Cost) -> Cost:
    out: Cost = {}
    for cost in costs:
        for key, value in cost.items():
            out[key] = out.get(key, 0.0) + value
    return out


def times(cost: Cost, factor: float) -> Cost:
    return {key: value * factor for key, value in cost.items()}


def either(a: Cost, b: Cost) -> Cost:
    return {key: max(a.get(key, 0.0), b.get(key, 0.0)) for key in {*a, *b}}


def weighted(shape: Shape, per: float = 1.0) -> Cost:
    """`per` units for each unit of the shape's weight."""
    return {shape.part_of: per} if shape.part_of else {"": per * shape.weight}


def fixed(units: float) -> Cost:
    return {"": units}


def total(cost: Cost, scope: dict[str, Shape]) -> float:
    """The units of a cost, with each loop variable's element as heavy as it may be."""
    return sum(value * (scope[key].weight if key else 1.0) for key, value in cost.items())


def scalar(shape: Shape) -> bool:
    return not (shape.data or shape.entries or shape.chars)


def number(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:,.0f}"


