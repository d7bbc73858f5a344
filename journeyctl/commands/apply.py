"""`journeyctl apply [PROJECT | PLAN_FILE]`: lock, plan, confirm, apply in one transaction; or
apply a saved plan exactly, without a question (saving it was the approval)."""

from __future__ import annotations

import json
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.state_common import (
    Given,
    confirm_and_apply,
    environment_state,
    locked_apply,
    not_found,
    resolve_state,
    source,
    state_ref,
    valid_project,
)
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.hints import command
from journeyctl.plan import Plan, desired, make_plan, unseal
from journeyctl.project import PROJECT_FILE, display_path, find_root
from journeyctl.state.base import StateError, plan_conflict
from journeyctl.state.urls import ENV_VARIABLE, is_postgres

WHAT_APPLY_TAKES = "apply takes a project folder, or a plan file saved by `plan --out`"


def run(target: Path, state_url: str | None, auto_approve: bool, lock_timeout: float) -> int:
    """A folder (or its journeyctl.yaml) is a project; any other file is a saved plan."""
    if not target.exists():
        raise _not_found(target, state_url)
    if not target.is_dir() and target.name != PROJECT_FILE:
        return _apply_file(target, state_url, lock_timeout)
    loaded = valid_project(target)
    project = loaded.project
    assert project is not None
    want = desired(project, loaded.docs)
    given = Given(target, state_url)
    ref = state_ref(loaded, given)
    origin = source(loaded)
    ask = None if auto_approve else command("apply", *given.args(), "--auto-approve")
    locked_apply(ref, project.name, lock_timeout, ask, "apply",
                 lambda store, snapshot: make_plan(want, snapshot, time.time(), ref.shown,
                                                   str(ref.path)).with_source(origin))
    return EXIT_OK


def _not_found(target: Path, state_url: str | None) -> JourneyctlError:
    state = Given(state=state_url).state_args()
    return not_found(str(target), "plan file or project folder", _usable,
                     lambda name: command("apply", name, *state), f"check the name: "
                     f"{WHAT_APPLY_TAKES}")


def _usable(path: Path) -> bool:
    """A project folder, or a file that reads as a plan."""
    if path.is_dir():
        return (path / PROJECT_FILE).is_file()
    try:
        return not isinstance(unseal(json.loads(path.read_text(encoding="utf-8"))), str)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False


def _apply_file(path: Path, state_url: str | None, timeout: float) -> int:
    """Apply exactly a saved plan: to the state it was made against (or --state, else
    $JOURNEYCTL_STATE, resolved relative to the project, as `plan` does), only if that state
    has not moved on."""
    shown = display_path(path)
    where = Loc(shown, 0, 0)
    plan = _read_plan(path, shown)
    root = Path(plan.source["root"]) if plan.source else Path.cwd()
    env = environment_state()
    given = Given(Path(display_path(root)), _state_url(plan, state_url, env))
    remake = command("plan", *given.args(), "--out", shown)  # the same plan, made again
    recorded = plan.state.file
    if state_url is None and env is None and not recorded:
        raise StateError("JC964", f"{shown} does not say which state it was made against",
                         "name the state with --state", where)
    ref = resolve_state(state_url, recorded if is_postgres(recorded) else "sqlite:///" + recorded,
                        root, where, given)
    elsewhere = f"make a new plan: {remake}"
    if state_url is not None or env is not None:
        own = command("apply", shown)
        if env is not None:  # the plan names its state, once the variable is out of the way
            own = f"env -u {ENV_VARIABLE} {own}"
        elsewhere = f"apply it to the state it was made for: {own}; or {elsewhere}"
    # a plan made against no state may make it; any other needs the state it was made for
    store = ref.open(create=not plan.state.lineage)
    if not store.exists:
        raise StateError("JC965", f"the plan was made against the state at "
                         f"{plan.state.path}, and there is no state at {ref.shown}",
                         elsewhere, where)
    with closing(store), ref.locked(store, "apply", timeout):
        snapshot = store.snapshot()
        conflict = plan_conflict(plan, snapshot.lineage, snapshot.serial, snapshot.project)
        if conflict:  # before showing the plan: it could not be applied anyway
            code, message, hint = conflict
            if code == "JC966":
                hint = f"something was applied since; make a new plan: {remake}"
            elif plan.state.lineage not in ("", snapshot.lineage):
                hint = elsewhere
            raise StateError(code, message, hint, where)
        confirm_and_apply(store, plan, None, "apply", ref.shown)
    return EXIT_OK


def _state_url(plan: Plan, state_url: str | None, env: str | None) -> str | None:
    """The --state that names the plan's state to `plan` and `force-unlock` in hints: the one
    given; else none when $JOURNEYCTL_STATE names it (it is in the environment already); else
    the one the plan was made with (None: the project's `state:`)."""
    if state_url is not None or env is not None:
        return state_url
    return plan.state.url


def _read_plan(path: Path, shown: str) -> Plan:
    where = Loc(shown, 0, 0)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise JourneyctlError([diagnostic(
            "JC964", f"cannot read the plan file {shown} ({exc.strerror or exc})", where,
            "check that this user can read it")]) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JourneyctlError([diagnostic("JC964", f"{shown} is not a plan file ({exc})",
                                          where, _not_a_plan(path))]) from exc
    plan = unseal(document)
    if isinstance(plan, str):
        hint = _not_a_plan(path) if plan == "not a journeyctl plan file" else \
            _new_plan(document, path, shown)
        raise StateError("JC964", f"{shown}: {plan}", hint, where)
    return plan


def _not_a_plan(path: Path) -> str:
    """For a file that is no plan at all (a journey file, say): the project it is in."""
    root = find_root(path.absolute().parent)
    if root is None:
        return WHAT_APPLY_TAKES
    return f"{WHAT_APPLY_TAKES}; to apply the project: {command('apply', display_path(root))}"


def _new_plan(document: dict[str, Any], path: Path, shown: str) -> str:
    """For a plan file that cannot be applied (edited, of another format): the command that
    makes it again, from the project it names (or the one it is in)."""
    source, state = document.get("source"), document.get("state")
    named = Path(source["root"]) if isinstance(source, dict) and isinstance(
        source.get("root"), str) else None
    root = named if named and (named / PROJECT_FILE).is_file() else \
        find_root(path.absolute().parent)
    if root is None:
        return "make a new plan: `plan --out` in the project folder"
    url = state.get("url") if isinstance(state, dict) and environment_state() is None else None
    given = Given(Path(display_path(root)), url if isinstance(url, str) else None)
    return f"make a new plan: {command('plan', *given.args(), '--out', shown)}"
