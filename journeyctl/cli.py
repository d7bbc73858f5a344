"""The `journeyctl` command: parse options, call the library, render, pick the exit code.

Heavy modules (CEL, Liquid, jsonschema, rich) are imported inside the commands so that
`journeyctl --help` starts fast.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from journeyctl import __version__
from journeyctl.boundary import run_guarded

app = typer.Typer(
    name="journeyctl",
    help="Customer journeys as code: validate, test, simulate, plan and run lifecycle flows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


class ValidateFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


class GraphFormat(StrEnum):
    mermaid = "mermaid"
    dot = "dot"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"journeyctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Customer journeys as code."""


ProjectArg = Annotated[Path, typer.Argument(help="Project folder (holding journeyctl.yaml).")]


@app.command()
def validate(
    project: ProjectArg = Path("."),
    output_format: Annotated[ValidateFormat, typer.Option(
        "--format", "-f", help="text (people), json (tools) or github (Actions annotations).",
    )] = ValidateFormat.text,
    strict: Annotated[bool, typer.Option(help="Treat warnings as errors.")] = False,
) -> None:
    """Check a project: schema, references, CEL conditions, templates, caps and compliance."""
    from journeyctl.commands.validate import run

    _exit(lambda: run(project, output_format.value, strict))


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
    name: Annotated[str | None, typer.Option(help="Project id (default: the folder name).")] = None,
) -> None:
    """Create a new project that validates: settings, catalog, channels, a journey, templates."""
    from journeyctl.commands.init import run

    _exit(lambda: run(directory, name))


@app.command()
def graph(
    journey: Annotated[str, typer.Argument(help="A journey id, or the path of a journey file.")],
    project: Annotated[Path, typer.Option("--project", "-p",
                                          help="Project folder (for a journey id).")] = Path("."),
    output_format: Annotated[GraphFormat, typer.Option(
        "--format", "-f", help="mermaid or dot.")] = GraphFormat.mermaid,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write to a file instead of stdout.")] = None,
) -> None:
    """Draw a journey as a Mermaid or Graphviz diagram."""
    from journeyctl.commands.graph import run

    _exit(lambda: run(journey, project, output_format.value, output))


# The inputs of a simulation, for `simulate` and for `plan --events`.
EventsOption = Annotated[list[Path] | None, typer.Option(
    "--events", "-e", help="Event log: JSONL or CSV, .gz allowed. Repeat for several.")]
ProfilesOption = Annotated[Path | None, typer.Option(help="Profiles: JSONL or CSV.")]
UntilOption = Annotated[str | None, typer.Option(
    help="Stop the clock here (default: the last event); later timers do not fire.")]


@app.command()
def simulate(
    project: ProjectArg = Path("."),
    events: EventsOption = None,
    profiles: ProfilesOption = None,
    journey: Annotated[list[str] | None, typer.Option(
        "--journey", "-j", help="Simulate only this journey. Repeatable.")] = None,
    start: Annotated[str | None, typer.Option(
        help="Skip events before this time (RFC 3339 or a date).")] = None,
    until: UntilOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    messages: Annotated[Path | None, typer.Option(
        help="Write every sent message to this JSONL file.")] = None,
    trace: Annotated[str | None, typer.Option(help="Print one user's timeline.")] = None,
    report: Annotated[Path | None, typer.Option(
        help="Write a self-contained HTML report (graphs with counts, funnels, A/B).")] = None,
    strict: Annotated[bool, typer.Option(
        help="Fail (exit 1) when any record is rejected or duplicated.")] = False,
    workers: Annotated[str, typer.Option(
        help="Processes to split users across: a number, or auto (all cores for inputs over "
             "20 MB, else 1). The result is the same.")] = "auto",
    suppressions: Annotated[Path | None, typer.Option(
        help="The global suppression list: users (one id per line) no promotional message "
             "reaches (suppressed_list).")] = None,
) -> None:
    """Replay event logs through the journeys on a virtual clock and report what would happen."""
    from journeyctl.commands.simulate import Request, run

    if not events:
        raise typer.BadParameter("give at least one --events FILE", param_hint="--events")
    if workers != "auto" and not (workers.isdigit() and int(workers) >= 1):
        raise typer.BadParameter("a number of processes (1, 2, ...) or auto",
                                 param_hint="--workers")
    _exit(lambda: run(Request(project, events or [], profiles, journey or [], start, until,
                              as_json, messages, trace, report, strict, workers,
                              suppressions)))


class TestFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


@app.command()
def test(
    project: ProjectArg = Path("."),
    files: Annotated[list[Path] | None, typer.Option(
        "--file", help="Run only this test file. Repeatable.")] = None,
    output_format: Annotated[TestFormat, typer.Option(
        "--format", "-f", help="text, json or junit (for CI).")] = TestFormat.text,
) -> None:
    """Run the project's journey tests (tests/*.yaml): events in, expected messages out."""
    from journeyctl.commands.test import run

    _exit(lambda: run(project, files or [], output_format.value))


class PlanFormat(StrEnum):
    text = "text"
    json = "json"
    markdown = "markdown"


class TableFormat(StrEnum):
    text = "text"
    json = "json"


StateOption = Annotated[str | None, typer.Option(
    "--state", help="State URL (default: `state:` in journeyctl.yaml), e.g. sqlite:///state.db")]
LockTimeout = Annotated[str, typer.Option(
    help="How long to wait for another apply's lock, e.g. 30s or 5m.")]
ProjectOption = Annotated[Path, typer.Option("--project", "-p", help="Project folder.")]


def _seconds(text: str) -> float:
    from journeyctl.timeparse import parse_duration

    if text.strip() in ("0", "0s"):
        return 0.0
    parsed = parse_duration(text)
    if parsed is None:
        raise typer.BadParameter("a duration like 30s or 5m", param_hint="--lock-timeout")
    return float(parsed.seconds)


@app.command()
def plan(
    project: ProjectArg = Path("."),
    state: StateOption = None,
    output_format: Annotated[PlanFormat, typer.Option(
        "--format", "-f", help="text, json (versioned) or markdown (a PR comment).")
    ] = PlanFormat.text,
    out: Annotated[Path | None, typer.Option(
        help="Save the plan; `journeyctl apply FILE` applies exactly it.")] = None,
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 without changes, 2 with changes, 1 on error.")
    ] = False,
    events: EventsOption = None,
    profiles: ProfilesOption = None,
    until: UntilOption = None,
) -> None:
    """Show what apply would change: journeys created, updated (step by step), deleted. With
    --events, also what the change does to the numbers: the applied versions and the files
    simulated on the log, per changed journey and step."""
    from journeyctl.commands.plan import Replay, run

    if not events and (profiles or until):
        raise typer.BadParameter("--profiles and --until go with --events FILE",
                                 param_hint="--events")
    replay = Replay(events, profiles, until) if events else None
    _exit(lambda: run(project, state, output_format.value, out, detailed_exitcode, replay))


@app.command()
def apply(
    target: Annotated[Path, typer.Argument(
        metavar="PROJECT | PLAN_FILE",
        help="A project folder (or its journeyctl.yaml), or a plan file saved by `plan --out` "
             "(any name): a saved plan is applied without a question.")] = Path("."),
    state: StateOption = None,
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Apply a project without asking (for CI).")] = False,
    lock_timeout: LockTimeout = "30s",
) -> None:
    """Apply the plan to the state store: validated, locked, confirmed, one transaction."""
    from journeyctl.commands.apply import run

    seconds = _seconds(lock_timeout)
    _exit(lambda: run(target, state, auto_approve, seconds))


@app.command()
def history(
    target: Annotated[str | None, typer.Argument(
        metavar="PROJECT | JOURNEY",
        help="A project folder (or its journeyctl.yaml): its history; or a journey id: only "
             "that journey's (of the project here, or of --project).")] = None,
    project: Annotated[Path | None, typer.Option(
        "--project", "-p", help="Project folder (default: the current one).")] = None,
    state: StateOption = None,
    output_format: Annotated[TableFormat, typer.Option("--format", "-f")] = TableFormat.text,
) -> None:
    """List applied journey versions: when, by whom, from which commit (and whether the files
    had uncommitted changes)."""
    from journeyctl.commands.history import run

    _exit(lambda: run(target, project, state, output_format.value))


@app.command()
def rollback(
    journey: Annotated[str, typer.Argument(help="The journey to roll back.")],
    to: Annotated[int, typer.Option("--to", help="The version whose content to restore.")],
    project: ProjectOption = Path("."),
    state: StateOption = None,
    auto_approve: Annotated[bool, typer.Option("--auto-approve")] = False,
    lock_timeout: LockTimeout = "30s",
) -> None:
    """Apply an earlier version's content again, as a new version."""
    from journeyctl.commands.rollback import run

    seconds = _seconds(lock_timeout)
    _exit(lambda: run(project, journey, to, state, auto_approve, seconds))


@app.command()
def status(
    project: ProjectArg = Path("."),
    state: StateOption = None,
    output_format: Annotated[TableFormat, typer.Option("--format", "-f")] = TableFormat.text,
) -> None:
    """Show applied versions and in-flight instances per step."""
    from journeyctl.commands.status import run

    _exit(lambda: run(project, state, output_format.value))


@app.command()
def report(
    project: ProjectArg = Path("."),
    state: StateOption = None,
    since: Annotated[str | None, typer.Option(
        help="Count from this time: RFC 3339 or a date (midnight in the project's zone). "
             "Counts are kept per hour: every hour that overlaps the window counts.")] = None,
    until: Annotated[str | None, typer.Option(help="Count up to this time.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
    html: Annotated[Path | None, typer.Option(
        "--report", help="Also write the report as an HTML file.")] = None,
) -> None:
    """What the daemon's journeys did: the simulate report, from the live counts in the state."""
    from journeyctl.commands.report import Request, run

    _exit(lambda: run(Request(project, state, since, until, as_json, html)))


@app.command()
def experiments(
    project: ProjectArg = Path("."),
    state: Annotated[str | None, typer.Option(
        "--state", help="Judge the live results of this state (default: `state:` in "
                        "journeyctl.yaml), e.g. sqlite:///state.db")] = None,
    results: Annotated[Path | None, typer.Option(
        help="Judge a saved report instead: `simulate --json` output or a saved live report.")
    ] = None,
    promote: Annotated[str | None, typer.Option(
        metavar="JOURNEY/STEP",
        help="Rewrite that split's weights in its journey file: the winner 100, the others 0 "
             "(kept). Refused while no variant has won.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every A/B split with its results and whether a variant has won; --promote sends
    everyone to the winner (a file change to review, plan and apply)."""
    from journeyctl.commands.experiments import Request, run

    if state is not None and results is not None:
        raise typer.BadParameter("give --state or --results, not both", param_hint="--results")
    _exit(lambda: run(Request(project, state, results, promote, as_json)))


@app.command("force-unlock")
def force_unlock(
    lock_id: Annotated[str, typer.Argument(help="The lock id an error message gave.")],
    project: ProjectOption = Path("."),
    state: StateOption = None,
) -> None:
    """Remove a state lock left behind by a process that died."""
    from journeyctl.commands.force_unlock import run

    _exit(lambda: run(project, lock_id, state))


state_app = typer.Typer(
    name="state", help="Work on a whole state: copy it to another store.",
    no_args_is_help=True, rich_markup_mode=None)
app.add_typer(state_app)


@state_app.command("copy")
def state_copy(
    source: Annotated[str, typer.Option(
        "--from", help="The state to copy: sqlite:///state.db (relative to the current "
                       "folder) or postgresql://user@host/db.")],
    target: Annotated[str, typer.Option(
        "--to", help="Where to copy it: a new file, or an empty database or schema.")],
    lock_timeout: LockTimeout = "30s",
) -> None:
    """Copy a whole state to another store (stop the daemons first): history, versions,
    profiles, instances, timers, ticks, inbox, outbox. Rows are counted in both after."""
    from journeyctl.commands.state_copy import run

    seconds = _seconds(lock_timeout)
    _exit(lambda: run(source, target, seconds))


@app.command("send-test")
def send_test(
    channel: Annotated[str, typer.Option("--channel", "-c",
                                         help="The channel (in channels.yaml) to send on.")],
    template: Annotated[str, typer.Option("--template", "-t",
                                          help="The template to render and send.")],
    profile: Annotated[str, typer.Option(
        help="The recipient's profile: inline JSON or a JSON file (user_id, email, ...).")],
    project: ProjectArg = Path("."),
    entry: Annotated[str | None, typer.Option(
        help="The properties of the event that started the journey: inline JSON or a file.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Send to this host instead of the channel's (e.g. a fake provider).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the outcome as JSON.")] = False,
) -> None:
    """Render a template for one profile and send it through a channel, to check its setup."""
    from journeyctl.commands.send_test import Request, run

    _exit(lambda: run(Request(project, channel, template, profile, entry, base_url, as_json)))


@app.command("fake-provider")
def fake_provider(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (default: a free one).",
                                      min=0, max=65535)] = 0,
    quiet: Annotated[bool, typer.Option(help="Do not log each request.")] = False,
    fail: Annotated[int | None, typer.Option(
        help="Fault: answer with this HTTP status (400 to 599) instead.", min=400, max=599,
        metavar="STATUS")] = None,
    retry_after: Annotated[float | None, typer.Option(
        help="With --fail: send Retry-After with this many seconds.", min=0,
        metavar="SECONDS")] = None,
    delay: Annotated[str | None, typer.Option(
        help="Fault: answer this late (2s, 0.5 for seconds).", metavar="DURATION")] = None,
    every: Annotated[int, typer.Option(
        help="With --fail or --delay: only every Nth request gets the fault.", min=1,
        metavar="N")] = 1,
    refuse: Annotated[bool, typer.Option(
        help="Fault: refuse connections (the port closed), for --for.")] = False,
    for_: Annotated[str | None, typer.Option(
        "--for", help="How long the fault lasts (30s, 5m); default: until stopped.",
        metavar="DURATION")] = None,
) -> None:
    """Run a local fake of the SendGrid, Twilio, FCM, Slack, webhook and NAVER Cloud SENS
    (KakaoTalk) APIs, for demos and outage rehearsals (--fail, --delay, --refuse; POST
    /_fake/fault while it runs). SENS signatures are checked against NCP_ACCESS_KEY and
    NCP_SECRET_KEY when both are set."""
    from journeyctl.commands.fake_provider import FaultOptions, run

    options = FaultOptions(fail, retry_after, delay, every, refuse, for_)
    _exit(lambda: run(port, quiet, options))


@app.command()
def serve(
    project: ProjectArg = Path("."),
    state: StateOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on; other than loopback needs "
                                           "JOURNEYCTL_API_TOKEN.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one, logged on start).",
                                      min=0, max=65535)] = 8787,
    log_format: Annotated[TableFormat, typer.Option("--log-format")] = TableFormat.text,
    base_url: Annotated[list[str] | None, typer.Option(
        "--base-url", metavar="URL",
        help="Send to URL instead of the providers (e.g. a fake provider); CHANNEL=URL for "
             "one channel. Repeatable.")] = None,
    lease: Annotated[float, typer.Option(
        min=1.0, max=300.0, metavar="SECONDS",
        help="PostgreSQL state: how long a partition stays with a daemon that stopped renewing "
             "it (died, cut off) before another daemon takes it over.")] = 10.0,
    public_url: Annotated[str | None, typer.Option(
        "--public-url", metavar="URL", envvar="JOURNEYCTL_PUBLIC_URL", show_envvar=True,
        help="The daemon's public base URL (https://journeys.example.com): promotional SendGrid "
             "email then carries a one-click unsubscribe link to it (needs "
             "JOURNEYCTL_UNSUBSCRIBE_SECRET).")] = None,
) -> None:
    """Run the applied journeys: an HTTP API for events, timers, and delivery to providers."""
    from journeyctl.commands.serve import run

    _exit(lambda: run(project, state, host, port, log_format.value, base_url or [], lease,
                      public_url))


def _exit(body: Callable[[], int]) -> NoReturn:
    """Every command body runs inside the error boundary; typer only sees the exit code."""
    raise typer.Exit(run_guarded(body))


def main() -> None:
    app()
