"""The CEL environment journeys run in: which functions exist, and compiling with a cache.

`validate` and the engine share this module, so an expression that validates is one the engine
can run. The engine adds the journey functions (`count`) and the cel-go style extension library
(`cel.stdlib`) to its evaluation context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from journeyctl.celref import Call, string_value

if TYPE_CHECKING:
    import cel

# Functions of the CEL core the Rust implementation provides (macros included).
CORE_FUNCTIONS = frozenset({
    "size", "has", "matches", "startsWith", "endsWith", "contains", "timestamp", "duration",
    "int", "uint", "double", "string", "bytes", "dyn", "type", "all", "exists", "exists_one",
    "map", "filter", "max", "min", "getFullYear", "getMonth", "getDayOfYear", "getDayOfMonth",
    "getDate", "getDayOfWeek", "getHours", "getMinutes", "getSeconds", "getMilliseconds",
})
# The extension library shipped with the `cel` package (cel-go's strings, math, lists, sets...).
EXTENSION_FUNCTIONS = frozenset({
    "bool", "min", "max", "sum", "charAt", "indexOf", "lastIndexOf", "substring", "replace",
    "split", "join", "lowerAscii", "upperAscii", "trim", "reverse", "strings.quote",
    "math.greatest", "math.least", "math.abs", "math.sign", "math.ceil", "math.floor",
    "math.round", "math.trunc", "math.isNaN", "math.isInf", "math.isFinite", "math.sqrt",
    "math.bitOr", "math.bitAnd", "math.bitXor", "math.bitNot", "math.bitShiftLeft",
    "math.bitShiftRight", "sets.contains", "sets.equivalent", "sets.intersects",
    "base64.encode", "base64.decode", "distinct", "flatten", "slice", "sort", "first", "last",
    "lists.range",
})
JOURNEY_FUNCTIONS = frozenset({"count"})
KNOWN_FUNCTIONS = CORE_FUNCTIONS | EXTENSION_FUNCTIONS | JOURNEY_FUNCTIONS
NAMESPACED = frozenset(f for f in KNOWN_FUNCTIONS if "." in f)

_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*)")


class CelSyntaxError(ValueError):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


@cache
def compile_expr(source: str) -> cel.Program:
    """Compile once per distinct source; raises CelSyntaxError with a 1-based position."""
    import cel

    try:
        return cel.compile(source)
    except ValueError as exc:
        match = _POSITION.search(str(exc))
        if not match:
            raise CelSyntaxError(str(exc).splitlines()[0], 1, 1) from exc
        line, col, message = int(match.group(1)), int(match.group(2)), match.group(3)
        raise CelSyntaxError(message.strip(), line, col) from exc


@dataclass(frozen=True)
class CountCall:
    """`count("product_view", duration("168h"))`: the user's events of a name in a window."""

    event: str
    window_seconds: int


def parse_count(call: Call) -> CountCall | str:
    """The constant arguments of a count() call, or what is wrong with them."""
    args = call.args
    shape_ok = (
        len(args) == 6 and args[1].text == "," and args[2].text == "duration"
        and args[3].text == "(" and args[5].text == ")"
    )
    event = string_value(args[0]) if args else None
    window = string_value(args[4]) if shape_ok else None
    if not shape_ok or event is None or window is None:
        return 'count() takes a constant event name and window: count("name", duration("168h"))'
    seconds = cel_duration_seconds(window)
    if seconds is None:
        return (f'duration("{window}") is not a CEL duration; CEL durations use h, m and s '
                '(7 days is duration("168h"))')
    return CountCall(event, seconds)


def cel_duration_seconds(text: str) -> int | None:
    import cel

    try:
        value = cel.evaluate(f"duration({_quote(text)})")
    except (ValueError, RuntimeError, TypeError):
        return None
    seconds = int(value.total_seconds())
    return seconds if seconds > 0 else None


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
