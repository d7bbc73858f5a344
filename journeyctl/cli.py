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
from journeyctl.errors import run_guarded

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


@app.command()
def simulate(
    project: ProjectArg = Path("."),
    events: Annotated[list[Path] | None, typer.Option(
        "--events", "-e", help="Event log: JSONL or CSV, .gz allowed. Repeat for several.")
    ] = None,
    profiles: Annotated[Path | None, typer.Option(help="Profiles: JSONL or CSV.")] = None,
    journey: Annotated[list[str] | None, typer.Option(
        "--journey", "-j", help="Simulate only this journey. Repeatable.")] = None,
    start: Annotated[str | None, typer.Option(
        help="Skip events before this time (RFC 3339 or a date).")] = None,
    until: Annotated[str | None, typer.Option(
        help="Stop the clock here (default: the last event); later timers do not fire.")] = None,
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
) -> None:
    """Replay event logs through the journeys on a virtual clock and report what would happen."""
    from journeyctl.commands.simulate import Request, run

    if not events:
        raise typer.BadParameter("give at least one --events FILE", param_hint="--events")
    if workers != "auto" and not (workers.isdigit() and int(workers) >= 1):
        raise typer.BadParameter("a number of processes (1, 2, ...) or auto",
                                 param_hint="--workers")
    _exit(lambda: run(Request(project, events or [], profiles, journey or [], start, until,
                              as_json, messages, trace, report, strict, workers)))


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


def _exit(body: Callable[[], int]) -> NoReturn:
    """Every command body runs inside the error boundary; typer only sees the exit code."""
    raise typer.Exit(run_guarded(body))


def main() -> None:
    app()
