"""What every command that reads a project shares: loading it, and stopping on its errors."""

from __future__ import annotations

import sys
from pathlib import Path

from journeyctl.errors import EXIT_USER
from journeyctl.project import Loaded, validate
from journeyctl.render import print_text


def valid_project(path: Path, consequence: str = "fix it first") -> Loaded:
    """The project, validated; on any error, the diagnostics and `✗ the project is invalid:
    <consequence>` on stderr, and the command stops (exit 1) before it does anything."""
    loaded = validate(path)
    errors = [d for d in loaded.diagnostics if d.is_error]
    if errors or loaded.project is None:
        print_text(errors, loaded.docs, sys.stderr, f"✗ the project is invalid: {consequence}")
        raise SystemExit(EXIT_USER)
    return loaded
