"""Evaluating CEL at run time: one reusable context, only the variables an expression reads,
and the journey function `count()` answered from the user's event history."""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from journeyctl.celenv import NAMESPACED, compile_expr
from journeyctl.celref import references
from journeyctl.engine.state import UserState


class EvalError(Exception):
    """An expression failed at run time; the engine treats the condition as false."""


@dataclass(frozen=True, slots=True)
class Program:
    source: str
    run: Any  # cel.Program
    needs: frozenset[str]  # the top-level variables it reads
    # For variables only read through fields (`profile.tier`): those fields. Handing CEL just
    # them instead of the whole profile makes an evaluation several times cheaper.
    narrow: tuple[tuple[str, frozenset[str]], ...]


class Evaluator:
    def __init__(self) -> None:
        import cel
        from cel.stdlib import add_stdlib_to_context

        self._ctx = cel.Context()
        add_stdlib_to_context(self._ctx)
        self._ctx.add_function("count", self._count)
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
            found = self._programs[source] = Program(source, compile_expr(source), needs,
                                                     narrow)
        return found

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
                self._ctx.update(values)
            return program.run.execute(self._ctx)
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
