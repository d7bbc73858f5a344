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
    index: int
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
            if call.name not in snippets:
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

    try:
        parsed = parse(source, snippets)
    except LiquidError:
        return source
    return "".join(_text(parsed.nodes, parsed, snippets, ()))


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
            if call.name in snippets and call.name not in stack:  # a loop renders nothing
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

