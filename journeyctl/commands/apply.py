"""`journeyctl apply [PROJECT | PLAN_FILE]`: lock, plan, confirm, apply in one transaction."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from journeyctl.commands.state_common import (
    apply_meta,
    print_plan,
    shown_state,
    store_for,
    valid_project,
)
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.errors import EXIT_OK
from journeyctl.model import Project
from journeyctl.plan import desired, make_plan, unseal
from journeyctl.project import display_path
from journeyctl.state import SqliteStore, state_path


def run(target: Path, state_url: str | None, auto_approve: bool, lock_timeout: float) -> int:
    if target.is_file() and target.suffix == ".json":
        return _apply_file(target, state_url, auto_approve, lock_timeout)
    loaded = valid_project(target)
    project = loaded.project
    assert project is not None
    want = desired(project, loaded.docs)
    shown = shown_state(project, state_url)
    absolute = str(state_path(state_url or project.state, project.root).resolve())
    return locked_apply(project, state_url, lock_timeout, auto_approve, "apply",
                        lambda snapshot: make_plan(want, snapshot, shown, absolute))


def locked_apply(project: Project, state_url: str | None, timeout: float, auto_approve: bool,
                 operation: str, make: Any) -> int:
    """Take the lock, plan against the locked state, confirm, apply, release."""
    shown = shown_state(project, state_url)
    store = store_for(project, state_url, create=True)
    lock = store.lock(operation, timeout)
    try:
        plan = make(store.snapshot())
        return _confirm_and_apply(store, plan, project.root, auto_approve, operation, shown)
    finally:
        store.unlock(lock)
        store.close()


def _confirm_and_apply(store: SqliteStore, plan: dict[str, Any], root: Path,
                       auto_approve: bool, operation: str, shown: str) -> int:
    print_plan(plan)
    if not plan["has_changes"]:
        return EXIT_OK
    if not auto_approve:
        if not sys.stdin.isatty():
            raise JourneyctlError([diagnostic(
                "JC968", "apply asks for confirmation, and there is no terminal to ask on",
                Loc(shown), "review the plan, then run again with --auto-approve")])
        answer = input("\nApply these changes? Only 'yes' applies: ")
        if answer.strip() != "yes":
            print("Nothing applied.")
            return EXIT_OK
    serial = store.apply(plan, apply_meta(root, operation))
    print(f"\nApplied: {shown} is now at serial {serial}.")
    return EXIT_OK


def _apply_file(path: Path, state_url: str | None, auto_approve: bool, timeout: float) -> int:
    shown = display_path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JourneyctlError([diagnostic("JC964", f"{shown} is not a plan file ({exc})",
                                          Loc(shown))]) from exc
    plan = unseal(document)
    if isinstance(plan, str):
        raise JourneyctlError([diagnostic("JC964", f"{shown}: {plan}", Loc(shown),
                                          "make a new plan with journeyctl plan --out")])
    file = state_path(state_url, Path.cwd()) if state_url else Path(plan["state"]["file"])
    store = SqliteStore(file, create=True)
    lock = store.lock("apply", timeout)
    try:
        return _confirm_and_apply(store, plan, path.resolve().parent, auto_approve, "apply",
                                  display_path(file))
    finally:
        store.unlock(lock)
        store.close()
