"""`journeyctl history`, `status`, `rollback` and `force-unlock`: reading and repairing state."""

from __future__ import annotations

import json
import re
import sys
import time
from contextlib import closing
from pathlib import Path

from journeyctl.commands.rerun import with_rerun_hint
from journeyctl.commands.state_common import (
    Given,
    StateRef,
    locked_apply,
    not_found,
    source,
    state_ref,
    valid_project,
)
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.errors import EXIT_OK
from journeyctl.hints import close_names, command
from journeyctl.plan import Plan, rollback_plan
from journeyctl.project import PROJECT_FILE, Loaded, NoProject, project_root
from journeyctl.state.base import Snapshot, StateError, Store, VersionRecord

JOURNEY_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")  # schema/common.schema.json#/$defs/id
WHAT_HISTORY_TAKES = ("history takes a project folder (or its journeyctl.yaml), or the id of a "
                      "journey of the project here or named by --project")


def _open(given: Given, readonly: bool = True) -> tuple[Store, StateRef, Loaded]:
    loaded = valid_project(given.project)
    ref = state_ref(loaded, given)
    return ref.require(ref.open(readonly=readonly)), ref, loaded


def history(argument: str | None, project: Path | None, state_url: str | None,
            output_format: str) -> int:
    project_path, journey = _history_target(argument, project, state_url)
    given = Given(project_path, state_url)
    store, ref, loaded = _open(given)
    with closing(store):
        records = store.history(journey)
        applied = {r.journey for r in store.history()} if journey and not records else set()
    if journey and not records:
        raise _no_history(journey, loaded, applied, given, ref)
    if output_format == "json":
        print(json.dumps({"schema_version": 1, "versions": [r.__dict__ for r in records]},
                         indent=2))
        return EXIT_OK
    _print_history(records, f"history of {journey or 'all journeys'} ({ref.shown})")
    return EXIT_OK


def _is_project(path: Path) -> bool:
    return (path / PROJECT_FILE).is_file() if path.is_dir() else path.name == PROJECT_FILE \
        and path.is_file()


def _folder(path: Path) -> Path:
    return (path if path.is_dir() else path.parent).resolve()


def _history_target(argument: str | None, project: Path | None, state_url: str | None
                    ) -> tuple[Path, str | None]:
    """(the project folder, the journey or None) of `history ARGUMENT [--project P]`: a
    project folder (or its journeyctl.yaml) is the project; a word that can be a journey id
    is one of the project P (or here); any other path must exist."""
    here = project or Path(".")
    if argument is None:
        return here, None
    path = Path(argument)
    is_id = JOURNEY_ID.match(argument) is not None
    state = Given(state=state_url).state_args()
    if _is_project(path):
        if project is not None and _folder(path) != _folder(project):
            raise JourneyctlError([diagnostic(
                "JC990", f"two projects given: {argument} and --project {project}",
                option("--project"), f"name the project once: "
                f"{command('history', argument, *state)}")])
        return path, None
    if path.exists() and not is_id:
        return path, None  # no project: its error says what it is, and where the project is
    if is_id and (_is_project(here) or project is not None):
        return here, argument  # (a --project that is no project: its error says so)
    if is_id and not path.exists():
        _project_near(here)  # a journey of a project above or below here: rerun there
    if path.exists():
        return path, None
    raise not_found(argument, "project folder", _is_project,
                    lambda name: command("history", name, *state), WHAT_HISTORY_TAKES)


def _project_near(here: Path) -> None:
    """Raise the no-project error of `here` when there is a project above or below it, whose
    hint is this command run with --project naming that project."""
    try:
        project_root(here)
    except NoProject as exc:
        if exc.found:
            raise with_rerun_hint(exc) from None


def _no_history(journey: str, loaded: Loaded, applied: set[str], given: Given,
                ref: StateRef) -> JourneyctlError:
    """A journey of the project never applied (JC969), or no journey of that id (JC930)."""
    project = loaded.project
    assert project is not None
    where = Loc(journey, 0, 0)
    in_files = {j.id for j in project.journeys}
    if journey in in_files:
        return StateError("JC969", f"journey '{journey}' was never applied to the state at "
                          f"{ref.shown}", f"apply the project: {command('apply', *given.args())}",
                          where)
    known = sorted(in_files | applied)
    listed = f"journeys: {', '.join(known)}" if known else "the project has no journeys yet"
    close = close_names(journey, known)
    hint = (f"did you mean {close[0]}? {command('history', close[0], *given.args(as_option=True))}"
            f"; {listed}" if close else listed)
    return JourneyctlError([diagnostic(
        "JC930", f"no journey '{journey}' in project {project.name}{_as_path(journey)}", where,
        hint)])


def _as_path(word: str) -> str:
    """What `word` is as a path here, said after there is no journey of that id: the argument
    of history is a project folder or a journey."""
    path = Path(word)
    if path.is_dir():
        return f", and the folder {word} here holds no {PROJECT_FILE}"
    if path.exists():
        return f", and {word} here is a file, not a project folder"
    return f", and no folder {word} here"


def _print_history(records: list[VersionRecord], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("journey", "version", "action", "applied at", "by", "commit", "author",
                   "hash"):
        table.add_column(column, no_wrap=column in ("commit", "hash", "applied at"))
    for r in records:
        commit = " + ".join(filter(None, [(r.commit or "")[:10], "uncommitted" * r.dirty]))
        table.add_row(r.journey, str(r.version), r.action, r.applied_at, r.user, commit,
                      r.author or "", r.hash.removeprefix("sha256:")[:12])
    Console(width=170 if not sys.stdout.isatty() else None).print(table)


def status(project_path: Path, state_url: str | None, output_format: str) -> int:
    store, ref, _ = _open(Given(project_path, state_url))
    with closing(store):
        snapshot = store.snapshot()
        lock = store.holder()
    shown = ref.shown
    journeys = {}
    for jid, applied in snapshot.journeys.items():
        steps: dict[str, dict[str, int]] = {}
        for (j, version, step), count in sorted(snapshot.inflight.items()):
            if j == jid:
                steps.setdefault(f"v{version}", {})[step] = count
        journeys[jid] = {"version": applied.version, "status": applied.status,
                         "hash": applied.hash, "in_flight": steps}
    locked_by = {"who": lock.who, "operation": lock.operation, "since": lock.since} \
        if lock else None
    report = {"schema_version": 1, "state": shown, "serial": snapshot.serial,
              "project": snapshot.project, "locked_by": locked_by, "journeys": journeys}
    if output_format == "json":
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{snapshot.project} at {shown}: serial {snapshot.serial}"
          + (f"; locked by {lock.who} ({lock.operation} since {lock.since})" if lock else ""))
    for jid, info in journeys.items():
        total = sum(n for steps in info["in_flight"].values() for n in steps.values())
        print(f"  {jid}: v{info['version']} {info['status']}, {total} in flight")
        for version, steps in info["in_flight"].items():
            for step, count in steps.items():
                print(f"      {version} {step}: {count}")
    return EXIT_OK


def rollback(project_path: Path, journey: str, version: int, state_url: str | None,
             auto_approve: bool, lock_timeout: float) -> int:
    """A new version of `journey` with the content of `version`, planned and applied."""
    loaded = valid_project(project_path)
    project = loaded.project
    assert project is not None
    given = Given(project_path, state_url)
    ref = state_ref(loaded, given)

    def make(store: Store, snapshot: Snapshot) -> Plan:
        target = store.version(journey, version)  # read under the lock, with the plan
        if target is None or target.status == "deleted":
            which = [journey] if store.history(journey) else []
            raise StateError("JC969", f"journey '{journey}' has no version {version} to roll "
                             "back to", "see the versions: " + command(
                                 "history", *which, *given.args(as_option=True)), ref.shown)
        return rollback_plan(snapshot, target, project.name, time.time(), ref.shown,
                             str(ref.path)).with_source(source(loaded))

    ask = None if auto_approve else command("rollback", journey, "--to", str(version),
                                            *given.args(as_option=True), "--auto-approve")
    if locked_apply(ref, project.name, lock_timeout, ask, "rollback", make, create=False):
        print(f"The files still hold the newer {journey}: revert them in git, or the next "
              "apply undoes this rollback.", file=sys.stderr)
    return EXIT_OK


def force_unlock(project_path: Path, lock_id: str, state_url: str | None) -> int:
    given = Given(project_path, state_url)
    store, ref, _ = _open(given, readonly=False)
    with closing(store):
        released = store.force_unlock(lock_id)
        holder = store.holder() if released is None else None
    if released is None:
        hint = "the state is not locked" if holder is None else (
            f"the lock is {holder.lock_id} ({holder.operation} by {holder.who}, pid "
            f"{holder.pid}, since {holder.since}); if that process is gone: "
            f"{command('force-unlock', holder.lock_id, *given.args(as_option=True))}")
        raise StateError("JC962", f"no lock with id {lock_id}", hint, ref.shown)
    print(f"Unlocked {ref.shown}: removed the lock of {released.who} ({released.operation}, "
          f"pid {released.pid}, since {released.since}).")
    return EXIT_OK
