"""Snippets: each parses, uses known filters, names snippets that exist, renders no snippet
that renders it back, and is used. `parse_source` checks any Liquid source, a template's too.

The variables a snippet reads, and what its loops cost, are checked where it is rendered
(journeyctl.checks.templates), because that depends on the template and the journeys that send
it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from journeyctl import model as m
from journeyctl.checks.context import CheckContext, did_you_mean
from journeyctl.diagnostics import Loc
from journeyctl.liquid_env import (
    Partial,
    environment,
    html_fields,
    parse,
    partials,
    ranges,
    reach,
    safe_uses,
)

if TYPE_CHECKING:
    from liquid import BoundTemplate
    from liquid.exceptions import LiquidError

Locate = Callable[[int, int], Loc]  # (offset in the Liquid source, length) -> location


def check(ctx: CheckContext) -> None:
    calls: dict[str, list[Partial]] = {}
    in_html = _in_html(ctx.project)
    for snippet in ctx.project.snippets.values():
        parsed = parse_source(ctx, snippet.source, f"snippet '{snippet.name}'",
                              snippet.at_offset, html=snippet.name in in_html)
        if parsed is not None:
            calls[snippet.name] = partials(parsed)
    _check_loops(ctx, calls)
    _check_unused(ctx)


def parse_source(ctx: CheckContext, source: str, what: str, locate: Locate, *,
                 html: bool = False) -> BoundTemplate | None:
    """The parsed source, its snippet calls (JC609, JC610), its own filters (JC607), ranges
    (JC613) and, when it renders into HTML, `| safe` (JC615) checked; None after a syntax
    error (JC602)."""
    from liquid.exceptions import LiquidError

    try:
        parsed = parse(source, ctx.project.snippet_sources)
    except LiquidError as exc:
        offset, message = syntax_error(exc, source)
        ctx.add("JC602", f"Liquid syntax error in {what}: {message}", locate(offset, 1))
        return None
    check_calls(ctx, parsed, locate)
    _check_ranges(ctx, parsed, locate)
    if html:  # elsewhere nothing is escaped: `| safe` changes nothing
        _check_safe(ctx, parsed, locate)
    try:
        filters = parsed.analyze(include_partials=False).filters
    except LiquidError:  # `{% include var %}`: the analysis evaluates the name (JC610)
        return parsed
    known = environment().filters
    for name, spans in filters.items():
        if name not in known:
            ctx.add("JC607", f"unknown Liquid filter '{name}'",
                    locate(spans[0].index, len(name)), did_you_mean(name, known, "filters"))
    return parsed


def syntax_error(exc: LiquidError, source: str) -> tuple[int, str]:
    """Where in `source` a parse error is, and what it says."""
    token = getattr(exc, "token", None)
    # An unclosed tag is found at the end of the template: point there.
    offset = token.start_index if token is not None and token.start_index >= 0 else \
        max(len(source.rstrip("\n")) - 1, 0)
    return offset, getattr(exc, "message", None) or str(exc).splitlines()[0]


def check_calls(ctx: CheckContext, parsed: BoundTemplate, locate: Locate) -> None:
    """Every `render`/`include` names, in quotes, a snippet of the project (JC609, JC610)."""
    folder = ctx.project.snippets_dir.rstrip("/")
    for call in partials(parsed):
        where = locate(call.index, call.length)
        if call.name is None:
            ctx.add("JC610", f"`{call.tag}` must name its snippet in quotes", where,
                    f"write {{% {call.tag} 'footer' %}} to use {folder}/footer.liquid")
        elif call.name not in ctx.project.snippets and ctx.project.loaded("snippet", call.name):
            ctx.add("JC609", f"unknown snippet '{call.name}'", where,
                    did_you_mean(call.name, ctx.project.snippets, f"snippets in {folder}/")
                    or f"create {folder}/{call.name}.liquid")


def _in_html(project: m.Project) -> set[str]:
    """The snippets some template's HTML field renders, directly or through others."""
    sources = [source for template in project.templates.values()
               for name in html_fields(project, template) if name in template.fields
               for _, source in template.fields[name].strings()]
    return reach(sources, project.snippet_sources).snippets


def _check_ranges(ctx: CheckContext, parsed: BoundTemplate, locate: Locate) -> None:
    """A range longer than a message's loop iterations fails any filter that reads it (a
    loop's own range is counted with the template's loops: JC613 in checks.templates)."""
    from journeyctl.liquid_limits import LOOP_ITERATIONS

    for found in ranges(parsed):
        if found.size > LOOP_ITERATIONS:
            ctx.add("JC613", f"the range {found.text} holds {found.size:,} numbers, more than "
                    f"the {LOOP_ITERATIONS:,} loop iterations a message may run",
                    locate(found.index, found.length),
                    "a filter reading it counts each number as a loop iteration and the "
                    "message would fail: use a smaller range")


def _check_safe(ctx: CheckContext, parsed: BoundTemplate, locate: Locate) -> None:
    """`| safe` lets a value into an HTML field unescaped: only the project's own text may
    be, a literal or a catalog field declared `trusted: true` (JC615)."""
    catalog = ctx.project.catalog
    for use in safe_uses(parsed):
        untrusted = [path for path in use.paths if not trusted(catalog, path)]
        if not untrusted:
            continue
        shown = ".".join("[...]" if s is None else str(s) for s in untrusted[0])
        ctx.add("JC615", f"`| {use.filter}` lets `{shown}` into HTML unescaped, and it is not a "
                "catalog field marked trusted", locate(use.index, use.length),
                "a user's value could carry a <script> or a link: drop the filter (values are "
                "escaped in HTML), or, if the project writes this field's values, declare it "
                f"`trusted: true` in {catalog.loc.file or 'the event catalog'}")


def trusted(catalog: m.Catalog, path: tuple[str | int | None, ...]) -> bool:
    """Whether the catalog vouches for a variable: a profile attribute, or a property of every
    event that declares it, marked `trusted: true` (or inside an object that is)."""
    root, fields = path[0], path[1:]
    if root == "profile":
        return _trusted(catalog.profile_attrs, fields)
    if root in ("entry", "event"):
        name = fields[0] if fields else None
        declaring = [event.properties for event in catalog.events.values()
                     if isinstance(name, str) and name in event.properties]
        return bool(declaring) and all(_trusted(attrs, fields) for attrs in declaring)
    return False


def _trusted(attrs: Mapping[str, m.Attr], fields: tuple[str | int | None, ...]) -> bool:
    for name in fields:
        attr = attrs.get(name) if isinstance(name, str) else None
        if attr is None:
            return False
        if attr.trusted:
            return True
        attrs = attr.fields or {}
    return False


def _check_loops(ctx: CheckContext, calls: Mapping[str, list[Partial]]) -> None:
    """A snippet that renders itself, directly or through others, fails every send that
    reaches it (Liquid stops at its depth limit): each loop once, at the tag closing it (JC612)."""
    for name, call, loop in _loops(calls):
        shown = " → ".join(loop)
        message = f"snippet '{name}' renders itself: {shown}" if len(loop) == 2 else \
            f"snippets render each other in a loop: {shown}"
        ctx.add("JC612", message, ctx.project.snippets[name].at_offset(call.index, call.length),
                f"Liquid stops the loop and the message is not sent: remove this `{call.tag}`"
                ", or move what the snippets share into a snippet that renders none of them")


def _loops(calls: Mapping[str, list[Partial]]) -> Iterator[tuple[str, Partial, list[str]]]:
    """Each call that closes a loop (a depth-first search's back edges): the snippet it is
    in, the call, and the loop from the snippet it goes back to. Iterative, so a long chain
    of snippets cannot exhaust Python's stack."""
    done: set[str] = set()
    for start in sorted(calls):
        if start in done:
            continue
        path, pending = [start], [iter(calls[start])]
        while pending:
            call = next(pending[-1], None)
            if call is None:
                done.add(path.pop())
                pending.pop()
            elif call.name in path:
                yield path[-1], call, [*path[path.index(call.name):], call.name]
            elif call.name is not None and call.name in calls and call.name not in done:
                path.append(call.name)
                pending.append(iter(calls[call.name]))


def _check_unused(ctx: CheckContext) -> None:
    """JC611 only when every `render`/`include` is known: a broken template, template field
    or snippet file, a source that does not parse, a name that is not quoted or not a snippet
    (misspelt: `'Footer'`) may each be the one that uses it."""
    project = ctx.project
    if any(b.startswith(("template:", "snippet:")) for b in project.broken) or any(
            t.broken - {"channel"} for t in project.templates.values()):
        return
    sources = (s for t in project.templates.values() for f in t.fields.values()
               for _, s in f.strings())
    used, complete = reach(sources, project.snippet_sources)
    if not complete:
        return
    for name, snippet in project.snippets.items():
        if name not in used:
            ctx.add("JC611", f"snippet '{name}' is not used by any template", snippet.loc,
                    f"render it in a template ({{% render '{name}' %}}) or delete "
                    f"{snippet.loc.file}")
