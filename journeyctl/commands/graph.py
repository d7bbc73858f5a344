"""`journeyctl graph`: a journey as a Mermaid or Graphviz diagram."""

from __future__ import annotations

import sys
from pathlib import Path

from journeyctl.commands.common import check_output, output_error
from journeyctl.commands.rerun import validate_here
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.errors import EXIT_OK, EXIT_USER
from journeyctl.graph import RENDERERS
from journeyctl.model import Journey
from journeyctl.project import Loaded, display_path, find_root, validate
from journeyctl.render import print_text


def run(journey_ref: str, project_path: Path, output_format: str, output: Path | None) -> int:
    as_file = Path(journey_ref)
    if as_file.suffix in (".yaml", ".yml") and as_file.is_file():
        root = find_root(as_file.parent)
        if root is None:
            raise JourneyctlError([diagnostic(
                "JC001", f"{journey_ref} is not inside a project", Loc(journey_ref),
                "a journey file lives below a folder holding journeyctl.yaml")])
        loaded = validate(root)
        journey = _by_file(loaded, as_file)
    else:
        loaded = validate_here(project_path)
        journey = loaded.project.journey(journey_ref) if loaded.project else None
    errors = [d for d in loaded.diagnostics if d.is_error]
    if journey is not None:  # problems elsewhere in the project do not stop the drawing
        errors = [d for d in errors if d.loc.file == journey.loc.file]
    if journey is None or errors:
        if not errors:
            known = ", ".join(j.id for j in loaded.project.journeys) if loaded.project else ""
            errors = [diagnostic("JC930", f"no journey '{journey_ref}' in the project",
                                 option(journey_ref), f"journeys: {known}" if known else None)]
        print_text(errors, loaded.docs, sys.stderr, "✗ cannot draw an invalid journey")
        return EXIT_USER
    text = RENDERERS[output_format](journey)
    if output:
        check_output(output, "--output")
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise output_error(output, "--output", exc) from exc
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _by_file(loaded: Loaded, path: Path) -> Journey | None:
    shown = display_path(path.resolve())
    project = loaded.project
    return next((j for j in project.journeys if j.loc.file == shown), None) if project else None
