"""CEL conditions: they compile, use only known variables, catalog fields and functions."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Literal, assert_never

from journeyctl import model as m
from journeyctl.celcost import COST_LIMIT, Unsupported, depends_on_data, estimate
from journeyctl.celcost.hints import ASSUMED
from journeyctl.celenv import (
    KNOWN_FUNCTIONS,
    NAMESPACED,
    CelSyntaxError,
    CountCall,
    compile_expr,
    parse_count,
)
from journeyctl.celref import Call, references
from journeyctl.checks.context import CheckContext, did_you_mean
from journeyctl.scope import Scope, check_path

CEL_ROOTS = frozenset({"event", "entry", "profile", "journey", "now"})


def check(ctx: CheckContext) -> None:
    for journey in ctx.project.journeys:
        _check_event_names(ctx, journey)
        for expr, scope in expressions(ctx, journey):
            check_expr(ctx, expr, scope)
        _check_update_targets(ctx, journey)


def trigger_events(journey: m.Journey) -> tuple[str, ...]:
    trigger = journey.trigger
    return trigger.events if isinstance(trigger, m.EventTrigger) else ()


def matched_events(journey: m.Journey) -> tuple[str, ...] | None:
    """What `event` can be mid-journey: the trigger's events or any awaited event."""
    waited = tuple(s.action.event for s in journey.steps if isinstance(s.action, m.WaitFor))
    names = trigger_events(journey) + waited
    return tuple(dict.fromkeys(names)) if names else None


def unknown_roots(journey: m.Journey, event: Literal["named", "entry", "mid"]
                  ) -> frozenset[str]:
    """What a broken part of the journey leaves unknown: `entry` without the trigger, and
    `event` where it may be an event that did not load — the trigger's ("entry", e.g. in
    `audience`), or mid-journey ("mid") also one a broken step awaits; not where `event` is
    a named event ("named": the goal's, exit_on's, a wait_for's own)."""
    unknown = set()
    if "trigger" in journey.broken:
        unknown |= {"entry"} if event == "named" else {"entry", "event"}
    if event == "mid" and "wait_for" in journey.broken:
        unknown.add("event")
    return frozenset(unknown)


def expressions(ctx: CheckContext, journey: m.Journey) -> Iterator[tuple[m.Expr, Scope]]:
    """Every CEL expression of a journey with the scope it is evaluated in."""
    catalog = ctx.project.catalog
    entry = trigger_events(journey)

    def scope(events: tuple[str, ...] | None, where: str, unknown: frozenset[str]) -> Scope:
        return Scope(catalog, CEL_ROOTS, events, entry, where, unknown)

    named, at_entry = unknown_roots(journey, "named"), unknown_roots(journey, "entry")
    mid_journey = unknown_roots(journey, "mid")

    trigger = journey.trigger
    if isinstance(trigger, m.EventTrigger) and trigger.where:
        yield trigger.where, scope(entry, "in the trigger's `where`", at_entry)
    if journey.audience:
        yield journey.audience, scope(entry or None, "in `audience`", at_entry)
    if journey.goal:
        for expr in (journey.goal.where, journey.goal.value):
            if expr:
                yield expr, scope(journey.goal.events, "in the goal", named)
    for exit_on in journey.exit_on:
        if exit_on.where:
            yield exit_on.where, scope((exit_on.event,), "in `exit_on`", named)
    mid = matched_events(journey)
    for step in journey.steps:
        action = step.action
        where = f"in step '{step.id}'"
        match action:
            case m.WaitFor():
                if action.where:
                    yield action.where, scope((action.event,), where, named)
            case m.Branch():
                yield from ((arm.condition, scope(mid, where, mid_journey))
                            for arm in action.arms if arm.condition)
            case m.Update():
                yield from ((expr, scope(mid, where, mid_journey)) for _, expr in action.set)
            case m.Wait() | m.WaitUntil() | m.Send() | m.Split() | m.Loop() | m.ExitStep():
                pass  # no CEL in these
            case _:
                assert_never(action)


def check_expr(ctx: CheckContext, expr: m.Expr, scope: Scope) -> None:
    try:
        compile_expr(expr.source)
    except CelSyntaxError as exc:
        offset = _offset(expr.source, exc.line, exc.col)
        ctx.add("JC401", f"CEL syntax error: {exc.message}", expr.at(offset),
                "see https://github.com/google/cel-spec/blob/master/doc/langdef.md")
        return
    refs = references(expr.source, NAMESPACED)
    for path in refs.paths:
        problem = check_path(scope, path.root, path.fields)
        if problem:
            hint = problem.hint
            if problem.code == "JC402" and path.root not in scope.roots and not path.fields:
                hint = f'{hint}; to write text, quote it: \'"{path.root}"\''
            ctx.add(problem.code, problem.message, expr.at(path.offset, path.length), hint)
    for call in refs.calls:
        if call.name not in KNOWN_FUNCTIONS:
            ctx.add("JC406", f"unknown function '{call.name}'",
                    expr.at(call.offset, len(call.name)),
                    did_you_mean(call.name, KNOWN_FUNCTIONS - {"count"}, "functions"))
        elif call.name == "count":
            _check_count(ctx, expr, call)
    _check_cost(ctx, expr)


def _check_cost(ctx: CheckContext, expr: m.Expr) -> None:
    """Refuse what may cost too much: the engine cannot stop an evaluation once it runs."""
    try:
        found = estimate(expr.source)
    except Unsupported as exc:
        ctx.add("JC408", "journeyctl cannot bound the cost of this expression: it does not "
                "read its syntax here", expr.at(exc.offset),
                "write this part another way; if it is valid CEL, please report it")
        return
    over = found.over
    if over is None:
        return
    cost = "an unbounded number of" if math.isinf(found.cost) else f"{found.cost:,.0f}"
    hint = f"{over.hint} ({ASSUMED})" if depends_on_data(expr.source) else over.hint
    ctx.add("JC408", f"this expression may cost {cost} units per evaluation, over the limit of "
            f"{COST_LIMIT:,}: {over.why}", expr.at(over.start, over.end - over.start), hint)


def _check_count(ctx: CheckContext, expr: m.Expr, call: Call) -> None:
    parsed = parse_count(call)
    loc = expr.at(call.offset)
    if not isinstance(parsed, CountCall):
        ctx.add("JC405", parsed, loc)
    elif (parsed.event not in ctx.project.catalog.events
          and ctx.project.catalog.loaded("event", parsed.event)):
        ctx.add("JC501", f"count() counts unknown event '{parsed.event}'", loc,
                did_you_mean(parsed.event, ctx.project.catalog.events, "events"))


def _offset(source: str, line: int, col: int) -> int:
    lines = source.split("\n")
    return sum(len(text) + 1 for text in lines[: line - 1]) + max(col - 1, 0)


def _check_event_names(ctx: CheckContext, journey: m.Journey) -> None:
    known = ctx.project.catalog.events
    for name, loc, what in _event_refs(journey):
        if name not in known and name != m.UNSUBSCRIBE \
                and ctx.project.catalog.loaded("event", name):
            ctx.add("JC501", f"{what} uses unknown event '{name}'", loc,
                    did_you_mean(name, known, "events in the catalog"))


def _event_refs(journey: m.Journey) -> Iterator[tuple[str, m.Loc, str]]:
    trigger = journey.trigger
    if isinstance(trigger, m.EventTrigger):
        yield from ((e, trigger.at("event"), "the trigger") for e in trigger.events)
    elif isinstance(trigger, m.InactiveTrigger):
        yield from ((e, trigger.at("events"), "the trigger") for e in trigger.events or ())
    if journey.goal:
        yield from ((e, journey.goal.at("event"), "the goal") for e in journey.goal.events)
    for exit_on in journey.exit_on:
        yield exit_on.event, exit_on.loc, "exit_on"
    for step in journey.steps:
        if isinstance(step.action, m.WaitFor):
            yield step.action.event, step.action.at("event"), f"step '{step.id}'"


def _check_update_targets(ctx: CheckContext, journey: m.Journey) -> None:
    scope = Scope(ctx.project.catalog, frozenset({"profile"}), None, (), "")
    for step in journey.steps:
        if isinstance(step.action, m.Update):
            for attr, _ in step.action.set:
                problem = check_path(scope, "profile", attr.split("."))
                if problem:
                    ctx.add("JC404", f"update sets unknown profile attribute '{attr}'",
                            step.action.at(attr), problem.hint)
