"""`journeyctl init DIR`."""

from __future__ import annotations

from pathlib import Path

from journeyctl import hints
from journeyctl.boundary import EXIT_OK
from journeyctl.commands.common import output_error
from journeyctl.project import display_path
from journeyctl.scaffold import SAMPLE_EVENTS, SAMPLE_PROFILES, scaffold


def run(directory: Path, name: str | None) -> int:
    try:
        files = scaffold(directory, name)
    except OSError as exc:  # a parent that is a file, a folder we may not write in
        raise output_error(directory, "DIRECTORY", exc) from exc
    root = directory.resolve()
    print(f"Created a journeyctl project in {display_path(root)}:")
    for path in files:
        if "schema" not in path.relative_to(directory).parts:
            print(f"  {path.relative_to(directory)}")
    print("  schema/ (JSON Schemas for your editor)")
    print("\nNext:")
    for command in next_commands(root):
        print(f"  {command}")
    return EXIT_OK


def next_commands(root: Path) -> list[str]:
    """What to run next, as commands that work when pasted in the current folder."""
    project = display_path(root)
    return [hints.command("validate", project), hints.command("test", project),
            hints.command("simulate", project, "--events", display_path(root / SAMPLE_EVENTS),
                          "--profiles", display_path(root / SAMPLE_PROFILES))]
