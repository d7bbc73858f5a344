"""`journeyctl apply [PROJECT | PLAN_FILE]`: lock, plan, confirm, apply in one transaction."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

from journeyctl.commands.state_common import (
    confirm_and_apply,
    locked_apply,
    resolve_state,
    source,
    state_ref,
    valid_project,
)
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.errors import EXIT_OK
from journeyctl.plan import desired, make_plan, unseal
from journeyctl.project import display_path
from journeyctl.state.base import StateError, plan_conflict

NEW_PLAN = "make a new plan with journeyctl plan --out FILE"


def run(target: Path, state_url: str | None, auto_approve: bool, lock_timeout: float) -> int:
    if target.suffix == ".json" and not target.is_dir():
        return _apply_file(target, state_url, auto_approve, lock_timeout)
    loaded = valid_project(target)
    project = loaded.project
    assert project is not None
    want = desired(project, loaded.docs)
    ref = state_ref(loaded, state_url)
    origin = source(project.root)
    locked_apply(ref, project.name, lock_timeout, auto_approve, "apply",
                 lambda store, snapshot: {**make_plan(want, snapshot, ref.shown, str(ref.path)),
                                          "source": origin})
    return EXIT_OK


def _apply_file(path: Path, state_url: str | None, auto_approve: bool, timeout: float) -> int:
    """Apply exactly a saved plan: to the state it was made against (or --state, resolved
    relative to the project, as `plan` does), only if that state has not moved on."""
    shown = display_path(path)
    where = Loc(shown, 0, 0)
    plan = _read_plan(path, shown)
    root = Path(plan["source"]["root"]) if plan.get("source") else Path.cwd()
    if state_url is not None:
        ref = resolve_state(state_url, "", root, None)
    elif plan["state"]["file"]:
        ref = resolve_state(None, "sqlite:///" + plan["state"]["file"], root, where)
    else:
        raise StateError("JC964", f"{shown} does not say which state it was made against",
                         "name the state with --state", where)
    # a plan made against no state may make it; any other needs the state it was made for
    store = ref.open(create=not plan["state"]["lineage"])
    if not store.exists:
        raise StateError("JC965", f"the plan was made against the state at "
                         f"{plan['state']['path']}, and there is no state at {ref.shown}",
                         "apply it to the state it was made for (without --state), or make a "
                         "new plan", where)
    with closing(store), store.locked("apply", timeout):
        snapshot = store.snapshot()
        conflict = plan_conflict(plan, snapshot.lineage, snapshot.serial, snapshot.project)
        if conflict:  # before showing the plan and asking: it could not be applied anyway
            raise StateError(*conflict, where)
        confirm_and_apply(store, plan, auto_approve, "apply", ref.shown)
    return EXIT_OK


def _read_plan(path: Path, shown: str) -> dict[str, Any]:
    where = Loc(shown, 0, 0)
    if not path.exists():
        raise StateError("JC964", f"the plan file {shown} does not exist",
                         f"check the path, or {NEW_PLAN}", where)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JourneyctlError([diagnostic("JC964", f"{shown} is not a plan file ({exc})",
                                          where, NEW_PLAN)]) from exc
    plan = unseal(document)
    if isinstance(plan, str):
        raise StateError("JC964", f"{shown}: {plan}", NEW_PLAN, where)
    return plan
