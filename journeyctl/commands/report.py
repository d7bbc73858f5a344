"""`journeyctl report`: the live report — what the daemon's journeys did — from the state, in
the simulate report's forms (text, `--json`, `--report FILE.html`)."""

from __future__ import annotations

import json
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.common import check_output, output_error
from journeyctl.commands.simulate import parse_time
from journeyctl.commands.state_common import Given, open_state
from journeyctl.diagnostics import JourneyctlError, diagnostic, option
from journeyctl.hints import command
from journeyctl.live import live_report
from journeyctl.state.applied import load_applied
from journeyctl.state.base import StateError


@dataclass
class Request:
    project: Path
    state: str | None
    since: str | None
    until: str | None
    as_json: bool
    report: Path | None


def run(request: Request) -> int:
    if request.report:
        check_output(request.report, "--report")
    store, ref, _ = open_state(Given(request.project, request.state))
    with closing(store):
        applied = load_applied(store)
        if applied is None:  # (made, but no apply finished in it)
            raise StateError("JC969", f"nothing is applied to {ref.shown}: no daemon ran on it",
                             f"apply the project: {command('apply', *ref.given.args())}",
                             ref.shown)
        project = applied.project
        since, until = _window(request, project.timezone)
        report = live_report(store, project, since, until)
    if request.report:
        from journeyctl.sim.report_html import write_html

        try:
            write_html(request.report, report, project)
        except OSError as exc:
            raise output_error(request.report, "--report", exc) from exc
    if request.as_json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        from journeyctl.sim.report_text import print_report

        print_report(report, project, sys.stdout)
    return EXIT_OK


def _window(request: Request, tz_name: str) -> tuple[float | None, float | None]:
    since = parse_time(request.since, tz_name, "--since") if request.since else None
    until = parse_time(request.until, tz_name, "--until") if request.until else None
    if since is not None and until is not None and until <= since:
        raise JourneyctlError([diagnostic(
            "JC931", f"--until {request.until} is not after --since {request.since}: the "
            "report would be empty", option("--until"), "give an --until later than --since")])
    return since, until
