"""A syntax tree of a CEL expression, for estimating its cost (`journeyctl.celcost`).

The `cel` library compiles expressions but shows no syntax tree. This parser reads the tokens of
`journeyctl.celref` by CEL's grammar (langdef.md: conditional, `||`, `&&`, relations, `+ -`,
`* / %`, unary, member access, primaries). It runs only on expressions `cel` already compiled,
so it need not explain syntax errors; it raises `ParseError` with the offset it stopped at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from journeyctl.celref import Macro, Token, is_macro, tokenize

RELATIONS = frozenset({"<", "<=", ">", ">=", "==", "!=", "in"})


class ParseError(ValueError):
    def __init__(self, offset: int) -> None:
        super().__init__(f"unexpected text at offset {offset}")
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Node:
    start: int  # offsets in the source: [start, end)
    end: int


@dataclass(frozen=True, slots=True)
class Lit(Node):
    token: Token  # a string, number, `true`, `false` or `null`


@dataclass(frozen=True, slots=True)
class Ident(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Select(Node):
    target: Node
    field: str


@dataclass(frozen=True, slots=True)
class Index(Node):
    target: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str  # `size`, `math.greatest`; the receiver (`x` in `x.f()`) is args[0]
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Loop(Node):
    """A comprehension macro: `target.exists(var, args...)`."""

    kind: Macro
    target: Node
    var: str
    args: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Has(Node):
    arg: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    arg: Node


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Cond(Node):
    test: Node
    then: Node
    other: Node


@dataclass(frozen=True, slots=True)
class ListLit(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class MapLit(Node):
    entries: tuple[tuple[Node, Node], ...]  # also message literals `T{f: v}`: keys are Idents


def parse(source: str, namespaced: frozenset[str] = frozenset()) -> Node:
    """The tree of `source`; `namespaced` holds dotted function names (`math.abs`)."""
    parser = _Parser(tokenize(source), len(source), namespaced)
    node = parser.expr()
    if parser.i != len(parser.tokens):
        raise ParseError(parser.peek_offset())
    return node


class _Parser:
    def __init__(self, tokens: list[Token], size: int, namespaced: frozenset[str]) -> None:
        self.tokens, self.size, self.namespaced = tokens, size, namespaced
        self.i = 0

    # --- tokens ------------------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> str:
        index = self.i + ahead
        return self.tokens[index].text if index < len(self.tokens) else ""

    def peek_offset(self) -> int:
        return self.tokens[self.i].offset if self.i < len(self.tokens) else self.size

    def take(self, expected: str | None = None) -> Token:
        if self.i >= len(self.tokens) or (expected is not None and self.peek() != expected):
            raise ParseError(self.peek_offset())
        self.i += 1
        return self.tokens[self.i - 1]

    def end(self) -> int:
        last = self.tokens[self.i - 1]
        return last.offset + len(last.text)

    # --- grammar -----------------------------------------------------------------------------

    def expr(self) -> Node:
        test = self.or_()
        if self.peek() != "?":
            return test
        self.take("?")
        then = self.or_()
        self.take(":")
        other = self.expr()
        return Cond(test.start, other.end, test, then, other)

    def or_(self) -> Node:
        return self.binary(self.and_, {"||"})

    def and_(self) -> Node:
        return self.binary(self.relation, {"&&"})

    def relation(self) -> Node:
        return self.binary(self.addition, RELATIONS)

    def addition(self) -> Node:
        return self.binary(self.multiplication, {"+", "-"})

    def multiplication(self) -> Node:
        return self.binary(self.unary, {"*", "/", "%"})

    def binary(self, operand: Callable[[], Node], ops: set[str] | frozenset[str]) -> Node:
        left = operand()
        while self.peek() in ops and self.tokens[self.i].kind in {"punct", "ident"}:
            op = self.take().text
            right = operand()
            left = Binary(left.start, right.end, op, left, right)
        return left

    def unary(self) -> Node:
        ops = []
        while self.peek() in {"!", "-"}:
            ops.append(self.take())
        node = self.member()
        for token in reversed(ops):
            node = Unary(token.offset, node.end, token.text, node)
        return node

    def member(self) -> Node:
        node = self.primary()
        while self.peek() in {".", "["}:
            if self.take().text == "[":
                index = self.expr()
                self.take("]")
                node = Index(node.start, self.end(), node, index)
                continue
            name = self.take()
            if name.kind != "ident":
                raise ParseError(name.offset)
            if self.peek() == "(":
                node = self.method(node, name.text)
            else:
                node = Select(node.start, self.end(), node, name.text)
        return node

    def method(self, target: Node, name: str) -> Node:
        args = self.arguments()
        dotted = _dotted(target)
        if dotted is not None and f"{dotted}.{name}" in self.namespaced:
            return Call(target.start, self.end(), f"{dotted}.{name}", args)
        if is_macro(name) and args and isinstance(args[0], Ident):
            return Loop(target.start, self.end(), name, target, args[0].name, args[1:])
        return Call(target.start, self.end(), name, (target, *args))

    def arguments(self) -> tuple[Node, ...]:
        self.take("(")
        return self.sequence(")")

    def sequence(self, close: str) -> tuple[Node, ...]:
        items: list[Node] = []
        if self.peek() == "," and self.peek(1) == close:  # `[,]`: empty, with a trailing comma
            self.take(",")
        while self.peek() != close:
            items.append(self.expr())
            if self.peek() != close:
                self.take(",")
        self.take(close)
        return tuple(items)

    def primary(self) -> Node:
        token = self.take()
        start = token.offset
        if token.text == "." and self.i < len(self.tokens):  # `.name`: the root namespace
            token = self.take()
        if token.kind in {"string", "number"}:
            return Lit(start, self.end(), token)
        if token.text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if token.text == "[":
            items = self.sequence("]")
            return ListLit(start, self.end(), items)
        if token.text == "{":
            return self.map_literal(start)
        if token.kind != "ident":
            raise ParseError(token.offset)
        if token.text in {"true", "false", "null"}:
            return Lit(start, self.end(), token)
        if self.peek() == "(":
            args = self.arguments()
            if token.text == "has" and len(args) == 1:
                return Has(start, self.end(), args[0])
            return Call(start, self.end(), token.text, args)
        if self.peek() == "{":  # a message literal `Type{field: value}`
            self.take("{")
            return self.map_literal(start)
        return Ident(start, self.end(), token.text)

    def map_literal(self, start: int) -> Node:
        entries: list[tuple[Node, Node]] = []
        if self.peek() == "," and self.peek(1) == "}":
            self.take(",")
        while self.peek() != "}":
            key = self.expr()
            self.take(":")
            entries.append((key, self.expr()))
            if self.peek() != "}":
                self.take(",")
        self.take("}")
        return MapLit(start, self.end(), tuple(entries))


def _dotted(node: Node) -> str | None:
    """`math` for Ident(math), `a.b` for Select(Ident(a), b); None for anything else."""
    if isinstance(node, Ident):
        return node.name
    if isinstance(node, Select):
        head = _dotted(node.target)
        return None if head is None else f"{head}.{node.field}"
    return None
