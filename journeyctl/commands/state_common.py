"""What the state commands share: a validated project, where its state is, the store, plans on
the terminal, and apply's confirm-then-apply step."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journeyctl.commands import common
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.gitinfo import git_info
from journeyctl.model import Project
from journeyctl.plan import to_text
from journeyctl.project import Loaded, display_path
from journeyctl.state import SqliteStore, open_store, state_path
from journeyctl.state.base import ApplyMeta, Snapshot, StateError, Store, project_conflict


def valid_project(path: Path) -> Loaded:
    """The project, validated; any error stops here, before the state is touched."""
    return common.valid_project(path, "nothing was planned or applied")


@dataclass(frozen=True)
class StateRef:
    """A command's state, resolved once: from `--state` (relative to `root`) or from `state:`
    in journeyctl.yaml (relative to the project)."""

    path: Path  # absolute
    shown: str  # as messages name it
    origin: Loc  # where it was chosen: the --state option, `state:` in journeyctl.yaml, or
    # (the built-in default) the file itself

    def open(self, create: bool = False, readonly: bool = False) -> Store:
        return SqliteStore(self.path, create=create, readonly=readonly, shown=self.shown)

    def require(self, store: Store) -> Store:
        """`store`, when there is a state there; JC969 otherwise."""
        if not store.exists:
            store.close()
            raise StateError("JC969", f"there is no state at {self.shown} yet",
                             "journeyctl apply creates it", self.shown)
        return store


def resolve_state(url: str | None, default: str, root: Path, origin: Loc | None) -> StateRef:
    """`url` (from --state) or else `default` (given at `origin`; None: the built-in default),
    relative to `root`."""
    where = option("--state") if url is not None else origin
    path = Path(os.path.abspath(state_path(url if url is not None else default, root, where)))
    shown = display_path(path)
    return StateRef(path, shown, where or Loc(shown, 0, 0))


def state_ref(loaded: Loaded, url: str | None) -> StateRef:
    """The state of a validated project (`--state` wins over `state:` in journeyctl.yaml)."""
    project = loaded.project
    assert project is not None
    doc = loaded.docs.get(project.loc.file)
    given = doc is not None and isinstance(doc.data, dict) and "state" in doc.data
    origin = doc.loc(("state",)) if doc is not None and given else None
    return resolve_state(url, project.state, project.root, origin)


def refuse_other_project(snapshot: Snapshot, project: str, ref: StateRef) -> None:
    """At the --state option or `state:` that chose the state of another project."""
    conflict = project_conflict(snapshot.project, project, f"the state at {ref.shown}")
    if conflict:
        raise StateError(*conflict, ref.origin)


def store_for(project: Project, url: str | None, create: bool = False) -> SqliteStore:
    return open_store(url or project.state, project.root, create=create)


def shown_state(project: Project, url: str | None) -> str:
    return display_path(state_path(url or project.state, project.root))


def source(root: Path) -> dict[str, Any]:
    """Where a plan's content came from: the project folder and its git commit, recorded in
    the plan so that `apply PLAN_FILE` records them too (and resolves --state like `plan`)."""
    git = git_info(root)
    return {"root": str(root.resolve()), "commit": git.commit, "author": git.author,
            "dirty": git.dirty}


def apply_meta(plan: Mapping[str, Any], operation: str) -> ApplyMeta:
    origin = plan.get("source") or {}
    return ApplyMeta(operation, getpass.getuser(), origin.get("commit"), origin.get("author"),
                     bool(origin.get("dirty")))


def locked_apply(ref: StateRef, project: str, timeout: float, auto_approve: bool,
                 operation: str, make: Callable[[Store, Snapshot], dict[str, Any]],
                 create: bool = True) -> bool:
    """Take the lock, plan against the locked state, confirm, apply, release. True when
    something was applied."""
    store = ref.open(create=create)
    if not create:
        ref.require(store)
    with closing(store), store.locked(operation, timeout):
        snapshot = store.snapshot()
        refuse_other_project(snapshot, project, ref)
        return confirm_and_apply(store, make(store, snapshot), auto_approve, operation,
                                 ref.shown)


def confirm_and_apply(store: Store, plan: dict[str, Any], auto_approve: bool, operation: str,
                      shown: str) -> bool:
    """Show the plan, ask (unless `auto_approve`), apply. True when something was applied."""
    print_plan(plan)
    if not plan["has_changes"]:
        return False
    if not auto_approve:
        if not sys.stdin.isatty():
            raise JourneyctlError([diagnostic(
                "JC968", "apply asks for confirmation, and there is no terminal to ask on",
                Loc(shown, 0, 0), "review the plan, then run again with --auto-approve")])
        try:
            answer = input("\nApply these changes? Only 'yes' applies: ")
        except EOFError:  # Ctrl-D: no answer is not a yes
            answer = ""
            print()
        if answer.strip() != "yes":
            print("Nothing applied.")
            return False
    serial = store.apply(plan, apply_meta(plan, operation))
    print(f"\nApplied: {shown} is now at serial {serial}.")
    return True


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
