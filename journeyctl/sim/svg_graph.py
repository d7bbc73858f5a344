"""A journey drawn as SVG, with the simulation's counts on its nodes and edges.

A small layered layout (no Graphviz needed): steps are placed in layers by their longest path
from the trigger, edges that jump back (loops) are drawn round the right-hand side, and each
edge is as thick as the share of users that took it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from journeyctl import model as m
from journeyctl.graph import END, START, diagram_edges, step_summary, trigger_label

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 230, 58, 40, 62, 24
KIND_COLOURS: dict[m.StepKind, str] = {
    "send": "#e7f5ec", "wait": "#e8f0fb", "wait_for": "#e8f0fb", "branch": "#fdf1e1",
    "split": "#fdf1e1", "update": "#f3eefb", "loop": "#f3eefb", "exit": "#eeeeee",
}


@dataclass
class _Edge:
    source: str
    target: str
    label: str
    count: int
    back: bool = False


def _edges(journey: m.Journey, counts: dict[tuple[str, str, str], int]) -> list[_Edge]:
    """The diagram's edges with the users that took each: `counts` is keyed by (source step,
    target step or exit, label), the entry edge by ("", first step, "")."""
    edges = []
    for source, target, label in diagram_edges(journey):
        key = ("" if source == START else source, m.EXIT if target == END else target, label)
        edges.append(_Edge(source, target, label, counts.get(key, 0)))
    return edges


def _layers(nodes: list[str], edges: list[_Edge]) -> dict[str, int]:
    """Longest-path layers over the graph without its back edges (found by DFS)."""
    succ: dict[str, list[_Edge]] = {n: [] for n in nodes}
    for edge in edges:
        succ[edge.source].append(edge)
    state: dict[str, int] = {}
    order: list[str] = []

    def visit(node: str) -> None:  # journeys are small: recursion depth is the step count
        state[node] = 1
        for edge in succ[node]:
            if state.get(edge.target) == 1:
                edge.back = True
            elif edge.target not in state:
                visit(edge.target)
        state[node] = 2
        order.append(node)

    for node in nodes:
        if node not in state:
            visit(node)
    layer = {n: 0 for n in nodes}
    for node in reversed(order):  # topological order of the forward graph
        for edge in succ[node]:
            if not edge.back:
                layer[edge.target] = max(layer[edge.target], layer[node] + 1)
    deepest = max((layer[n] for n in nodes if n != END), default=0)
    layer[END] = max(layer[END], deepest + 1)
    return layer


def render_svg(journey: m.Journey, data: dict[str, Any]) -> str:
    nodes = [START, *(s.id for s in journey.steps), END]
    counts = {(e["from"] or "", e["to"], e["label"]): e["count"] for e in data["edges"]}
    edges = _edges(journey, counts)
    layer = _layers(nodes, edges)
    rows: dict[int, list[str]] = {}
    for node in nodes:
        rows.setdefault(layer[node], []).append(node)
    widest = max(len(row) for row in rows.values())
    # room on the right for loops, on the left for edges that skip layers
    width = MARGIN * 2 + widest * NODE_W + (widest - 1) * GAP_X + 240
    pos: dict[str, tuple[float, float]] = {}
    for index, row in sorted(rows.items()):
        span = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = 120 + (width - 240 - span) / 2
        for i, node in enumerate(row):
            pos[node] = (x0 + i * (NODE_W + GAP_X), MARGIN + index * (NODE_H + GAP_Y))
    height = MARGIN * 2 + (max(rows) + 1) * (NODE_H + GAP_Y) - GAP_Y
    entered = data["entered"] or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
             f' viewBox="0 0 {width:.0f} {height:.0f}" class="journey-graph" role="img" '
             f'aria-label="{escape(journey.id)}">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" '
             'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
             '<path d="M 0 0 L 10 5 L 0 10 z" fill="#5b6b8c"/></marker></defs>']
    parts += [_edge_svg(e, pos, entered, width, layer[e.target] - layer[e.source])
              for e in edges]
    steps = {s.id: s for s in journey.steps}
    for node in nodes:
        parts.append(_node_svg(node, pos[node], steps.get(node), journey, data))
    parts.append("</svg>")
    return "\n".join(parts)


def _edge_svg(edge: _Edge, pos: dict[str, tuple[float, float]], entered: int,
              width: float, span: int) -> str:
    sx, sy = pos[edge.source]
    tx, ty = pos[edge.target]
    stroke = 1.2 + 6 * math.sqrt(edge.count / entered) if edge.count else 1.0
    colour = "#5b6b8c" if edge.count else "#c5cad3"
    if edge.back:
        x1, y1 = sx + NODE_W, sy + NODE_H / 2
        x2, y2 = tx + NODE_W, ty + NODE_H / 2
        bend = width - 40
        path = f"M {x1:.0f} {y1:.0f} C {bend:.0f} {y1:.0f}, {bend:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        lx, ly = bend - 20, (y1 + y2) / 2
    elif span > 1 and abs(sx - tx) < NODE_W:  # skips layers: go round the nodes in between
        x1, y1 = sx, sy + NODE_H / 2
        x2, y2 = tx, ty + NODE_H / 2
        bend = min(x1, x2) - 70
        path = f"M {x1:.0f} {y1:.0f} C {bend:.0f} {y1:.0f}, {bend:.0f} {y2:.0f}, {x2:.0f} {y2:.0f}"
        lx, ly = bend + 8, (y1 + y2) / 2
    else:
        x1, y1 = sx + NODE_W / 2, sy + NODE_H
        x2, y2 = tx + NODE_W / 2, ty
        mid = (y1 + y2) / 2
        path = f"M {x1:.0f} {y1:.0f} C {x1:.0f} {mid:.0f}, {x2:.0f} {mid:.0f}, {x2:.0f} {y2:.0f}"
        lx, ly = (x1 + x2) / 2, mid
    label = edge.label if len(edge.label) <= 26 else edge.label[:25] + "…"
    text = f"{label} · {edge.count:,}" if label else f"{edge.count:,}"
    return (f'<g class="edge"><path d="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="{stroke:.1f}" marker-end="url(#arrow)"/>'
            f'<text x="{lx:.0f}" y="{ly + 4:.0f}" class="edge-label" text-anchor="middle">'
            f"{escape(text)}</text></g>")


def _node_svg(node: str, at: tuple[float, float], step: m.Step | None, journey: m.Journey,
              data: dict[str, Any]) -> str:
    x, y = at
    if node == START:
        title, detail = "trigger", trigger_label(journey.trigger)
        count, fill, radius = f"entered {data['entered']:,}", "#dde7f7", NODE_H / 2
    elif node == END:
        left = data["completed"] + data["exited"]["goal"] + data["exited"]["exit_event"]
        title, detail, fill, radius = "exit", f"converted {data['conversions']:,}", "#eeeeee", \
            NODE_H / 2
        count = f"left {left:,}"
    else:
        assert step is not None
        counts = data["steps"][step.id]
        title, detail = step.id, step_summary(step)
        fill, radius = KIND_COLOURS.get(step.kind, "#ffffff"), 8
        count = f"reached {counts['reached']:,}"
        if step.kind == "send":
            suppressed = sum(counts["suppressed"].values())
            count += f" · sent {counts['sent']:,}" + (f" · suppressed {suppressed:,}"
                                                      if suppressed else "")
    if len(detail) > 36:
        detail = detail[:35] + "…"
    return (f'<g class="node"><title>{escape(title)}: {escape(detail)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="{radius:.0f}"'
            f' fill="{fill}" stroke="#9aa5b8"/>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 18:.0f}" class="node-title" '
            f'text-anchor="middle">{escape(title)}</text>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 34:.0f}" class="node-detail" '
            f'text-anchor="middle">{escape(detail)}</text>'
            f'<text x="{x + NODE_W / 2:.0f}" y="{y + 50:.0f}" class="node-count" '
            f'text-anchor="middle">{escape(count)}</text></g>')
