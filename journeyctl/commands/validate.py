"""`journeyctl validate`."""

from __future__ import annotations

import sys
from pathlib import Path

from journeyctl.boundary import EXIT_OK, EXIT_USER
from journeyctl.commands.rerun import validate_here
from journeyctl.diagnostics_render import print_text, summary_counts, to_github, to_json
from journeyctl.project import Loaded


def run(path: Path, output_format: str, strict: bool) -> int:
    loaded = validate_here(path)
    diagnostics = loaded.diagnostics
    errors, warnings = summary_counts(diagnostics)
    failed = errors > 0 or (strict and warnings > 0)
    if output_format == "json":
        print(to_json(diagnostics, _stats(loaded)))
    elif output_format == "github":
        if diagnostics:
            print(to_github(diagnostics))
        print(_summary(loaded, errors, warnings))
    else:
        print_text(diagnostics, loaded.docs, sys.stdout, _summary(loaded, errors, warnings))
    return EXIT_USER if failed else EXIT_OK


def _stats(loaded: Loaded) -> dict[str, object]:
    project = loaded.project
    if project is None:
        return {"project": None}
    return {
        "project": project.name,
        "journeys": [j.id for j in project.journeys],
        "templates": len(project.templates),
        "channels": sorted(project.channels),
    }


def _summary(loaded: Loaded, errors: int, warnings: int) -> str:
    project = loaded.project
    parts = [f"{errors} error{'s' * (errors != 1)}",
             f"{warnings} warning{'s' * (warnings != 1)}"]
    if errors or project is None:
        return f"✗ invalid: {', '.join(parts)}"
    summary = (f"✓ project {project.name} is valid: {len(project.journeys)} journeys, "
               f"{len(project.templates)} templates, {len(project.channels)} channels")
    return summary + (f" ({parts[1]})" if warnings else "")



