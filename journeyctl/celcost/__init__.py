"""What evaluating a CEL expression can cost, known before it runs.

The `cel` library runs an expression to its end: it has no step limit, and a call into Rust
cannot be interrupted from Python. So cost is bounded by construction, in the spirit of
Kubernetes' CEL cost estimation: an upper bound of the cost is computed from the expression
and from the sizes of the data it reads (`Sizes`). `validate` refuses an expression whose bound
with data of the assumed `LIMITS` is over `COST_LIMIT` (JC408). At run time, before an
expression whose cost may outgrow its data (`needs_measuring`), the engine measures the data it
reads and, when it is larger than `LIMITS`, bounds the cost again with the real sizes and does
not run an expression whose bound is over the limit (the condition fails for that user, reason
`over_budget`). The decision depends on the data only, never on the speed of the machine, so
`simulate` and `serve` make the same one.

The parser (`parse`), the shapes and costs it reasons with (`shapes`), the functions' costs
(`functions`), the regex weight (`regex`) and the hints of JC408 (`hints`) are modules here.

A unit is about one step of the interpreter (measured at 50–80 ns here, so the limit is some
50–80 ms at worst; bounds are upper bounds, real costs are usually far lower). The model follows
this library, not an ideal CEL: `map` and `filter` copy their growing result at every element
(quadratic: `lists.range(10000).map(x, x * 2)` took seconds), `matches` compiles its pattern at
every call (a big counted repetition compiles for tens of milliseconds), and the extension
functions convert their arguments to Python and their result back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

from journeyctl.celcost.functions import PYTHON_FUNCTIONS, function_cost
from journeyctl.celcost.hints import COPY_HINT, DATA_HINT, LOOP_HINT
from journeyctl.celcost.parse import (
    Binary,
    Call,
    Cond,
    Has,
    Ident,
    Index,
    ListLit,
    Lit,
    Loop,
    MapLit,
    Node,
    ParseError,
    Select,
    Unary,
    parse,
)
from journeyctl.celcost.shapes import (
    LIMITS,
    SCALAR,
    Cost,
    Shape,
    Sizes,
    Why,
    data_shape,
    either,
    fixed,
    item_of,
    join,
    number,
    plus,
    scalar,
    string_weight,
    text,
    times,
    total,
    weighted,
)
from journeyctl.celenv import NAMESPACED
from journeyctl.celref import string_value

__all__ = ["COST_LIMIT", "DATA_ROOTS", "LIMITS", "Estimate", "Over", "Sizes", "Unsupported",
           "depends_on_data", "estimate", "needs_measuring", "round_up", "string_weight"]

COST_LIMIT = 1_000_000
SLOPE = 8  # units per unit of data weight below which a cost is of the order of reading it
DATA_ROOTS = frozenset({"event", "entry", "profile"})  # variables holding received data


@dataclass(frozen=True)
class Over:
    """The smallest part of an expression whose cost alone is over the limit, why it costs,
    and what to do about it."""

    start: int
    end: int
    cost: float
    why: str
    hint: str


@dataclass(frozen=True)
class Estimate:
    cost: float
    over: Over | None = None  # set when cost > the limit


class Unsupported(ValueError):
    """The expression has syntax the estimator does not read (`offset`: where)."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"cannot read the expression at offset {offset}")
        self.offset = offset


@cache
def tree(source: str) -> Node:
    try:
        return parse(source, NAMESPACED)
    except (ParseError, RecursionError) as exc:
        raise Unsupported(getattr(exc, "offset", 0)) from exc


def estimate(source: str, sizes: Sizes = LIMITS, limit: float = COST_LIMIT) -> Estimate:
    """An upper bound of the cost of one evaluation of `source` when each value it reads from
    `event`, `entry` or `profile` is within `sizes`; raises Unsupported."""
    walker = _Walker(sizes, limit)
    try:
        units, _ = walker.visit(tree(source), {})
    except RecursionError as exc:
        raise Unsupported(0) from exc
    cost = total(units, {})
    if math.isnan(cost):  # an unbounded size times nothing: unbounded all the same
        cost = math.inf
    if cost <= limit:
        return Estimate(cost)
    over = min(walker.over, key=lambda o: (o.end - o.start, o.start), default=None)
    return Estimate(cost, over or Over(0, len(source), cost, "this expression", DATA_HINT))


def depends_on_data(source: str) -> bool:
    """Whether the bound grows with the data read (`validate` then names its assumptions)."""
    return estimate(source, _scaled(2, 2, 2)).cost > estimate(source).cost


def needs_measuring(source: str) -> bool:
    """Whether the engine must measure the data before running `source`: its cost may grow
    faster than the data (a loop over it, a copying `map`), or by more than SLOPE units per
    unit of weight the data gains (a string function working per character in Python, a big
    regex). Otherwise an evaluation costs at most a few times what handing its data to the
    library costs, which every evaluation pays anyway, whatever the size of the data."""
    base = estimate(source).cost
    twice, four = (estimate(source, _scaled(k, k, k)).cost for k in (2, 4))
    if four - twice > 2 * (twice - base) * (1 + 1e-9):
        return True
    # one size at a time: entries and weight add a unit of weight each, 256 characters one
    for sizes, gained in ((_scaled(2, 1, 1), LIMITS.entries), (_scaled(1, 2, 1),
                          LIMITS.chars / 256), (_scaled(1, 1, 2), LIMITS.weight)):
        if estimate(source, sizes).cost - base > SLOPE * gained:
            return True
    return False


def _scaled(entries: float, chars: float, weight: float) -> Sizes:
    return Sizes(LIMITS.entries * entries, LIMITS.chars * chars, LIMITS.weight * weight)


def round_up(sizes: Sizes) -> Sizes:
    """Each size up to the next LIMITS × 2^k: few distinct values to estimate for, and data
    within LIMITS gets exactly the bound `validate` checked."""
    def up(value: float, limit: float) -> float:
        return limit * 2 ** max(0, math.ceil(math.log2(value / limit))) if value > 0 else limit
    return Sizes(up(sizes.entries, LIMITS.entries), up(sizes.chars, LIMITS.chars),
                 up(sizes.weight, LIMITS.weight))


class _Walker:
    def __init__(self, sizes: Sizes, limit: float) -> None:
        self.data = data_shape(sizes)
        self.limit = limit
        self.over: list[Over] = []

    def visit(self, node: Node, scope: dict[str, Shape]) -> tuple[Cost, Shape]:
        cost, shape, why = self._visit(node, scope)
        if why and (units := total(cost, scope)) > self.limit:
            self.over.append(Over(node.start, node.end, units, *why))
        return cost, shape

    def _visit(self, node: Node, scope: dict[str, Shape]) -> tuple[Cost, Shape, Why]:
        match node:
            case Lit():
                return fixed(1), _literal(node), ()
            case Ident():
                return fixed(1), self._variable(node.name, scope), ()
            case Select():  # the library copies the value it selects
                cost, target = self.visit(node.target, scope)
                value = item_of(target)
                return plus(fixed(1), cost, weighted(value)), value, ()
            case Index():
                (c1, target), (c2, key) = self.visit(node.target, scope), \
                    self.visit(node.index, scope)
                return plus(fixed(1), c1, c2, weighted(key)), item_of(target), ()
            case Has():
                cost, _ = self.visit(node.arg, scope)
                return cost, SCALAR, ()
            case Unary():
                cost, _ = self.visit(node.arg, scope)
                return plus(fixed(1), cost), SCALAR, ()
            case Binary():
                return self._binary(node, scope)
            case Cond():
                c1, _ = self.visit(node.test, scope)
                (c2, then), (c3, other) = self.visit(node.then, scope), \
                    self.visit(node.other, scope)
                return plus(fixed(1), c1, either(c2, c3)), join(then, other), ()
            case ListLit():
                return self._collection([(item,) for item in node.items], scope)
            case MapLit():
                return self._collection(list(node.entries), scope)
            case Loop():
                return self._loop(node, scope)
            case Call():
                return self._call(node, scope)
        raise Unsupported(node.start)

    def _variable(self, name: str, scope: dict[str, Shape]) -> Shape:
        if name in scope:
            return scope[name]
        if name in DATA_ROOTS:
            return self.data
        if name == "journey":  # {id, version, entered_at}
            return Shape(entries=3, weight=8, item=text(64))
        return SCALAR  # `now`, type names (`int`): scalars

    def _collection(self, parts: list[tuple[Node, ...]], scope: dict[str, Shape]
                    ) -> tuple[Cost, Shape, Why]:
        cost, weight, item = fixed(1), 1.0, None
        for part in parts:
            for node in part:
                c, shape = self.visit(node, scope)
                cost = plus(cost, c, weighted(shape))
                weight += shape.weight
                item = shape if item is None else join(item, shape)
        item = replace(item, part_of=None) if item is not None else None
        return cost, Shape(entries=len(parts), weight=weight, item=item), ()

    def _binary(self, node: Binary, scope: dict[str, Shape]) -> tuple[Cost, Shape, Why]:
        (c1, a), (c2, b) = self.visit(node.left, scope), self.visit(node.right, scope)
        cost = plus(fixed(1), c1, c2)
        op = node.op
        if op == "+":
            if scalar(a) and scalar(b):
                most = a.most + b.most if a.most is not None and b.most is not None else None
                return cost, Shape(most=most), ()
            joined = join(item_of(a), item_of(b))
            return plus(cost, weighted(a), weighted(b)), Shape(
                a.entries + b.entries, a.chars + b.chars, a.weight + b.weight,
                replace(joined, part_of=None)), ()
        if op == "*":
            most = a.most * b.most if a.most is not None and b.most is not None else None
            return cost, Shape(most=most), ()
        if op in {"==", "!=", "<", "<=", ">", ">="}:  # stops at the lighter side's end
            # of equals, a part of the innermost loop's element: its loop adds them up
            depth = {name: i for i, name in enumerate(scope)}
            lighter = min((a, b), key=lambda s: (s.weight, -depth.get(s.part_of or "", -1)))
            return plus(cost, weighted(lighter)), SCALAR, ()
        if op == "in":  # compares with each item: no more than the list weighs
            return plus(cost, weighted(b) if b.part_of else fixed(
                min(b.entries * min(a.weight, item_of(b).weight), b.weight))), SCALAR, ()
        return cost, SCALAR, ()  # && || - / %

    def _loop(self, node: Loop, scope: dict[str, Shape]) -> tuple[Cost, Shape, Why]:
        c0, over = self.visit(node.target, scope)
        n = over.entries
        element = replace(item_of(over), part_of=node.var)
        inner = {**scope, node.var: element}
        bodies = [self.visit(arg, inner) for arg in node.args]
        body = plus(fixed(2), *(cost for cost, _ in bodies))
        own = body.pop(node.var, 0.0) + 1  # and each element is copied to the variable
        cost = plus(fixed(1), c0, times(body, n), self._all_elements(over, n, element, own))
        each = total(body, scope) + own * element.weight
        why = (f"`{node.kind}()` runs its body (cost {number(each)}) for each of up to "
               f"{number(n)} entries")
        if node.kind not in {"map", "filter"}:
            return cost, SCALAR, (why, LOOP_HINT)
        result = bodies[-1][1] if node.kind == "map" else element
        heavy = self._all_elements(over, n, element, 1.0) if result.part_of == node.var \
            else times(weighted(result), n)
        why += ", and copies its growing result at each one"
        weight = 1 + total(heavy, scope)
        return plus(cost, times(heavy, n)), Shape(entries=n, weight=weight, item=replace(
            result, part_of=None)), (why, COPY_HINT)

    @staticmethod
    def _all_elements(over: Shape, n: float, element: Shape, per: float) -> Cost:
        """`per` units for each unit of weight of all the elements of `over`."""
        if not per:
            return {}
        if over.part_of:
            return {over.part_of: per}
        return fixed(per * min(n * element.weight, over.weight))

    def _call(self, node: Call, scope: dict[str, Shape]) -> tuple[Cost, Shape, Why]:
        visited = [self.visit(arg, scope) for arg in node.args]
        shapes = [shape for _, shape in visited]
        cost = plus(fixed(1), *(c for c, _ in visited))
        extra, result, why = function_cost(node, shapes)
        cost = plus(cost, extra)
        if node.name in PYTHON_FUNCTIONS:  # arguments to Python and the result back
            cost = plus(cost, fixed(20 + 20 * result.entries + 2 * result.weight),
                        *(weighted(s, 2) for s in shapes))
        return cost, result, why or (f"`{node.name}()` on this much data", DATA_HINT)


def _literal(node: Lit) -> Shape:
    token = node.token
    if token.kind == "string":
        value = string_value(token)
        return text(len(value) if value is not None else len(token.text))
    if token.kind == "number" and token.text.isdigit():
        return Shape(most=int(token.text))
    return SCALAR


