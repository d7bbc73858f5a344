"""The Liquid environment templates are parsed and rendered with (shared by validate and sends).

Strict undefined: a variable missing at render time is an error, not an empty string, so a
message never goes out with a hole in it; `| default: "..."` still supplies a fallback, and
a missing variable is simply false in `{% if %}` (so `{% if profile.locale == "en" %}` works for
users without a locale).

Snippets (`{% render 'footer' %}`, `{% include 'footer' %}`) come from a mapping of name ->
source loaded with the project (or the applied version), never from files at render time: one
environment per distinct set of snippets. Pass the same `FrozenMap` object every time (the
project's `snippet_sources`), so the caches below hit by identity.

Every render, in every host, runs under the limits of `journeyctl.liquid_limits` (loop
iterations, output, assigned values, snippet depth, time), spending one budget per message.
An HTML field (the adapter says which: `TemplateFieldSpec.html`) renders with autoescape: what
a value holds is escaped (`<` becomes `&lt;`), what the template writes is not, and `| safe`
(or its alias `| raw`) lets a value through as it is. Other fields are plain text, unescaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from channel_adapters import REGISTRY
from journeyctl.model import EMPTY, Project, Template

if TYPE_CHECKING:
    from liquid import BoundTemplate, Environment, RenderContext
    from liquid.ast import Node

    from journeyctl.liquid_limits import Budget

# Stands for what only a send knows (an output, a tag): it is neither text nor whitespace.
PLACEHOLDER = "\x00"


SAFE_FILTERS = ("safe", "raw")  # let a value into HTML unescaped


@lru_cache(maxsize=64)
def environment(snippets: Mapping[str, str] = EMPTY, html: bool = False) -> Environment:
    from liquid import CachingDictLoader, FalsyStrictUndefined

    from journeyctl.liquid_limits import BoundedEnvironment

    loader = CachingDictLoader(dict(snippets), auto_reload=False)
    env = BoundedEnvironment(undefined=FalsyStrictUndefined, loader=loader, autoescape=html)
    env.add_filter("raw", env.filters["safe"])
    return env


@cache
def parse(source: str, snippets: Mapping[str, str] = EMPTY, html: bool = False
          ) -> BoundTemplate:
    """Parse once per distinct source, snippets and escaping; raises
    liquid.exceptions.LiquidError."""
    return environment(snippets, html).from_string(source)


def render(source: str, variables: Mapping[str, Any], budget: Budget,
           snippets: Mapping[str, str] = EMPTY, html: bool = False) -> str:
    """`source` rendered with `variables` under the limits, spending the message's `budget`;
    raises liquid.exceptions.LiquidError (a limit broken: ResourceLimitError)."""
    from journeyctl.liquid_limits import render as bounded

    return bounded(parse(source, snippets, html), variables, budget)


def html_fields(project: Project, template: Template) -> frozenset[str]:
    """The fields of `template` that its channel's adapter shows as HTML (`sendgrid`'s `html`):
    they render with autoescape."""
    channel = project.channels.get(template.channel)
    spec = REGISTRY.get(channel.adapter) if channel else None
    return spec.html_fields() if spec else frozenset()


class Partial(NamedTuple):
    """One `render`/`include` tag: the snippet it names (None when the name is not a quoted
    string) and where that name is in the template's source."""

    tag: str
    name: str | None
    # a field named like the method tuple.index, which nothing here calls
    index: int  # type: ignore[assignment]
    length: int


def partials(template: BoundTemplate) -> list[Partial]:
    """The `render` and `include` tags of `template` itself, not of the snippets it loads."""
    from liquid import RenderContext

    context = RenderContext(template)
    return list(_partials(template.nodes, context))


def _partials(nodes: Iterable[Node], context: RenderContext) -> Iterator[Partial]:
    for node in nodes:
        call = _call(node)
        if call is not None:
            yield call
        else:
            yield from _partials(node.children(context, include_partials=False), context)


def _call(node: Node) -> Partial | None:
    from liquid.builtin.expressions import StringLiteral
    from liquid.builtin.tags.include_tag import IncludeNode
    from liquid.builtin.tags.render_tag import RenderNode

    if not isinstance(node, RenderNode | IncludeNode):
        return None
    name = node.name
    if isinstance(name, StringLiteral):
        return Partial(node.token.value, name.value, name.token.start_index, len(name.value) + 2)
    return Partial(node.token.value, None, name.token.start_index, len(str(name)))


class Reached(NamedTuple):
    """The snippets some sources load, directly or through other snippets; `complete` when
    each of those sources parsed and each of their calls named, in quotes, a known snippet
    (else a call whose target is not known may be to any snippet)."""

    snippets: set[str]
    complete: bool


def reach(sources: Iterable[str], snippets: Mapping[str, str]) -> Reached:
    """The snippets `sources` load, and whether all their calls could be followed."""
    from liquid.exceptions import LiquidError

    found: set[str] = set()
    complete = True
    todo = list(sources)
    while todo:
        try:
            calls = partials(parse(todo.pop(), snippets))
        except LiquidError:
            complete = False  # validate reports it
            continue
        for call in calls:
            if call.name is None or call.name not in snippets:
                complete = False  # validate reports it (JC609, JC610)
            elif call.name not in found:
                found.add(call.name)
                todo.append(snippets[call.name])
    return Reached(found, complete)


def used_snippets(sources: Iterable[str], snippets: Mapping[str, str]) -> set[str]:
    """The snippets these template sources load, directly or through other snippets."""
    return reach(sources, snippets).snippets


def static_text(source: str, snippets: Mapping[str, str]) -> str:
    """The text of a template as it reads once its snippets are rendered, for rules on the
    wording (`(광고)` first, an opt-out somewhere): literal text as written, each known
    snippet's text in place of its `render`/`include`, nothing for a tag that outputs nothing
    (`comment`, `#`, `doc`, `assign`, `capture` and its body, `break`, `continue`; the
    statements of a `liquid` tag count one by one), and a `PLACEHOLDER` for any other tag or
    output (`increment` and `decrement` print the counter; the branches of an `if` follow its
    placeholder). The source itself when it does not parse."""
    from liquid.exceptions import LiquidError

    from journeyctl.liquid_limits import OUTPUT_BYTES

    try:
        parsed = parse(source, snippets)
    except LiquidError:
        return source
    # Snippets that render others twice over double the text at each level: stop once past
    # what a message may write (JC614 reports that), or validate would never end.
    pieces, size = [], 0
    for piece in _text(parsed.nodes, parsed, snippets, ()):
        pieces.append(piece)
        size += len(piece)
        if size > OUTPUT_BYTES:
            break
    return "".join(pieces)


def _text(nodes: Iterable[Node], parsed: BoundTemplate, snippets: Mapping[str, str],
          stack: tuple[str, ...]) -> Iterator[str]:
    from liquid import RenderContext
    from liquid.ast import BlockNode, ConditionalBlockNode
    from liquid.builtin.content import ContentNode
    from liquid.builtin.tags.case_tag import MultiExpressionBlockNode
    from liquid.builtin.tags.liquid_tag import LiquidNode
    from liquid.exceptions import LiquidError

    containers = (BlockNode, ConditionalBlockNode, MultiExpressionBlockNode, LiquidNode)

    for node in nodes:
        if isinstance(node, ContentNode):
            yield node.text
            continue
        if isinstance(node, _silent()):
            continue
        call = _call(node)
        if call is not None:
            if (call.name is not None and call.name in snippets
                    and call.name not in stack):  # a loop renders nothing
                try:
                    inner = parse(snippets[call.name], snippets)
                except LiquidError:
                    yield PLACEHOLDER
                    continue
                yield from _text(inner.nodes, inner, snippets, (*stack, call.name))
            else:
                yield PLACEHOLDER
            continue
        if not isinstance(node, containers):
            yield PLACEHOLDER
        yield from _text(node.children(RenderContext(parsed), include_partials=False),
                         parsed, snippets, stack)


@cache
def _silent() -> tuple[type[Node], ...]:
    """Tags that output nothing, whatever they hold: a `capture` keeps its body for later."""
    from liquid.builtin.tags.assign_tag import AssignNode
    from liquid.builtin.tags.capture_tag import CaptureNode
    from liquid.builtin.tags.comment_tag import CommentNode
    from liquid.builtin.tags.doc_tag import DocNode
    from liquid.builtin.tags.for_tag import BreakNode, ContinueNode
    from liquid.builtin.tags.inline_comment_tag import InlineCommentNode

    return (AssignNode, CaptureNode, CommentNode, DocNode, BreakNode, ContinueNode,
            InlineCommentNode)


class Cost(NamedTuple):
    """What rendering a template costs whatever the data (for validate: JC613, JC614).

    `iterations`: the most loop iterations it can run, counting a loop over a literal range by
    its length (after `offset:`, which Liquid steps over, and `limit:`), a loop over data by
    its literal `limit:` (else once), each branch of an `if`/`case` on its own (the most
    expensive counts) and each run of an inner loop. `output`: the fewest bytes it writes:
    the text outside conditions and data loops, a literal loop's text as often as it runs.
    `heaviest`: where, in the source, the loop (or snippet call) counting the most iterations
    starts, and how long its tag is ((-1, 0) when none)."""

    iterations: int
    output: int
    heaviest: tuple[int, int]
    heaviest_iterations: int


def cost(source: str, snippets: Mapping[str, str]) -> Cost | None:
    """The cost of `source` with the snippets it renders; None when it does not parse."""
    from liquid.exceptions import LiquidError

    try:
        parsed = parse(source, snippets)
    except LiquidError:
        return None
    return _cost(parsed.nodes, parsed, snippets, (), {})


def _cost(nodes: Iterable[Node], parsed: BoundTemplate, snippets: Mapping[str, str],
          stack: tuple[str, ...], known: dict[str, Cost]) -> Cost:
    """`known`: each snippet's cost once worked out, so that snippets rendering others twice
    over cost a walk of each once, not 2**depth walks."""
    total = Cost(0, 0, (-1, 0), 0)
    for node in nodes:
        part = _node_cost(node, parsed, snippets, stack, known)
        heavier = part.heaviest_iterations > total.heaviest_iterations
        total = Cost(total.iterations + part.iterations, total.output + part.output,
                     part.heaviest if heavier else total.heaviest,
                     max(part.heaviest_iterations, total.heaviest_iterations))
    return total


def _node_cost(node: Node, parsed: BoundTemplate, snippets: Mapping[str, str],
               stack: tuple[str, ...], known: dict[str, Cost]) -> Cost:
    from liquid import RenderContext
    from liquid.builtin.content import ContentNode
    from liquid.builtin.tags.case_tag import CaseNode
    from liquid.builtin.tags.for_tag import ForNode
    from liquid.builtin.tags.if_tag import IfNode
    from liquid.builtin.tags.tablerow_tag import TablerowNode
    from liquid.builtin.tags.unless_tag import UnlessNode
    from liquid.exceptions import LiquidError

    if isinstance(node, ContentNode):
        return Cost(0, len(node.text.encode()), (-1, 0), 0)
    if isinstance(node, ForNode | TablerowNode):
        body = _cost(node.block.children(RenderContext(parsed), include_partials=False),
                     parsed, snippets, stack, known)
        most, exact = _loop_runs(node.expression)
        iterations = most + most * body.iterations
        tag = (node.token.start_index, len(node.token.value))
        return Cost(iterations, exact * body.output, tag, iterations)
    if isinstance(node, _silent()):
        silent = _cost(node.children(RenderContext(parsed), include_partials=False), parsed,
                       snippets, stack, known)
        return silent._replace(output=0)
    if isinstance(node, IfNode | UnlessNode | CaseNode):  # one branch runs: the heaviest
        branches = [_cost(branch.children(RenderContext(parsed), include_partials=False),
                          parsed, snippets, stack, known)
                    for branch in node.children(RenderContext(parsed), include_partials=False)]
        heaviest = max(branches, key=lambda c: c.iterations, default=Cost(0, 0, (-1, 0), 0))
        return heaviest._replace(output=0)
    call = _call(node)
    if call is not None:
        if call.name is None or call.name not in snippets or call.name in stack:
            return Cost(0, 0, (-1, 0), 0)  # validate reports it (JC609, JC612)
        if call.name not in known:
            try:
                inner = parse(snippets[call.name], snippets)
            except LiquidError:
                return Cost(0, 0, (-1, 0), 0)
            known[call.name] = _cost(inner.nodes, inner, snippets, (*stack, call.name), known)
        body = known[call.name]
        looped = getattr(node, "var", None) is not None  # `for items`, `with`: data
        runs = 1 + body.iterations  # a render or include spends one iteration itself
        return Cost(runs, 0 if looped else body.output, (call.index, call.length), runs)
    return _cost(node.children(RenderContext(parsed), include_partials=False), parsed,
                 snippets, stack, known)


def _loop_runs(expression: Any) -> tuple[int, int]:
    """How many times a loop can run at most (a data loop without `limit:`: once) and at
    least whatever the data (a data loop: never)."""
    from liquid.builtin.expressions.primitive import RangeLiteral

    limit = _literal_int(expression.limit)
    offset = _literal_int(expression.offset)
    iterable = expression.iterable
    size = range_size(iterable) if isinstance(iterable, RangeLiteral) else None
    if size is None:
        return (1 if limit is None else max(limit, 0)), 0
    if offset is None and expression.offset is not None:  # `offset: continue` or data
        return (size if limit is None else min(size, max(limit, 0))), 0
    start = min(max(offset or 0, 0), size)
    stop = size if limit is None else min(start + max(limit, 0), size)
    return stop, stop - start  # Liquid steps over the offset, one item at a time


def range_size(expression: Any) -> int | None:
    """How many numbers a range literal `(a..b)` holds; None when a bound is not a literal."""
    start, stop = _literal_int(expression.start), _literal_int(expression.stop)
    if start is None or stop is None:
        return None
    return max(stop - start + 1, 0)


def _literal_int(expression: Any) -> int | None:
    from liquid.builtin.expressions.primitive import FloatLiteral, IntegerLiteral

    if isinstance(expression, IntegerLiteral | FloatLiteral):
        return int(expression.value)
    return None


class Range(NamedTuple):
    """A range literal outside a loop's iterable, with literal bounds: how many numbers it
    holds and where it is in the source."""

    text: str
    size: int
    # a field named like the method tuple.index, which nothing here calls
    index: int  # type: ignore[assignment]
    length: int


def ranges(template: BoundTemplate) -> list[Range]:
    """The range literals with literal bounds that `template` itself hands to filters and
    variables (a loop's own range is counted by `cost`)."""
    from liquid import RenderContext

    found: list[Range] = []
    todo = list(template.nodes)
    while todo:
        node = todo.pop()
        for expression in node.expressions():
            found.extend(_ranges(expression))
        todo.extend(node.children(RenderContext(template), include_partials=False))
    return sorted(found, key=lambda r: r.index)


def _ranges(expression: Any) -> Iterator[Range]:
    from liquid.builtin.expressions import LoopExpression
    from liquid.builtin.expressions.primitive import RangeLiteral

    todo = [expression]
    while todo:
        current = todo.pop()
        children = list(current.children())
        if isinstance(current, LoopExpression):
            children = [child for child in children if child is not current.iterable]
        elif isinstance(current, RangeLiteral) and (size := range_size(current)) is not None:
            text = str(current)
            yield Range(text, size, current.token.start_index, len(text))
        todo.extend(children)


class SafeUse(NamedTuple):
    """A `| safe` (or `| raw`): where its name is in the source, and the variables whose
    values it lets through (each as its path, root first; a computed key is None)."""

    filter: str
    # a field named like the method tuple.index, which nothing here calls
    index: int  # type: ignore[assignment]
    length: int
    paths: tuple[tuple[str | int | None, ...], ...]


def safe_uses(template: BoundTemplate) -> list[SafeUse]:
    """Every `| safe`/`| raw` of `template` itself (not of the snippets it renders): what
    reaches it is the filtered value and the arguments of the filters before it."""
    from liquid import RenderContext
    from liquid.builtin.expressions import FilteredExpression

    found: list[SafeUse] = []
    todo = list(template.nodes)
    while todo:
        node = todo.pop()
        expressions = list(node.expressions())
        while expressions:
            expression = expressions.pop()
            if isinstance(expression, FilteredExpression):
                found.extend(_safe_uses(expression))
            expressions.extend(expression.children())
        todo.extend(node.children(RenderContext(template), include_partials=False))
    return sorted(found, key=lambda use: use.index)


def _safe_uses(expression: Any) -> Iterator[SafeUse]:
    values = [expression.left]
    for item in expression.filters or ():
        if item.name in SAFE_FILTERS:
            paths = tuple(path for value in values if (path := _path(value)) is not None)
            yield SafeUse(item.name, item.token.start_index, len(item.name), paths)
        values.extend(argument.value for argument in item.args)


def _path(expression: Any) -> tuple[str | int | None, ...] | None:
    """A variable's path (a computed key as None); None for a literal."""
    from liquid.builtin.expressions import Literal, Path
    from liquid.builtin.expressions.primitive import RangeLiteral

    if isinstance(expression, Path):
        return tuple(s if isinstance(s, str | int) else None for s in expression.path)
    if isinstance(expression, Literal | RangeLiteral):
        return None
    return (None,)  # something else: not a variable a catalog field could vouch for
