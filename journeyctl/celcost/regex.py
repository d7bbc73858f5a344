"""How big a regular expression compiles, for `matches()` (see `journeyctl.celcost`).

The `cel` library compiles the pattern of `matches` at every call with Rust's `regex` crate,
which matches in linear time but whose compiled program grows with counted repetitions and
Unicode classes: `(a{300}){300}` took 23 ms to compile here, `\\pL{500}` 190 ms before the
crate's 10 MB size limit refused it. The weight is an upper bound of the compiled size in units
of one literal character: each atom weighs its class's size (measured: `\\w` about 500
literals, `\\d` 40, `.` 20) times the counts of the repetitions around it.
"""

from __future__ import annotations

from dataclasses import dataclass

_CLASS_WEIGHT = {"w": 500, "W": 500, "p": 500, "P": 500, "d": 40, "D": 40, "s": 20, "S": 20,
                 "b": 20, "B": 20}
_ANY = 20  # `.` and negated classes `[^...]`
_MAX_COUNT = 100_000


@dataclass
class _Group:
    done: float = 0.0  # the alternatives before the current one (`a|b|` ...)
    current: float = 0.0  # the sequence being read
    last: float = 0.0  # the last atom, which a quantifier repeats


def regex_weight(pattern: str) -> float:
    stack = [_Group()]
    i = 0
    while i < len(pattern):
        char = pattern[i]
        group = stack[-1]
        if char == "\\":
            weight, i = _escape(pattern, i)
            _atom(group, weight)
        elif char == "[":
            weight, i = _class(pattern, i)
            _atom(group, weight)
        elif char == "(":
            stack.append(_Group())
            i = _group_prefix(pattern, i + 1)
        elif char == ")" and len(stack) > 1:
            inner = stack.pop()
            _atom(stack[-1], inner.done + inner.current)
            i += 1
        elif char == "|":
            group.done += group.current
            group.current = group.last = 0.0
            i += 1
        elif char == "{" and (counted := _count(pattern, i)) is not None:
            times, i = counted
            group.current += group.last * (times - 1)
            group.last *= times
        elif char in "*?":
            i += 1
        elif char == "+":  # compiled as `x x*`
            group.current += group.last
            group.last *= 2
            i += 1
        else:
            _atom(group, _ANY if char == "." else 1)
            i += 1
    total = sum(g.done + g.current for g in stack)
    return total * (3 if "(?i" in pattern else 1)  # case-insensitive letters are classes


def _atom(group: _Group, weight: float) -> None:
    group.current += weight
    group.last = weight


def _escape(pattern: str, i: int) -> tuple[float, int]:
    """The weight of the escape at `i` and the index after it."""
    kind = pattern[i + 1: i + 2]
    end = i + 2
    if kind in {"p", "P", "x", "u", "U"} and pattern[end: end + 1] == "{":
        close = pattern.find("}", end)
        end = close + 1 if close >= 0 else len(pattern)
    elif kind in {"p", "P"}:
        end += 1  # `\pL`: a one-letter class name
    return _CLASS_WEIGHT.get(kind, 1), end


def _class(pattern: str, i: int) -> tuple[float, int]:
    """The weight of the bracket class at `i` and the index after it."""
    j = i + 1
    negated = pattern[j: j + 1] == "^"
    j += 1 if negated else 0
    if pattern[j: j + 1] == "]":  # a literal `]` first
        j += 1
    weight = float(_ANY if negated else 1)
    depth = 1
    while j < len(pattern) and depth:
        char = pattern[j]
        if char == "\\":
            weight = max(weight, _CLASS_WEIGHT.get(pattern[j + 1: j + 2], 1))
            j += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        j += 1
    if "[:" in pattern[i:j]:  # POSIX classes such as [[:alpha:]]: ASCII
        weight = max(weight, 2)
    return weight, j


def _group_prefix(pattern: str, i: int) -> int:
    """Skip `?:`, `?P<name>`, `?<name>` and flags after an opening parenthesis."""
    if pattern[i: i + 1] != "?":
        return i
    j = i + 1
    if pattern[j: j + 2] in {"P<"} or pattern[j: j + 1] == "<":
        close = pattern.find(">", j)
        return close + 1 if close >= 0 else len(pattern)
    while j < len(pattern) and pattern[j] not in ":)":
        j += 1
    return j + 1 if j < len(pattern) and pattern[j] == ":" else j


def _count(pattern: str, i: int) -> tuple[float, int] | None:
    """`{n}`, `{n,}` or `{n,m}` at `i`: the most repetitions and the index after it."""
    close = pattern.find("}", i)
    if close < 0:
        return None
    low, comma, high = pattern[i + 1: close].partition(",")
    if not low.strip().isdigit() or (high.strip() and not high.strip().isdigit()):
        return None
    most = int(high) if high.strip() else int(low) + (1 if comma else 0)
    return float(min(max(most, 1), _MAX_COUNT)), close + 1
