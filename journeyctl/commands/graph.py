"""`journeyctl graph`: a journey as a Mermaid or Graphviz diagram."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from journeyctl.boundary import EXIT_OK, EXIT_USER
from journeyctl.commands.common import check_output, output_error
from journeyctl.commands.rerun import validate_here, with_word_replaced
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.diagnostics_render import print_text
from journeyctl.graph import RENDERERS
from journeyctl.hints import close_path
from journeyctl.model import Journey
from journeyctl.project import YAML_SUFFIXES, Loaded, display_path, find_root, validate


def run(journey_ref: str, project_path: Path, output_format: str, output: Path | None) -> int:
    as_file = Path(journey_ref)
    if _is_a_path(journey_ref):
        _check_file(as_file, journey_ref)
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
            what = f"the file {journey_ref} holds no journey of the project" if \
                _is_a_path(journey_ref) else f"no journey '{journey_ref}' in the project"
            errors = [diagnostic("JC930", what, option(journey_ref),
                                 f"journeys: {known}" if known else None)]
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


def _is_a_path(journey_ref: str) -> bool:
    """A journey id has neither a YAML suffix nor a folder in it: such a reference is a file."""
    return journey_ref.endswith(YAML_SUFFIXES) or "/" in journey_ref or os.sep in journey_ref


def _check_file(path: Path, journey_ref: str) -> None:
    """JC001 for a journey file that is not there, with the close file beside it."""
    if path.is_file():
        return
    hint = "give the path of a journey file, or a journey id"
    near = None if path.exists() else close_path(path, _looks_like_a_journey)
    if near is not None:
        shown = display_path(near)
        again = with_word_replaced(journey_ref, shown)
        hint = f"did you mean {shown}?" + (f" {again}" if again else "")
    problem = " is not a file" if path.exists() else ": file not found"
    raise JourneyctlError([diagnostic("JC001", f"{journey_ref}{problem}", option(journey_ref),
                                      hint)])


def _looks_like_a_journey(path: Path) -> bool:
    """A YAML file with a top-level `journey:` (a template beside it is no journey to draw)."""
    if path.suffix not in YAML_SUFFIXES or not path.is_file():
        return False
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return re.search(r"^journey\s*:", text, re.MULTILINE) is not None


def _by_file(loaded: Loaded, path: Path) -> Journey | None:
    shown = display_path(path.resolve())
    project = loaded.project
    return next((j for j in project.journeys if j.loc.file == shown), None) if project else None
