"""The step graph of a journey: where each step can go next, with a label for each edge.

The checks (references, reachability, loops), the diagram renderer and the engine all read
a journey's control flow from here, so they cannot disagree about it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import assert_never

from journeyctl import model as m


@dataclass(frozen=True)
class Edge:
    source: str
    target: str  # a step id or m.EXIT
    label: str = ""
    field: str = "next"  # which field of the source names the target, for error locations


def following(journey: m.Journey, step: m.Step) -> str:
    """The step after `step` in list order, or exit after the last one."""
    index = journey.steps.index(step)
    return journey.steps[index + 1].id if index + 1 < len(journey.steps) else m.EXIT


def after(journey: m.Journey, step: m.Step) -> str:
    """Where a step that simply finishes goes: its `next`, else the following step."""
    return step.next or following(journey, step)


def edges(journey: m.Journey, step: m.Step) -> Iterator[Edge]:
    action = step.action
    sid = step.id
    match action:
        case m.WaitFor():
            yield Edge(sid, after(journey, step), f"{action.event}")
            yield Edge(sid, action.on_timeout or following(journey, step),
                       f"timeout {action.timeout}", "on_timeout")
        case m.Branch():
            for arm in action.arms:
                label = f"if {arm.condition.source}" if arm.condition else "else"
                yield Edge(sid, arm.next or following(journey, step), label, "branch")
            if all(arm.condition for arm in action.arms):
                yield Edge(sid, following(journey, step), "else", "branch")
        case m.Split():
            for variant in action.variants:
                yield Edge(sid, variant.next or following(journey, step),
                           f"{variant.name} {variant.weight}%", "split")
        case m.Loop():
            yield Edge(sid, action.to, f"repeat ×{action.times}", "to")
            yield Edge(sid, after(journey, step), "done")
        case m.ExitStep():
            yield Edge(sid, m.EXIT, action.reason or "")
        case m.Wait() | m.WaitUntil() | m.Send() | m.Update():
            yield Edge(sid, after(journey, step))
        case _:
            assert_never(action)


def all_edges(journey: m.Journey) -> list[Edge]:
    return [edge for step in journey.steps for edge in edges(journey, step)]


def is_wait(step: m.Step) -> bool:
    """Steps that let time pass: a cycle through one of these cannot spin at one instant."""
    return isinstance(step.action, m.Wait | m.WaitUntil | m.WaitFor)


def reachable(journey: m.Journey, start: str) -> set[str]:
    """Step ids reachable from `start` (included), following every edge."""
    index = journey.step_index
    seen: set[str] = set()
    todo = [start]
    while todo:
        sid = todo.pop()
        if sid in seen or sid not in index:
            continue
        seen.add(sid)
        todo.extend(e.target for e in edges(journey, index[sid]))
    return seen
