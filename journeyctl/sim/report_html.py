"""`simulate --report FILE.html`: one self-contained page (no scripts, no external files) with
each journey's graph annotated with counts, its funnel, its A/B tables, and the channels."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.sim.report_format import (
    HOLDOUT_HEAD,
    holdout_rows,
    holdout_title,
    number,
    percent,
    profiles_read,
    undeclared_line,
    window_line,
)
from journeyctl.sim.svg_graph import render_svg

CSS = """
body{font:14px/1.45 -apple-system,"Segoe UI","Noto Sans KR","Apple SD Gothic Neo",sans-serif;
  margin:0;color:#1f2633;background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:20px} header p{margin:0;opacity:.8}
main{padding:8px 32px 40px;max-width:1280px}
section{background:#fff;border:1px solid #e1e4ea;border-radius:10px;margin:22px 0;padding:16px 22px}
h2{font-size:17px;margin:4px 0 2px} h3{font-size:14px;margin:18px 0 6px;color:#4a5568}
.kpis{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 6px}
.kpi{background:#f3f5f9;border-radius:8px;padding:6px 12px} .kpi b{display:block;font-size:17px}
table{border-collapse:collapse;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e8ebf0;padding:4px 10px;text-align:right}
th{background:#f7f8fa;font-weight:600} td:first-child,th:first-child{text-align:left}
.funnel td:last-child,.funnel th:last-child{text-align:left}
.bar{display:inline-block;height:9px;background:#6b8fd6;border-radius:2px;vertical-align:middle}
.sig{color:#0a7d36;font-weight:600} .muted{color:#8a94a6}
.graph{overflow-x:auto}
svg text{font-family:inherit} .node-title{font-weight:600;font-size:12.5px}
.node-detail{font-size:11px;fill:#4a5568} .node-count{font-size:11px;fill:#1f4fa8}
.edge-label{font-size:10.5px;fill:#5b6b8c;paint-order:stroke;stroke:#fff;stroke-width:3px}
"""


def _table(head: list[str], rows: list[list[str]], css: str = "") -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: dict[str, Any], project: m.Project) -> str:
    events = report["events"]
    sections = [_journey_section(project.journey(jid), data)
                for jid, data in report["journeys"].items() if project.journey(jid)]
    return f"""<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>journeyctl simulation · {escape(report['project'])}</title>
<style>{CSS}</style></head>
<body><header><h1>Simulation of {escape(report['project'])}</h1>
<p>{escape(window_line(report))} · {events['read']:,} events
({events['rejected']:,} rejected, {events['duplicates']:,} duplicates){profiles_read(report)} ·
{report['users']:,} users ·
{report['messages']['total']:,} messages</p></header>
<main>{''.join(sections)}{_holdout(report)}{_channels(report)}{_days(report)}{_profiles(report)}</main></body></html>
"""


def _journey_section(journey: m.Journey | None, data: dict[str, Any]) -> str:
    assert journey is not None
    entered = data["entered"]
    kpis = [("entered", number(entered)), ("converted", f"{number(data['conversions'])} "
             f"({percent(data['conversions'] / entered if entered else None)})"),
            ("completed", number(data["completed"])),
            ("left on goal", number(data["exited"]["goal"])),
            ("left on exit event", number(data["exited"]["exit_event"])),
            ("still active", number(data["active"])), ("revenue", number(data["revenue"])),
            ("message cost", number(data["cost"], 1)), ("ROI", f"{number(data['roi'], 1)}x")]
    kpi_html = "".join(f'<div class="kpi">{escape(k)}<b>{v}</b></div>' for k, v in kpis)
    name = f" · {escape(journey.name)}" if journey.name else ""
    return (f'<section id="{escape(journey.id)}"><h2>{escape(journey.id)}{name}</h2>'
            f'<div class="kpis">{kpi_html}</div>'
            f'<h3>Graph (counts of the simulation)</h3><div class="graph">'
            f"{render_svg(journey, data)}</div>"
            f"<h3>Funnel</h3>{_funnel(journey, data)}{_splits(journey, data)}</section>")


def _funnel(journey: m.Journey, data: dict[str, Any]) -> str:
    entered = data["entered"] or 1
    rows = [["entered", "", number(data["entered"]), _bar(1.0), "", ""]]
    for step in journey.steps:
        counts = data["steps"][step.id]
        share = counts["reached"] / entered
        suppressed = ", ".join(f"{escape(r)} {n:,}" for r, n in counts["suppressed"].items())
        if counts.get("held"):
            suppressed = ", ".join(filter(None, [f"held {counts['held']:,}", suppressed]))
        rows.append([escape(step.id), escape(step.kind), number(counts["reached"]),
                     f"{_bar(share)} {percent(share)}",
                     number(counts["sent"]) if step.kind == "send" else "", suppressed])
    conv = data["conversions"] / entered
    rows.append(["converted", "", number(data["conversions"]), f"{_bar(conv)} {percent(conv)}", "",
                 ""])
    return _table(["step", "kind", "reached", "of entered", "sent", "suppressed"], rows,
                  "funnel")


def _bar(share: float) -> str:
    return f'<span class="bar" style="width:{max(share, 0) * 160:.0f}px"></span>'


def _splits(journey: m.Journey, data: dict[str, Any]) -> str:
    html = ""
    for step in journey.steps:
        variants = data["steps"][step.id].get("variants")
        if not variants:
            continue
        rows = []
        for name, row in variants.items():
            p_value = row.get("p_value")
            p_cell = "" if row.get("control") else (
                f'<span class="{"sig" if p_value is not None and p_value < 0.05 else ""}">'
                f"{number(p_value, 3)}</span>")
            rows.append([escape(name) + (' <span class="muted">(control)</span>'
                                         if row.get("control") else ""),
                         number(row["entered"]), number(row["conversions"]),
                         percent(row["conversion_rate"]),
                         "" if row.get("control") else percent(row.get("lift")), p_cell,
                         number(row["revenue"]), number(row["cost"], 1), number(row["roi"], 1)])
        html += f"<h3>A/B test: {escape(step.id)}</h3>" + _table(
            ["variant", "entered", "conversions", "rate", "lift", "p-value", "revenue", "cost",
             "ROI"], rows)
    return html


def _holdout(report: dict[str, Any]) -> str:
    if "holdout" not in report:
        return ""
    rows = [[escape(cell) for cell in row] for row in holdout_rows(report)]
    return (f"<section><h2>Global control group</h2><p>{escape(holdout_title(report))}</p>"
            f"{_table(HOLDOUT_HEAD, rows)}</section>")


def _channels(report: dict[str, Any]) -> str:
    messages = report["messages"]
    last = report["attribution"]["last_touch"]["by_channel"]
    linear = report["attribution"]["linear"]["by_channel"]
    rows = [[escape(ch), number(n), number(messages["cost"]["by_channel"].get(ch), 1),
             number(last.get(ch, {}).get("conversions"), 1),
             number(last.get(ch, {}).get("revenue")),
             number(linear.get(ch, {}).get("conversions"), 1),
             number(linear.get(ch, {}).get("revenue")),
             number(last.get(ch, {}).get("roi"), 1)] for ch, n in messages["by_channel"].items()]
    currency = messages["cost"]["currency"]
    head = ["channel", "messages", f"cost ({currency})" if isinstance(currency, str) else "cost",
            "conversions (last touch)", "revenue (last touch)", "conversions (linear)",
            "revenue (linear)", "ROI (last touch)"]
    return f"<section><h2>Channels</h2>{_table(head, rows)}</section>"


def _days(report: dict[str, Any]) -> str:
    by_day = report["messages"]["by_day"]
    if not by_day:
        return ""
    top = max(by_day.values())
    width, height = max(len(by_day) * 12, 200), 120
    bars = []
    for i, (day, count) in enumerate(by_day.items()):
        h = count / top * (height - 20)
        bars.append(f'<rect x="{i * 12}" y="{height - h:.1f}" width="10" height="{h:.1f}" '
                    f'fill="#6b8fd6"><title>{escape(day)}: {count:,}</title></rect>')
    first, last = next(iter(by_day)), list(by_day)[-1]
    return (f"<section><h2>Messages by day</h2>"
            f'<svg width="{width}" height="{height}" role="img" aria-label="messages by day">'
            f'{"".join(bars)}</svg><p class="muted">{escape(first)} … {escape(last)}, '
            f"at most {top:,} a day</p></section>")


def _profiles(report: dict[str, Any]) -> str:
    if not report["profiles"]["undeclared"]["lines"]:
        return ""
    return f"<section><h2>Profiles</h2><p>{escape(undeclared_line(report))}</p></section>"


def write_html(path: Path, report: dict[str, Any], project: m.Project) -> None:
    path.write_text(render_html(report, project), encoding="utf-8")
