"""`simulate --trace USER`: one user's timeline, in their own local time. User ids, event and
template names are printed as `Text`, never as rich markup (see journeyctl.sim.report_text)."""

from __future__ import annotations

import datetime as dt
from typing import IO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from journeyctl import model as m
from journeyctl.sim.outputs import Trace
from journeyctl.sim.report_text import add_row, title
from journeyctl.timeparse import zone

_STYLES = {"event": "cyan", "send": "green", "suppress": "red", "hold": "yellow",
           "convert": "bold magenta", "exit": "bold", "enter": "bold", "error": "red",
           "no-entry": "dim", "duplicate": "dim"}


def print_trace(trace: Trace, project: m.Project, stream: IO[str]) -> None:
    console = Console(file=stream, highlight=False)
    if not trace.lines:
        console.print(Text(f"trace: no events or effects for user {trace.user_id!r}",
                           style="yellow"))
        return
    tz = zone(project.timezone)
    table = Table(title=title(f"trace of {trace.user_id} (times in {project.timezone})"),
                  title_justify="left")
    for column in ("time", "journey", "what"):
        table.add_column(column)
    for line in trace.lines:
        when = dt.datetime.fromtimestamp(line.time, tz).strftime("%Y-%m-%d %H:%M:%S")
        add_row(table, when, line.journey or "", line.text, style=_STYLES.get(line.kind, ""))
    console.print(table)
