"""`journeyctl simulate`: replay event logs through the journeys and report."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl.boundary import EXIT_OK, EXIT_USER
from journeyctl.commands.common import check_output, output_error, valid_project
from journeyctl.commands.rerun import with_word_replaced
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.hints import close_path
from journeyctl.paths import input_problem
from journeyctl.project import display_path
from journeyctl.records import TimeParser
from journeyctl.sim.host import Options
from journeyctl.sim.readers import InputError
from journeyctl.sim.suppressions import read_suppressions
from journeyctl.timeparse import zone


@dataclass
class Request:
    project: Path
    events: list[Path]
    profiles: Path | None
    journeys: list[str]
    start: str | None
    until: str | None
    as_json: bool
    messages: Path | None
    trace: str | None
    report: Path | None
    strict: bool
    workers: str = "auto"
    suppressions: Path | None = None  # the global suppression list


def parse_time(text: str, tz_name: str, flag: str) -> float:
    """RFC 3339, or a date (midnight in the project's zone), as the event readers read it."""
    try:
        return TimeParser(zone(tz_name) or ZoneInfo("UTC"))(text)
    except (ValueError, OverflowError):
        raise JourneyctlError([diagnostic(
            "JC931", f"{flag} {text!r} is not a time", option(flag),
            "write RFC 3339 (2024-03-13T10:00:00+09:00) or a date (2024-03-13)")]) from None


def window(start_text: str | None, until_text: str | None, tz_name: str
           ) -> tuple[float | None, float | None]:
    """`--start` and `--until` as times (of `simulate`, and of `plan --events`)."""
    start = parse_time(start_text, tz_name, "--start") if start_text else None
    until = parse_time(until_text, tz_name, "--until") if until_text else None
    if start is not None and until is not None and until < start:
        raise JourneyctlError([diagnostic(
            "JC931", f"--until {until_text} is before --start {start_text}: the run "
            "would be empty", option("--until"), "give an --until later than --start")])
    return start, until


@contextmanager
def input_errors() -> Iterator[None]:
    """A bad record that stops a run (an unreadable file, a gzip cut short) as JC001 at it."""
    try:
        yield
    except InputError as exc:
        raise JourneyctlError([diagnostic("JC001", exc.message, Loc(exc.path, exc.line),
                                          exc.hint)]) from exc


def run(request: Request) -> int:
    from journeyctl.sim.run import simulate

    loaded = valid_project(request.project)
    project = loaded.project
    assert project is not None  # valid_project stops before a project that did not load
    unknown = [j for j in request.journeys if project.journey(j) is None]
    if unknown:
        known = ", ".join(j.id for j in project.journeys)
        raise JourneyctlError([diagnostic("JC930", f"no journey '{unknown[0]}' in the project",
                                          option("--journey"), f"journeys: {known}")])
    check_inputs(project.root, request.events, request.profiles, request.suppressions)
    start, until = window(request.start, request.until, project.timezone)
    with input_errors():
        suppressed = read_suppressions(request.suppressions) if request.suppressions else None
    options = Options(start=start, until=until, journeys=set(request.journeys) or None,
                      suppressed=suppressed or frozenset())
    # Outputs are checked before the run, which may take long, not when it is over.
    if request.messages:
        check_output(request.messages, "--messages")
    if request.report:
        check_output(request.report, "--report")
    workers = workers_for(request.events, request.workers)
    progress = _progress(request) if workers == 1 else None
    try:
        with input_errors():
            result = simulate(project, request.events, request.profiles, options, request.trace,
                              [progress] if progress else None, workers,
                              keep_messages=request.messages is not None)
    finally:
        if progress:
            progress.stop()
    _write_outputs(request, result, project)
    stats = result.stats
    return EXIT_USER if request.strict and (stats.all_rejected or stats.duplicates) else EXIT_OK


AUTO_PARALLEL_BYTES = 20_000_000


def workers_for(events: list[Path], workers: str = "auto") -> int:
    """auto: every core for large inputs (a fork costs more than a small run takes)."""
    if workers != "auto":
        return int(workers)
    size = sum(path.stat().st_size for path in events)
    return min(os.cpu_count() or 1, 8) if size >= AUTO_PARALLEL_BYTES else 1


_INPUT_HINTS = {
    "--events": "pass an event log: a JSONL or CSV file (.gz allowed)",
    "--profiles": "pass a profiles file: JSONL or CSV (.gz allowed)",
    "--suppressions": "pass the suppression list: one user id per line (.gz allowed)",
}


def check_inputs(root: Path, events: list[Path], profiles: Path | None,
                 suppressions: Path | None = None) -> None:
    """`--events`, `--profiles` and `--suppressions` name files that are there (of
    `simulate`, and of `plan`)."""
    inputs = [*(("--events", path) for path in events),
              *([("--profiles", profiles)] if profiles else []),
              *([("--suppressions", suppressions)] if suppressions else [])]
    for flag, path in inputs:
        if (linked := input_problem(root, path)) is not None:
            raise JourneyctlError([linked])
        if path.is_file():
            continue
        if path.is_dir():
            problem = " is a directory"
        elif path.exists():
            problem = " is not a regular file"
        else:
            problem = ": file not found"
        hint = _INPUT_HINTS[flag]
        if (near := close_path(path, Path.is_file)) is not None:
            again = with_word_replaced(path, display_path(near))
            hint = f"did you mean {display_path(near)}?" + (f" {again}" if again else "")
        raise JourneyctlError([diagnostic("JC001", f"{path}{problem}", option(flag), hint)])


def _write_outputs(request: Request, result: Any, project: Any) -> None:
    if request.messages and result.messages is not None:
        try:
            result.messages.write(request.messages)
        except OSError as exc:
            raise output_error(request.messages, "--messages", exc) from exc
        finally:
            result.messages.close()
    if request.report:
        from journeyctl.sim.report_html import write_html

        try:
            write_html(request.report, result.report, project)
        except OSError as exc:
            raise output_error(request.report, "--report", exc) from exc
    if request.as_json:
        print(json.dumps(result.report, ensure_ascii=False, indent=2))
    else:
        from journeyctl.sim.report_text import print_report

        print_report(result.report, project, sys.stdout)
    if result.trace is not None:
        from journeyctl.sim.trace_text import print_trace

        print_trace(result.trace, project, sys.stderr if request.as_json else sys.stdout)
    stats = result.stats
    if stats.all_rejected and not request.as_json:
        print(f"{stats.all_rejected:,} record(s) rejected (listed above); --strict makes that "
              "fail", file=sys.stderr)


class _Progress:
    """A rich progress line on stderr: records read and the rate."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("simulating: {task.completed:,} events"),
                            TimeElapsedColumn(), transient=True, console=Console(file=sys.stderr))
        self.task = self.bar.add_task("simulate", total=None)
        self.count = 0
        self.bar.start()

    def event(self, record: Any) -> None:
        self.count += 1
        if self.count % 5000 == 0:
            self.bar.update(self.task, completed=self.count)

    def effect(self, effect: Any) -> None: ...

    def stop(self) -> None:
        self.bar.stop()


def _progress(request: Request) -> _Progress | None:
    if request.as_json or not sys.stderr.isatty():
        return None
    return _Progress()
