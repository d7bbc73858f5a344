"""What the commands share: loading the project and stopping on its errors; checking the files
they will write."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from journeyctl.boundary import EXIT_USER
from journeyctl.commands.rerun import validate_here
from journeyctl.diagnostics import Diagnostic, JourneyctlError, diagnostic, option
from journeyctl.diagnostics_render import print_text
from journeyctl.project import Loaded


def valid_project(path: Path, consequence: str = "fix it first") -> Loaded:
    """The project, validated; on any error, the diagnostics and `✗ the project is invalid:
    <consequence>` on stderr, and the command stops (exit 1) before it does anything."""
    loaded = validate_here(path)
    if project_errors(loaded, consequence) is not None:
        raise SystemExit(EXIT_USER)
    return loaded


def project_errors(loaded: Loaded, consequence: str) -> list[Diagnostic] | None:
    """None when the project is valid; else its errors, printed on stderr with `✗ the project
    is invalid: <consequence>` (for a command that reports them in its own output too)."""
    errors = [d for d in loaded.diagnostics if d.is_error]
    if not errors and loaded.project is not None:
        return None
    print_text(errors, loaded.docs, sys.stderr, f"✗ the project is invalid: {consequence}")
    return errors


def check_output(path: Path, flag: str) -> None:
    """Stop before any work (JC932 at `flag`) when the file `path` could not be written: its
    folder is missing or not writable, or it is a folder itself."""
    parent = path.absolute().parent
    if path.is_dir():
        problem, hint = "it is a directory", "give the path of a file, not of a folder"
    elif not parent.exists():
        problem, hint = (f"the folder {parent} does not exist",
                         f"create it first (mkdir -p {parent}), or write into an existing one")
    elif not parent.is_dir():
        problem, hint = f"{parent} is not a folder", "write into an existing folder"
    elif not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        problem, hint = "permission denied", "choose a path you can write to"
    else:
        return
    raise JourneyctlError([diagnostic("JC932", f"cannot write {path}: {problem}", option(flag),
                                      hint)])


def output_error(path: Path, flag: str, exc: OSError) -> JourneyctlError:
    """JC932 at `flag` for a write of `path` that failed."""
    blocker = next((p for p in path.absolute().parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        reason = f"{blocker} is a file, not a folder"
    else:
        reason = exc.strerror or str(exc)
    return JourneyctlError([diagnostic("JC932", f"cannot write {path}: {reason}", option(flag),
                                       "choose a path in a folder you can write to")])
