"""The text report and `--trace` print names from the user's files as written: `[bold]` or `[/]`
in an attribute, event, variant or user name neither styles the output nor stops it with rich's
MarkupError."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from journeyctl.diagnostics import Loc
from journeyctl.model import Project
from journeyctl.scaffold import scaffold
from journeyctl.sim.outputs import Trace, TraceLine
from journeyctl.sim.report_text import add_row, title
from journeyctl.sim.trace_text import print_trace
from tests.support import run_cli

ANA = "[bold]ana"


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.e2e
def test_names_that_look_like_markup_print_as_written(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    scaffold(root, "shop")
    journey = root / "journeys" / "welcome.yaml"
    journey.write_text(journey.read_text(encoding="utf-8").replace("steps:\n", (
        "steps:\n  - id: ab\n    split:\n"
        '      - {variant: "[bold]a", weight: 50, next: send_welcome}\n'
        '      - {variant: "b[/]", weight: 50, next: send_welcome}\n')), encoding="utf-8")
    events = write_jsonl(tmp_path / "events.jsonl", [
        {"user_id": ANA, "event": "signup", "timestamp": "2024-01-01T09:00:00Z"},
        {"user_id": ANA, "event": "[red]seen[/]", "timestamp": "2024-01-01T09:01:00Z"},
        {"user_id": "ben", "event": "signup", "timestamp": "2024-01-01T09:00:00Z"}])
    profiles = write_jsonl(tmp_path / "profiles.jsonl", [
        {"user_id": ANA, "email": "a@example.com", "consent": {"email": True}, "[bold]x": 1},
        {"user_id": "ben", "a[/]": 1}])
    result = run_cli("simulate", root, "--events", events, "--profiles", profiles,
                     "--trace", ANA)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert ("2 profile lines with attributes the catalog does not declare (kept; declare them "
            "under `profile:` to use them): [bold]x (1), a[/] (1)") in out
    assert "│ [bold]a (control) │" in out and "│ b[/]              │" in out
    assert f"trace of {ANA} (times in UTC)" in out
    assert "split ab: variant [bold]a" in out and "│ [red]seen[/]" in out


def test_rows_titles_and_trace_lines_are_text_not_markup() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=80, force_terminal=True, color_system="standard")
    table = Table(title=title("[b]x"))
    table.add_column("name of the row")
    add_row(table, "[/]")
    console.print(table)
    project = Project(loc=Loc("journeyctl.yaml"), timezone="UTC")
    print_trace(Trace("[bold]u"), project, stream)  # a user with no lines
    trace = Trace("[i]u")
    trace.lines.append(TraceLine(0.0, "event", None, "[/]seen"))
    print_trace(trace, project, stream)
    out = stream.getvalue()
    assert "\x1b[3m       [b]x        \x1b[0m" in out  # as written, in the style of titles
    assert "│ [/]             │" in out
    assert "trace: no events or effects for user '[bold]u'" in out
    assert "trace of [i]u" in out and "[/]seen" in out
