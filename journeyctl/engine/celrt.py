"""Evaluating CEL at run time: a reusable context per expression holding only the functions it
calls and the variables it reads, and the journey function `count()` answered from the user's
event history."""

from __future__ import annotations

import datetime as dt
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from journeyctl.celenv import NAMESPACED, compile_expr
from journeyctl.celref import references
from journeyctl.engine.state import UserState


class EvalError(Exception):
    """An expression failed at run time; the engine treats the condition as false."""


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


class Evaluator:
    def __init__(self) -> None:
        # Imported here, not at the first evaluation: `cel` takes ~70 ms to import, which
        # belongs to start-up, not to the first input a host runs.
        import cel
        from cel.stdlib import EXTENSIONS

        self._new_context = cel.Context
        self._extensions = EXTENSIONS
        self._state: UserState | None = None
        self._now = 0.0
        self._programs: dict[str, Program] = {}

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
            found = self._programs[source] = Program(source, compile_expr(source),
                                                     self._context(source), needs, narrow)
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
        """Evaluate `source`; `variables(needs)` supplies the variables it reads."""
        program = self.program(source)
        self._state, self._now = state, now
        try:
            if program.needs:
                values = variables(program.needs)
                for root, keys in program.narrow:
                    whole = values.get(root)
                    if isinstance(whole, dict):
                        values[root] = {k: whole[k] for k in keys if k in whole}
                program.ctx.update(values)
            return program.run.execute(program.ctx)
        except Exception as exc:
            raise EvalError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._state = None

    def _count(self, name: str, window: dt.timedelta) -> int:
        """Events of `name` in the rolling window (now - window, now]."""
        state = self._state
        times = state.history.get(name) if state is not None else None
        if not times:
            return 0
        since = self._now - window.total_seconds()
        return bisect_right(times, self._now) - bisect_right(times, since)
