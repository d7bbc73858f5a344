"""Static facts about a CEL expression: the variable paths and the functions it uses.

The CEL library compiles expressions but reports only top-level names (`event`, not
`event.price`), and counts comprehension variables (`x` in `items.exists(x, ...)`) as variables.
Checking an expression against the event catalog needs the full field paths, so we read them
from a small lexer. It understands CEL's literals well enough never to mistake text inside a
string for a path.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Literal, TypeGuard, get_args

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>(?:[rRbB]{1,2})?
        (?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<number>0[xX][0-9a-fA-F]+[uU]?|\d+\.\d+(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?
        |\d+(?:[eE][-+]?\d+)?[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>\|\||&&|==|!=|<=|>=|[.()\[\]{},?:<>+\-*/%!])
  | (?P<other>.)
    """,
    re.VERBOSE,
)

RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for",
            "function", "if", "import", "let", "loop", "package", "namespace", "return", "var",
            "void", "while"}
Macro = Literal["all", "exists", "exists_one", "map", "filter"]
MACROS: frozenset[str] = frozenset(get_args(Macro))


def is_macro(name: str) -> TypeGuard[Macro]:
    return name in MACROS


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    offset: int


@dataclass(frozen=True)
class PathRef:
    """`profile.consent.email` -> root `profile`, fields ('consent', 'email')."""

    root: str
    fields: tuple[str, ...]
    offset: int
    length: int = 1


@dataclass(frozen=True)
class Call:
    name: str  # `size`, `startsWith`, `math.greatest`, `count`
    offset: int
    args: tuple[Token, ...]  # the argument tokens, for checking constant arguments


@dataclass(frozen=True)
class Refs:
    paths: tuple[PathRef, ...]
    calls: tuple[Call, ...]
    bound: frozenset[str]  # comprehension variables


def tokenize(source: str) -> list[Token]:
    tokens = []
    for match in _TOKEN.finditer(source):
        kind = match.lastgroup or "other"
        if kind != "space":
            tokens.append(Token(kind, match.group(), match.start()))
    return tokens


def string_value(token: Token) -> str | None:
    """The value of a string literal token (None when it is not a plain string)."""
    text = token.text
    if token.kind != "string" or text[:1] in "bB":
        return None
    raw = text[:1] in "rR"
    body = text[1:] if raw else text
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    inner = body[len(quote): -len(quote)]
    if raw:
        return inner
    try:
        return ast.literal_eval(quote + inner + quote)
    except (ValueError, SyntaxError):
        return inner


def references(source: str, namespaced: frozenset[str] = frozenset()) -> Refs:
    """Paths and calls in `source`; `namespaced` holds dotted function names (`math.abs`)."""
    tokens = tokenize(source)
    paths: list[PathRef] = []
    calls: list[Call] = []
    bound: set[str] = set()
    i = 0
    while i < len(tokens):
        token = tokens[i]
        after_dot = i > 0 and tokens[i - 1].text == "."
        if token.kind != "ident" or token.text in RESERVED:
            i += 1
            continue
        if after_dot:  # a method on something that is not a plain path: `"a".size()`
            if _at(tokens, i + 1, "("):
                calls.append(Call(token.text, token.offset, _args(tokens, i + 1)))
                bound |= _macro_variable(tokens, i, token.text)
            i += 1
            continue
        chain, j = _chain(tokens, i)
        fields = [name for name, _ in chain]
        ends = [token.offset + len(token.text), *(end for _, end in chain)]
        dotted = ".".join([token.text, *fields])
        if _at(tokens, j, "(") and (not fields or dotted in namespaced):
            calls.append(Call(dotted, token.offset, _args(tokens, j)))
        elif _at(tokens, j, "(") and fields:
            method = fields[-1]
            paths.append(PathRef(token.text, tuple(fields[:-1]), token.offset,
                                 ends[-2] - token.offset))
            calls.append(Call(method, token.offset, _args(tokens, j)))
            bound |= _macro_variable(tokens, j - 1, method)
        else:
            paths.append(PathRef(token.text, tuple(fields), token.offset, ends[-1] - token.offset))
        i = j
    paths = [p for p in paths if p.root not in bound]
    return Refs(tuple(paths), tuple(calls), frozenset(bound))


def _at(tokens: list[Token], index: int, text: str) -> bool:
    return index < len(tokens) and tokens[index].text == text


def _chain(tokens: list[Token], i: int) -> tuple[list[tuple[str, int]], int]:
    """Fields after the identifier at `i` (`.name`, `["name"]`), each with the offset where it
    ends; returns (fields, index of the next token)."""
    fields: list[tuple[str, int]] = []
    j = i + 1
    while True:
        if _at(tokens, j, ".") and j + 1 < len(tokens) and tokens[j + 1].kind == "ident":
            fields.append((tokens[j + 1].text, tokens[j + 1].offset + len(tokens[j + 1].text)))
            j += 2
        elif (_at(tokens, j, "[") and j + 2 < len(tokens) and _at(tokens, j + 2, "]")
              and (key := string_value(tokens[j + 1])) is not None):
            fields.append((key, tokens[j + 2].offset + 1))
            j += 3
        else:
            return fields, j


def _args(tokens: list[Token], open_index: int) -> tuple[Token, ...]:
    """The tokens between the parenthesis at `open_index` and its match."""
    depth = 0
    for j in range(open_index, len(tokens)):
        if tokens[j].text in {"(", "[", "{"}:
            depth += 1
        elif tokens[j].text in {")", "]", "}"}:
            depth -= 1
            if depth == 0:
                return tuple(tokens[open_index + 1: j])
    return tuple(tokens[open_index + 1:])


def _macro_variable(tokens: list[Token], name_index: int, name: str) -> set[str]:
    """`xs.exists(x, ...)` binds `x`."""
    k = name_index + 1
    if (name in MACROS and _at(tokens, k, "(") and k + 2 < len(tokens)
            and tokens[k + 1].kind == "ident" and tokens[k + 2].text == ","):
        return {tokens[k + 1].text}
    return set()
