"""Evaluating CEL at run time: a reusable context per expression holding only the functions it
calls and the variables it reads, and the journey function `count()` answered from the user's
event history.

Each evaluation is bounded (see `journeyctl.celcost`): before running an expression whose cost
grows with its data, the data it reads is measured, and when it is larger than `validate`
assumed, the cost is bounded again with its real sizes; over the limit, the expression is not
run and fails with reason `over_budget`. That depends on the data only, so both hosts decide
alike. Each evaluation is also timed, as a safety net for the cost model: one slower than
`SLOW_SECONDS` is logged (a WARNING, at most once a minute per expression), but its result is
kept — failing it would make results depend on the speed and load of the machine.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from journeyctl.celcost import (
    COST_LIMIT,
    DATA_ROOTS,
    LIMITS,
    Sizes,
    Unsupported,
    estimate,
    needs_measuring,
    round_up,
)
from journeyctl.celenv import NAMESPACED, compile_expr
from journeyctl.celref import references
from journeyctl.engine.state import UserState

SLOW_SECONDS = 0.5  # about 10× the worst evaluation the cost limit lets through, measured here
LOG_EVERY = 60.0  # seconds between two warnings about one slow expression
log = logging.getLogger("journeyctl.cel")

Reason = Literal["error", "over_budget"]


class EvalError(Exception):
    """An expression failed at run time; the engine treats the condition as false. `reason`:
    `error` (it raised: a missing attribute, a type mismatch) or `over_budget` (not run: too
    costly for this data, see `journeyctl.celcost`; or it ran out of memory or stack)."""

    def __init__(self, message: str, reason: Reason = "error") -> None:
        super().__init__(message)
        self.reason: Reason = reason


# A called name: `math.greatest(`, `count(`, or the method in `profile.name.lowerAscii(`.
_CALL = re.compile(r"[A-Za-z_][\w.]*(?=\s*\()")


@dataclass(frozen=True, slots=True)
class Program:
    source: str
    run: Any  # cel.Program
    # Its own context: after each update, the cel library redoes work for every function a
    # context holds, and the extended standard library has 48 of them (an evaluation took 5.5 µs
    # with all of them, 2 µs with none).
    ctx: Any  # cel.Context
    needs: frozenset[str]  # the top-level variables it reads
    # For variables only read through fields (`profile.tier`): those fields. Handing CEL just
    # them instead of the whole profile makes an evaluation several times cheaper.
    narrow: tuple[tuple[str, frozenset[str]], ...]
    bound: float  # of its cost with data within `celcost.LIMITS`
    sized: bool  # whether it may grow faster than the data: then the data is measured


class Evaluator:
    def __init__(self, timer: Callable[[], float] = time.perf_counter) -> None:
        # Imported here, not at the first evaluation: `cel` takes ~70 ms to import, which
        # belongs to start-up, not to the first input a host runs.
        import cel
        from cel.stdlib import EXTENSIONS

        self._new_context = cel.Context
        self._extensions = EXTENSIONS
        self._state: UserState | None = None
        self._now = 0.0
        self._programs: dict[str, Program] = {}
        self._timer = timer
        self._slow: Counter[str] = Counter()  # slow evaluations not logged yet
        self._logged: dict[str, float] = {}  # expression -> when its slowness was last logged

    def program(self, source: str) -> Program:
        found = self._programs.get(source)
        if found is None:
            refs = references(source, NAMESPACED)
            needs = frozenset(p.root for p in refs.paths) - refs.bound
            fields: dict[str, set[str] | None] = {}
            for path in refs.paths:
                known = fields.get(path.root, set())
                fields[path.root] = None if known is None or not path.fields else \
                    known | {path.fields[0]}
            narrow = tuple((root, frozenset(keys)) for root, keys in fields.items()
                           if keys is not None and root in needs)
            bound, sized = _bound(source)
            found = self._programs[source] = Program(source, compile_expr(source),
                                                     self._context(source), needs, narrow,
                                                     bound, sized)
        return found

    def _context(self, source: str) -> Any:
        """A context with the standard-library functions `source` may call (a name counts when
        it, or its last part, is called; extra ones are harmless) and `count`, registered in the
        order `add_stdlib_to_context` uses, so a name in two libraries resolves the same way."""
        called = set(_CALL.findall(source))
        called |= {name.rpartition(".")[2] for name in called}
        ctx = self._new_context()
        for library in self._extensions.values():
            for name, function in library.items():
                if name in called:
                    ctx.add_function(name, function)
        ctx.add_function("count", self._count)
        return ctx

    def evaluate(self, source: str, state: UserState, now: float,
                 variables: Callable[[frozenset[str]], dict[str, Any]]) -> Any:
        """Evaluate `source`; `variables(needs)` supplies the variables it reads. Raises
        EvalError."""
        program = self.program(source)
        self._state, self._now = state, now
        try:
            values = self._values(program, variables) if program.needs else {}
            if program.sized or program.bound > COST_LIMIT:
                _check_budget(program, values)
            program.ctx.update(values)
            started = self._timer()
            result = program.run.execute(program.ctx)
            elapsed = self._timer() - started
            if elapsed > SLOW_SECONDS:
                self._slow_evaluation(program, elapsed)
            return result
        except EvalError:
            raise
        except (MemoryError, RecursionError) as exc:
            raise EvalError(f"{type(exc).__name__}: {exc}", "over_budget") from exc
        except Exception as exc:
            raise EvalError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._state = None

    @staticmethod
    def _values(program: Program, variables: Callable[[frozenset[str]], dict[str, Any]]
                ) -> dict[str, Any]:
        values = variables(program.needs)
        for root, keys in program.narrow:
            whole = values.get(root)
            if isinstance(whole, dict):
                values[root] = {k: whole[k] for k in keys if k in whole}
        return values

    def _slow_evaluation(self, program: Program, seconds: float) -> None:
        """Log an evaluation slower than SLOW_SECONDS: at most once a minute per expression,
        with how many there were since."""
        source = program.source
        self._slow[source] += 1
        now = self._timer()
        if now - self._logged.get(source, -LOG_EVERY) < LOG_EVERY:
            return
        self._logged[source] = now
        count = self._slow.pop(source)
        log.warning("a CEL evaluation took %.2f s, over the %.1f s safety budget (%d such "
                    "evaluation%s since the last warning); its result was used. Its cost was "
                    "bounded at %s units: please report this expression: %s", seconds,
                    SLOW_SECONDS, count, "" if count == 1 else "s", f"{program.bound:,.0f}",
                    source, extra={"fields": {"expression": source, "seconds": seconds,
                                              "count": count}})

    def _count(self, name: str, window: dt.timedelta) -> int:
        """Events of `name` in the rolling window (now - window, now]."""
        state = self._state
        times = state.history.get(name) if state is not None else None
        if not times:
            return 0
        since = self._now - window.total_seconds()
        return bisect_right(times, self._now) - bisect_right(times, since)


def _bound(source: str) -> tuple[float, bool]:
    """The cost bound at `LIMITS`, and whether the cost grows with the data."""
    try:
        return estimate(source).cost, needs_measuring(source)
    except Unsupported:  # validate refuses it (JC408): never run
        return math.inf, False


def _check_budget(program: Program, values: dict[str, Any]) -> None:
    """Raise over_budget when the expression may cost more than COST_LIMIT with this data."""
    cost = program.bound
    sizes = None
    if program.sized and cost <= COST_LIMIT:
        sizes = measure([values[root] for root in DATA_ROOTS if root in values])
        if sizes.over(LIMITS):
            cost = _cost_at(program.source, round_up(sizes))
    if cost <= COST_LIMIT:
        return
    units = "an unbounded number of" if math.isinf(cost) else f"{cost:,.0f}"
    raise EvalError(f"over budget: it may cost {units} units{_beyond(sizes)}; the limit is "
                    f"{COST_LIMIT:,}", "over_budget")


def _beyond(sizes: Sizes | None) -> str:
    """What in the data is larger than `validate` assumed: ` with this data (...)`."""
    if sizes is None:
        return ""
    parts = [f"{found:,.0f} {what}, more than the {limit:,.0f} validate assumes"
             for found, limit, what in ((sizes.entries, LIMITS.entries, "entries in a list or map"),
                                        (sizes.chars, LIMITS.chars, "characters in a string"),
                                        (sizes.weight, LIMITS.weight, "in weight"))
             if found > limit]
    return f" with this data ({'; '.join(parts)})"


@lru_cache(maxsize=1024)
def _cost_at(source: str, sizes: Sizes) -> float:
    return estimate(source, sizes).cost


_SCALARS = frozenset({int, float, bool, type(None)})


def measure(values: list[Any]) -> Sizes:
    """The sizes of data as `journeyctl.celcost` counts them: the most entries of a list or
    map, the longest string, and the heaviest of `values` (a map weighs 1 plus its keys and
    values, a list 1 plus its items, a string `string_weight`, anything else 1). It runs
    before each evaluation whose cost grows with its data: written for speed."""
    entries = chars = 0
    heaviest = 0.0
    for value in values:
        weight = 0.0
        stack = [value]
        while stack:
            item = stack.pop()
            kind = type(item)
            if kind in _SCALARS:
                weight += 1
            elif kind is str:
                size = len(item)
                chars = size if size > chars else chars
                weight += 2 + size / 256  # string_weight, inlined
            elif kind is dict:
                size = len(item)
                entries = size if size > entries else entries
                weight += 1
                stack.extend(item)  # its keys
                stack.extend(item.values())
            elif kind is list:
                size = len(item)
                entries = size if size > entries else entries
                weight += 1
                stack.extend(item)
            else:
                weight += _other(item, stack)
        heaviest = weight if weight > heaviest else heaviest
    return Sizes(entries, chars, heaviest)


def _other(item: Any, stack: list[Any]) -> float:
    """Bytes, tuples and subclasses of the plain types: pushed back as the plain type they are
    like (bytes as a string as long); the weight of anything else (a timestamp, a duration)."""
    if isinstance(item, dict):
        stack.append(dict(item))
    elif isinstance(item, str | bytes):
        stack.append(" " * len(item))
    elif isinstance(item, list | tuple):
        stack.append(list(item))
    else:
        return 1
    return 0
