"""Journey diagrams: Mermaid (renders in GitHub markdown) and Graphviz dot.

Nodes are the steps with a one-line summary; edges carry branch conditions, split variants,
`wait_for` outcomes and loop repeats, all read from `journeyctl.flow`.
"""

from __future__ import annotations

from typing import assert_never

from journeyctl import model as m
from journeyctl.flow import all_edges

START, END = "__start", "__end"  # cannot clash with step ids, which never start with "_"
MAX_LABEL = 48


def trigger_label(trigger: m.Trigger) -> str:
    match trigger:
        case m.EventTrigger():
            text = "on " + " | ".join(trigger.events)
            return text + (f" where {trigger.where.source}" if trigger.where else "")
        case m.InactiveTrigger():
            return f"inactive {trigger.after}"
        case m.ScheduleTrigger():
            return f"schedule {trigger.cron}"
        case _:
            assert_never(trigger)


def step_summary(step: m.Step) -> str:
    action = step.action
    match action:
        case m.Wait():
            return f"wait {action.duration}"
        case m.WaitUntil():
            days = f" ({', '.join(_DAY_NAMES[d - 1] for d in action.days)})" if action.days \
                else ""
            return f"wait until {action.time:%H:%M}{days}"
        case m.WaitFor():
            return f"wait for {action.event} ≤ {action.timeout}"
        case m.Send():
            text = f"send {action.primary.channel}: {action.primary.template}"
            fallback = "".join(f" → {o.channel}" for o in action.fallback)
            category = " (transactional)" if action.category == "transactional" else ""
            return text + fallback + category
        case m.Branch():
            return "branch"
        case m.Split():
            return "A/B split"
        case m.Update():
            return "update " + ", ".join(attr for attr, _ in action.set)
        case m.Loop():
            return f"loop ×{action.times}"
        case m.ExitStep():
            return "exit" + (f": {action.reason}" if action.reason else "")
        case _:
            assert_never(action)


_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def diagram_edges(journey: m.Journey) -> list[tuple[str, str, str]]:
    """(source node, target node, label), with the start and end nodes included."""
    out = [(START, journey.steps[0].id, "")] if journey.steps else [(START, END, "")]
    for edge in all_edges(journey):
        target = END if edge.target == m.EXIT else edge.target
        out.append((edge.source, target, edge.label))
    return out


def mermaid(journey: m.Journey) -> str:
    ids = {s.id: f"s{i}" for i, s in enumerate(journey.steps)} | {START: START, END: END}
    lines = ["flowchart TD", f'    {START}(["{_mm(trigger_label(journey.trigger))}"])']
    for step in journey.steps:
        label = f"{_mm(step.id)}<br/>{_mm(step_summary(step))}"
        shape = ('{{"', '"}}') if step.kind in ("branch", "split") else ('["', '"]')
        lines.append(f"    {ids[step.id]}{shape[0]}{label}{shape[1]}")
    lines.append(f'    {END}(["exit"])')
    for source, target, label in diagram_edges(journey):
        arrow = f'-->|"{_mm(_short(label))}"|' if label else "-->"
        lines.append(f"    {ids[source]} {arrow} {ids[target]}")
    return "\n".join(lines) + "\n"


def _mm(text: str) -> str:
    """Mermaid label text: quotes and angle brackets as entity codes."""
    return (text.replace("&", "#38;").replace('"', "#quot;").replace("<", "#60;")
            .replace(">", "#62;"))


def dot(journey: m.Journey) -> str:
    lines = [
        f"digraph {_dq(journey.id)} {{",
        '    graph [rankdir=TB, fontname="Helvetica"];',
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        f"    {START} [shape=oval, label={_dq(trigger_label(journey.trigger))}];",
    ]
    for step in journey.steps:
        shape = ", shape=diamond" if step.kind in ("branch", "split") else ""
        label = f"{step.id}\n{step_summary(step)}"
        lines.append(f"    {_dq(step.id)} [label={_dq(label)}{shape}];")
    lines.append(f'    {END} [shape=doublecircle, label="exit"];')
    for source, target, label in diagram_edges(journey):
        src = source if source in (START, END) else _dq(source)
        dst = target if target in (START, END) else _dq(target)
        attrs = f" [label={_dq(_short(label))}]" if label else ""
        lines.append(f"    {src} -> {dst}{attrs};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


RENDERERS = {"mermaid": mermaid, "dot": dot}
