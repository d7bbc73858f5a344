"""`journeyctl state copy`: a whole state copied to another store (SQLite to PostgreSQL when a
project moves up), then counted table by table."""

from __future__ import annotations

import os
from pathlib import Path

from journeyctl.boundary import EXIT_OK
from journeyctl.diagnostics import option
from journeyctl.paths import display_path
from journeyctl.state.copy import Copied, Ends, copy_state
from journeyctl.state.urls import StateLocation, parse_state_url


def run(source_url: str, target_url: str, lock_timeout: float) -> int:
    """URLs as given: a relative `sqlite:///` path is relative to the current folder."""
    source_at, target_at = option("--from"), option("--to")
    source = parse_state_url(source_url, Path.cwd(), source_at)
    target = parse_state_url(target_url, Path.cwd(), target_at)
    ends = Ends(source, target, _shown(source), _shown(target), source_url, target_url,
                source_at, target_at)
    copied = copy_state(ends, lock_timeout)
    _print(copied, ends)
    return EXIT_OK


def _shown(location: StateLocation) -> str:
    """How messages name a state: a file by its path, a database by its URL (no password)."""
    if isinstance(location, Path):
        return display_path(Path(os.path.abspath(location)))
    return location.shown


def _print(copied: Copied, ends: Ends) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"copied {ends.source_shown} to {ends.target_shown}",
                  title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in copied.counts:
        table.add_row(name, str(rows))
    Console(highlight=False, soft_wrap=True).print(table)
    project = f"project {copied.project}, " if copied.project else ""
    print(f"\nCopied: {ends.target_shown} holds the same state ({project}serial "
          f"{copied.serial}, lineage {copied.lineage}), every table counted the same in both. "
          "Point `state:` in journeyctl.yaml (or JOURNEYCTL_STATE) at it; a plan saved "
          "before applies to it with --state.")
