"""Ids and the step graph: duplicates, references, reachability, cycles, splits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import assert_never

from journeyctl import model as m
from journeyctl.checks.context import CheckContext, did_you_mean
from journeyctl.diagnostics import Loc
from journeyctl.flow import all_edges, is_wait, reachable


def check(ctx: CheckContext) -> None:
    seen: dict[str, m.Journey] = {}
    for journey in ctx.project.journeys:
        first = seen.setdefault(journey.id, journey)
        if first is not journey:
            ctx.add("JC201", f"journey id '{journey.id}' is already used by {first.loc}",
                    journey.loc, "journey ids must be unique in the project")
        _check_journey(ctx, journey)


def _check_journey(ctx: CheckContext, journey: m.Journey) -> None:
    ids: dict[str, m.Step] = {}
    for step in journey.steps:
        if step.id in ids:
            ctx.add("JC202", f"step id '{step.id}' is already used on line {ids[step.id].loc.line}",
                    step.at("id"), "step ids must be unique within a journey")
        ids.setdefault(step.id, step)
    dangling = _check_references(ctx, journey, ids)
    _check_next_allowed(ctx, journey)
    # The graph is only meaningful once every reference resolves and every step is there.
    if not dangling and journey.steps_complete:
        _check_reachable(ctx, journey)
        _check_cycles(ctx, journey)
        _check_loops(ctx, journey)
    for step in journey.steps:
        if isinstance(step.action, m.Split):
            _check_split(ctx, step, step.action)
    for old, new in journey.migrate.items():
        if new != m.EXIT and new not in ids and journey.loaded_step(new):
            ctx.add("JC208", f"migrate maps '{old}' to '{new}', which is not a step of this "
                    "journey", journey.at("migrate"), did_you_mean(new, ids, "steps"))


def _references(step: m.Step) -> Iterator[tuple[str, Loc, str]]:
    """(target, where it is written, what names it) for every step reference in `step`."""
    action = step.action
    if step.next:
        yield step.next, step.at("next"), "next"
    match action:
        case m.WaitFor():
            if action.on_timeout:
                yield action.on_timeout, action.at("on_timeout"), "on_timeout"
        case m.Branch():
            for arm in action.arms:
                if arm.next:
                    yield arm.next, arm.at("next" if arm.condition else "else"), "branch"
        case m.Split():
            for variant in action.variants:
                if variant.next:
                    yield variant.next, variant.at("next"), "split"
        case m.Loop():
            yield action.to, action.at("to"), "loop.to"
        case m.Wait() | m.WaitUntil() | m.Send() | m.Update() | m.ExitStep():
            pass  # no step reference but `next`
        case _:
            assert_never(action)


def _check_references(ctx: CheckContext, journey: m.Journey, ids: dict[str, m.Step]) -> bool:
    dangling = False
    for step in journey.steps:
        for target, loc, what in _references(step):
            if what == "loop.to" and target == m.EXIT:
                ctx.add("JC203", "loop.to must name a step, not exit", loc)
                dangling = True
            elif target != m.EXIT and target not in ids and journey.loaded_step(target):
                ctx.add("JC203", f"{what} of step '{step.id}' names unknown step '{target}'", loc,
                        did_you_mean(target, [*ids, m.EXIT], "steps"))
                dangling = True
    return dangling


def _check_next_allowed(ctx: CheckContext, journey: m.Journey) -> None:
    """`next` on a branch, split or exit step would silently do nothing."""
    for step in journey.steps:
        if step.next and isinstance(step.action, m.Branch | m.Split | m.ExitStep):
            alternative = {"branch": "an `else` arm", "split": "each variant's `next`"}
            hint = f"use {alternative[step.kind]}" if step.kind in alternative else "remove it"
            ctx.add("JC214", f"`next` has no effect on a {step.kind} step", step.at("next"), hint)


def _check_reachable(ctx: CheckContext, journey: m.Journey) -> None:
    seen = reachable(journey, journey.steps[0].id)
    for step in journey.steps:
        if step.id not in seen:
            ctx.add("JC204", f"step '{step.id}' can never be reached", step.loc)


def _check_cycles(ctx: CheckContext, journey: m.Journey) -> None:
    """A cycle made only of instant steps would spin forever at one moment."""
    instant = {s.id for s in journey.steps if not is_wait(s)}
    graph: dict[str, list[str]] = {sid: [] for sid in instant}
    for edge in all_edges(journey):
        if edge.source in instant and edge.target in instant:
            graph[edge.source].append(edge.target)
    for component in _cycles(graph):
        order = [s for s in journey.steps if s.id in component]
        at = next((s for s in order if isinstance(s.action, m.Loop)), order[0])
        path = " → ".join(s.id for s in order)
        ctx.add("JC205", f"steps {path} form a cycle with no wait in it", at.loc)


def _cycles(graph: dict[str, list[str]]) -> list[set[str]]:
    """Strongly connected components that contain a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(graph[node]):
                work.append((node, i + 1))
                target = graph[node][i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def _check_loops(ctx: CheckContext, journey: m.Journey) -> None:
    for step in journey.steps:
        action = step.action
        if isinstance(action, m.Loop) and step.id not in reachable(journey, action.to):
            ctx.add("JC206", f"loop '{step.id}' jumps to '{action.to}', which never comes back to "
                    "it", action.at("to"), "loop.to must name a step before the loop")


def _check_split(ctx: CheckContext, step: m.Step, split: m.Split) -> None:
    total = sum(v.weight for v in split.variants)
    if total != 100:
        ctx.add("JC210", f"split weights of step '{step.id}' sum to {total}, not 100", split.loc)
    names: dict[str, m.Variant] = {}
    for variant in split.variants:
        if variant.name in names:
            ctx.add("JC212", f"variant '{variant.name}' appears twice in split '{step.id}'",
                    variant.at("variant"))
        names.setdefault(variant.name, variant)
