"""What rendering one message may use: the limits every render of every host runs under.

A template is the project's, but the data it renders is the world's: a profile list of a million
items, a name of a megabyte. So each message (each send option: a fallback is another) renders
under these limits, and one that breaks a limit fails that message with the reason, never the
host:

- loop iterations, all loops of the message together (each counts its full length when it
  starts; a loop inside a loop counts each time it starts), and every range a filter reads;
- bytes of output, all fields of the message together (a `capture` counts too);
- bytes held by what the template `assign`s (as Python measures them);
- snippets rendering snippets, 30 deep (Liquid's own limit);
- and a time budget, a safety net for what the other limits cannot see (a filter that is slow
  on a large value, run in a loop): unlike them it depends on the machine, so it is generous,
  far above what any real message takes.

`validate` rejects what it can see without the data (JC613, JC614), so these fire only on data.
Kept apart from `journeyctl.liquid_env` because it imports Liquid, which commands that render
nothing should not pay for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from liquid import Environment, RenderContext
from liquid.exceptions import LiquidError, LoopIterationLimitError, ResourceLimitError
from liquid.output import LimitedStringIO

if TYPE_CHECKING:
    from liquid import BoundTemplate
    from liquid.token import Token

LOOP_ITERATIONS = 10_000
OUTPUT_BYTES = 256 * 1024  # Gmail already clips an email's HTML past 102 kB
LOCALS_BYTES = 1024 * 1024
SNIPPET_DEPTH = 30
VALUE_CHARS = 1024 * 1024  # what a filter takes or makes: an API body's worth
NUMBER_DIGITS = 4300  # Python prints no longer number
_BIGGEST = 10 ** NUMBER_DIGITS
RENDER_SECONDS = 2.0


class RenderTimeError(ResourceLimitError):
    """A message took longer than its time budget to render."""


class RenderFailure(LiquidError):
    """Python failed under Liquid (a number too large to print): the data did not fit."""


class BoundedEnvironment(Environment):
    loop_iteration_limit = LOOP_ITERATIONS  # nested loops, as Liquid counts them: fails early
    output_stream_limit = OUTPUT_BYTES  # each `capture`, as Liquid counts it
    local_namespace_limit = LOCALS_BYTES
    context_depth_limit = SNIPPET_DEPTH


class Budget:
    """What is left to one message: its loop iterations, its output, its time."""

    __slots__ = ("deadline", "iterations", "output")

    def __init__(self, seconds: float = RENDER_SECONDS) -> None:
        self.deadline = time.monotonic() + seconds
        self.iterations = LOOP_ITERATIONS
        self.output = OUTPUT_BYTES

    def loop(self, length: int) -> None:
        self.iterations -= length
        if self.iterations < 0:
            raise LoopIterationLimitError(
                f"loop iteration limit reached: a message may run {LOOP_ITERATIONS} loop "
                "iterations in all", token=None)
        self.clock()

    def clock(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderTimeError(f"render time limit reached ({RENDER_SECONDS:g} s)",
                                  token=None)


class BoundedContext(RenderContext):
    """A render context that spends its message's budget: at the start of every loop, on
    every filter, on every variable read (the checkpoints where the time is looked at)."""

    __slots__ = ("budget",)

    def __init__(self, template: BoundTemplate, *, budget: Budget | None = None,
                 **kwargs: Any) -> None:
        super().__init__(template, **kwargs)
        parent = kwargs.get("parent_context")
        # `render` makes a copy of the context (with this class): it spends the same budget.
        self.budget: Budget = budget or (parent.budget if isinstance(parent, BoundedContext)
                                         else Budget())

    def raise_for_loop_limit(self, length: int = 1) -> None:
        super().raise_for_loop_limit(length)
        self.budget.loop(length)

    # Each `render` (a copy of the context) and `include` (the context extended with another
    # template) spends one iteration and looks at the clock: snippets that render the next
    # one twice over would otherwise run 2**depth renders on no loop, filter or variable.
    def copy(self, *args: Any, **kwargs: Any) -> RenderContext:
        self.budget.loop(1)
        return super().copy(*args, **kwargs)

    def extend(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("template", args[1] if len(args) > 1 else None) is not None:
            self.budget.loop(1)
        return super().extend(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> object:
        self.budget.clock()
        return super().get(*args, **kwargs)

    def filter(self, name: str, token: Token | None) -> Callable[..., object]:
        func = super().filter(name, token)

        def spending(left: object, *args: object, **kwargs: object) -> object:
            self.budget.clock()
            for value in (left, *args, *kwargs.values()):
                if isinstance(value, range):  # lazy until a filter reads it: a loop, then
                    self.budget.loop(len(value))
                else:
                    _fits(value, name, token)
            # the filters that multiply a text: measured before they build it
            if name == "replace" and len(args) == 2:
                _fits_replaced(left, args[0], args[1], token)
            elif name == "join":
                _fits_joined(left, args[0] if args else " ", token)
            result = func(left, *args, **kwargs)
            _fits(result, name, token)
            return result

        return spending


def _fits(value: object, name: str, token: Token | None) -> None:
    """A value a filter takes or makes is at most VALUE_CHARS long (a list: its texts
    together) and a number at most NUMBER_DIGITS digits long, so that no filter runs long on
    one value, nor makes one from a few that Python cannot hold."""
    if isinstance(value, int) and not -_BIGGEST < value < _BIGGEST:
        raise RenderFailure(f"{name}: a number of more than {NUMBER_DIGITS} digits",
                            token=token)
    if isinstance(value, str | list | tuple) and _chars(value) > VALUE_CHARS:
        raise RenderFailure(f"{name}: a value of more than {VALUE_CHARS} characters",
                            token=token)


def _chars(value: str | list[object] | tuple[object, ...]) -> int:
    if isinstance(value, str):
        return len(value)
    return sum(len(item) if isinstance(item, str) else 1 for item in value)


def _fits_replaced(text: object, old: object, new: object, token: Token | None) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str) and \
            len(text) + text.count(old) * len(new) > VALUE_CHARS:
        raise RenderFailure(f"replace: the result would have more than {VALUE_CHARS} "
                            "characters", token=token)


def _fits_joined(items: object, separator: object, token: Token | None) -> None:
    if not isinstance(items, list | tuple | range):
        return
    texts = sum(len(item) if isinstance(item, str) else len(str(item)) for item in items)
    between = len(separator) * max(len(items) - 1, 0) if isinstance(separator, str) else 0
    if texts + between > VALUE_CHARS:
        raise RenderFailure(f"join: the result would have more than {VALUE_CHARS} characters",
                            token=token)


def render(template: BoundTemplate, variables: Mapping[str, Any], budget: Budget) -> str:
    """`template` rendered with `variables`, spending `budget` (shared by a message's fields)."""
    context = BoundedContext(template, globals=template.make_globals(dict(variables)),
                             budget=budget)
    buffer = LimitedStringIO(limit=budget.output)
    try:
        template.render_with_context(context, buffer)
    except (ArithmeticError, ValueError, MemoryError, RecursionError) as exc:
        raise RenderFailure(f"{type(exc).__name__}: {exc}", token=None) from exc
    budget.output -= buffer.size
    return buffer.getvalue()
