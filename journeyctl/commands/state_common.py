"""What the state commands share: a validated project, the store, plans on the terminal."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

from journeyctl.commands import common
from journeyctl.gitinfo import git_info
from journeyctl.model import Project
from journeyctl.plan import to_text
from journeyctl.project import Loaded, display_path
from journeyctl.state import SqliteStore, open_store, state_path
from journeyctl.state.base import ApplyMeta


def valid_project(path: Path) -> Loaded:
    """The project, validated; any error stops here, before the state is touched."""
    return common.valid_project(path, "nothing was planned or applied")


def store_for(project: Project, url: str | None, create: bool = False) -> SqliteStore:
    return open_store(url or project.state, project.root, create=create)


def shown_state(project: Project, url: str | None) -> str:
    return display_path(state_path(url or project.state, project.root))


def apply_meta(root: Path, operation: str) -> ApplyMeta:
    git = git_info(root)
    return ApplyMeta(operation, getpass.getuser(), git.commit, git.author, git.dirty)


def print_plan(plan: dict[str, Any], stream: Any = None) -> None:
    from rich.console import Console
    from rich.text import Text

    styles = {"create": "green", "update": "yellow", "delete": "red", "warning": "bold yellow",
              "bold": "bold"}
    console = Console(file=stream or sys.stdout, highlight=False)
    if not console.is_terminal:
        console.width = 120
    for style, text in to_text(plan):
        console.print(Text(text, style=styles.get(style, "")))
