"""The simulation report for people: rich tables, rendered from the report dict (SPEC §8).

Every string printed is a `Text`, never rich markup: names come from the user's files (event,
attribute, channel and variant names, currencies, reasons), and `[bold]` or `[/]` in one must
print as written, not style the report or stop it with a MarkupError.
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Any, Literal

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

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


def print_report(report: dict[str, Any], project: m.Project, stream: IO[str]) -> None:
    console = Console(file=stream, highlight=False)
    if not console.is_terminal:
        console.width = 120  # files and CI logs: wide enough that the tables do not wrap
    console.print(_header(report))
    for journey_id, data in report["journeys"].items():
        journey = project.journey(journey_id)
        if journey is not None:
            console.print(_journey(journey, data))
            for table in _splits(journey, data):
                console.print(table)
    if "holdout" in report:
        console.print(_holdout(report))
    console.print(_channels(report))
    console.print(_calendar(report))
    if report["profiles"]["undeclared"]["lines"]:
        console.print(Text(undeclared_line(report)), soft_wrap=True)
    if report["rejects"]:
        console.print(_rejects(report), soft_wrap=True)
    if report["failed_expressions"]:
        console.print(_failed_expressions(report), soft_wrap=True)


def _header(report: dict[str, Any]) -> Group:
    events = report["events"]
    line = (f"{report['project']}: {events['read']:,} events read ({events['rejected']:,} "
            f"rejected, {events['duplicates']:,} duplicates){profiles_read(report)}, "
            f"{report['users']:,} users, {report['messages']['total']:,} messages")
    when = window_line(report)
    return Group(Text(line, style="bold"), Text(when, style="dim"))


def _journey(journey: m.Journey, data: dict[str, Any]) -> Group:
    entered = data["entered"]
    rate = data["conversions"] / entered if entered else None
    title = (f"{journey.id} · entered {entered:,} · converted {data['conversions']:,} "
             f"({percent(rate)}) · completed {data['completed']:,} · exited on goal "
             f"{data['exited']['goal']:,}, on exit event {data['exited']['exit_event']:,}"
             f" · active {data['active']:,}")
    table = Table(expand=False)
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("step", "left"), ("kind", "left"), ("reached", "right"), ("% of entered", "right"),
        ("sent", "right"), ("suppressed", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for step in journey.steps:
        counts = data["steps"][step.id]
        suppressed = ", ".join(f"{reason} {n:,}" for reason, n in counts["suppressed"].items())
        if counts.get("held"):
            suppressed = ", ".join(filter(None, [f"held {counts['held']:,}", suppressed]))
        share = counts["reached"] / entered if entered else None
        add_row(table, step.id, step.kind, number(counts["reached"]), percent(share),
                number(counts["sent"]) if step.kind == "send" else "", suppressed)
    money = (f"revenue {number(data['revenue'])}  ·  message cost {number(data['cost'], 1)}  ·  "
             f"cost per conversion {number(data['cost_per_conversion'], 1)}  ·  ROI "
             f"{number(data['roi'], 1)}x")
    return Group(Text(""), Text(title, style="bold"), table, Text(money))


def _splits(journey: m.Journey, data: dict[str, Any]) -> list[Table]:
    tables = []
    for step in journey.steps:
        variants = data["steps"][step.id].get("variants")
        if not variants:
            continue
        table = Table(title=title(f"{journey.id} · A/B {step.id}"), title_justify="left")
        for column in ("variant", "entered", "conversions", "rate", "lift", "p-value",
                       "revenue", "cost", "ROI"):
            table.add_column(column, justify="left" if column == "variant" else "right")
        for name, row in variants.items():
            p_value = row.get("p_value")
            significant = p_value is not None and p_value < 0.05
            add_row(
                table, name + (" (control)" if row.get("control") and name != "control" else ""),
                number(row["entered"]),
                number(row["conversions"]), percent(row["conversion_rate"]),
                "" if row.get("control") else percent(row.get("lift")),
                "" if row.get("control") else Text(
                    number(p_value, 3), style="bold green" if significant else ""),
                number(row["revenue"]), number(row["cost"], 1), number(row["roi"], 1))
        tables.append(table)
    return tables


def _holdout(report: dict[str, Any]) -> Table:
    """The HTML report's table without its totals (the JSON has them): the rest fits in 120
    columns."""
    table = Table(title=title(holdout_title(report)), title_justify="left")
    shown = [i for i, column in enumerate(HOLDOUT_HEAD) if column not in ("conv.", "revenue")]
    for index in shown:
        table.add_column(HOLDOUT_HEAD[index], justify="left" if index < 2 else "right",
                         no_wrap=True)
    for row in holdout_rows(report):
        add_row(table, *(row[i] for i in shown))
    return table


def _channels(report: dict[str, Any]) -> Table:
    messages = report["messages"]
    last = report["attribution"]["last_touch"]["by_channel"]
    linear = report["attribution"]["linear"]["by_channel"]
    currency = messages["cost"]["currency"]
    table = Table(title=title(f"channels (cost in {currency})" if isinstance(currency, str)
                              else "channels"), title_justify="left")
    for column in ("channel", "messages", "cost", "conv. last-touch", "revenue last-touch",
                   "conv. linear", "revenue linear", "cost/conv.", "ROI (last-touch)"):
        table.add_column(column, justify="left" if column == "channel" else "right")
    for channel, count in messages["by_channel"].items():
        lt, ln = last.get(channel, {}), linear.get(channel, {})
        add_row(table, channel, number(count),
                number(messages["cost"]["by_channel"].get(channel), 1),
                number(lt.get("conversions"), 1), number(lt.get("revenue")),
                number(ln.get("conversions"), 1), number(ln.get("revenue")),
                number(lt.get("cost_per_conversion"), 1), number(lt.get("roi"), 1))
    return table


def _calendar(report: dict[str, Any]) -> Table:
    """Messages by day, a week a row."""
    by_day = report["messages"]["by_day"]
    table = Table(title="messages by day", title_justify="left")
    table.add_column("week of")
    for name in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"):
        table.add_column(name, justify="right")
    if not by_day:
        return table
    days = [dt.date.fromisoformat(d) for d in by_day]
    monday = min(days) - dt.timedelta(days=min(days).weekday())
    while monday <= max(days):
        cells = [by_day.get((monday + dt.timedelta(days=i)).isoformat()) for i in range(7)]
        table.add_row(monday.isoformat(), *("" if c is None else f"{c:,}" for c in cells))
        monday += dt.timedelta(days=7)
    return table


def title(text: str) -> Text:
    """A table's title as written, in the style rich gives titles."""
    return Text(text, style="table.title")


def add_row(table: Table, *cells: str | Text, style: str = "") -> None:
    """A row whose text cells print as written (see the module's docstring)."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells), style=style)


def _rejects(report: dict[str, Any]) -> Group:
    """`file:line: reason`, like compiler output, so editors and terminals can jump there."""
    total = report["events"]["rejected"] + report["profiles"]["rejected"]
    shown = report["rejects"][:20]
    lines = [Text(f"rejected records: {total:,}" + (f" (the first {len(shown)})"
                                                    if total > len(shown) else ""),
                  style="bold red")]
    lines += [Text(f"{r['file']}:{r['line']}: {r['reason']}") for r in shown]
    return Group(*lines)


def _failed_expressions(report: dict[str, Any]) -> Group:
    """Conditions that failed at run time, by journey, place and reason (`over_budget`: not
    run, as too costly for the data)."""
    rows = report["failed_expressions"]
    total = sum(row["count"] for row in rows)
    lines = [Text(f"conditions that failed at run time and counted as false: {total:,}",
                  style="bold yellow")]
    lines += [Text(f"{row['journey']} {row['where']}: {row['reason']} {row['count']:,}")
              for row in rows]
    return Group(*lines)
