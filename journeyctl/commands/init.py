"""`journeyctl init DIR`."""

from __future__ import annotations

from pathlib import Path

from journeyctl.commands.common import output_error
from journeyctl.errors import EXIT_OK
from journeyctl.project import display_path
from journeyctl.scaffold import scaffold


def run(directory: Path, name: str | None) -> int:
    try:
        files = scaffold(directory, name)
    except OSError as exc:  # a parent that is a file, a folder we may not write in
        raise output_error(directory, "DIRECTORY", exc) from exc
    shown = display_path(directory.resolve())
    print(f"Created a journeyctl project in {shown}:")
    for path in files:
        if "schema" not in path.relative_to(directory).parts:
            print(f"  {path.relative_to(directory)}")
    print("  schema/ (JSON Schemas for your editor)")
    print(f"\nNext: journeyctl validate {shown}")
    return EXIT_OK
