"""`journeyctl history`, `status`, `rollback` and `force-unlock`: reading and repairing state."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from journeyctl.commands.apply import locked_apply
from journeyctl.commands.state_common import shown_state, store_for, valid_project
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.errors import EXIT_OK
from journeyctl.plan import Desired, make_plan
from journeyctl.state import SqliteStore, state_path


def _open(project_path: Path, state_url: str | None) -> tuple[SqliteStore, str]:
    loaded = valid_project(project_path)
    project = loaded.project
    assert project is not None
    shown = shown_state(project, state_url)
    store = store_for(project, state_url)
    if not store.exists:
        raise JourneyctlError([diagnostic("JC969", f"there is no state at {shown} yet",
                                          Loc(shown), "journeyctl apply creates it")])
    return store, shown


def history(project_path: Path, journey: str | None, state_url: str | None,
            output_format: str) -> int:
    store, shown = _open(project_path, state_url)
    records = store.history(journey)
    store.close()
    if journey and not records:
        raise JourneyctlError([diagnostic("JC969", f"journey '{journey}' was never applied",
                                          Loc(shown))])
    if output_format == "json":
        print(json.dumps({"schema_version": 1, "versions": [r.__dict__ for r in records]},
                         indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"history of {journey or 'all journeys'} ({shown})",
                  title_justify="left")
    for column in ("journey", "version", "action", "applied at", "commit", "author", "hash"):
        table.add_column(column)
    for r in records:
        table.add_row(r.journey, str(r.version), r.action, r.applied_at,
                      (r.commit or "")[:10], r.author or "", r.hash.removeprefix("sha256:")[:12])
    Console(width=140 if not sys.stdout.isatty() else None).print(table)
    return EXIT_OK


def status(project_path: Path, state_url: str | None, output_format: str) -> int:
    store, shown = _open(project_path, state_url)
    snapshot = store.snapshot()
    lock = store.db.execute("SELECT who, operation, since FROM lock").fetchone()  # type: ignore
    store.close()
    journeys = {}
    for jid, applied in snapshot.journeys.items():
        steps: dict[str, dict[str, int]] = {}
        for (j, version, step), count in sorted(snapshot.inflight.items()):
            if j == jid:
                steps.setdefault(f"v{version}", {})[step] = count
        journeys[jid] = {"version": applied.version, "status": applied.status,
                         "hash": applied.hash, "in_flight": steps}
    report = {"schema_version": 1, "state": shown, "serial": snapshot.serial,
              "project": snapshot.project, "locked_by": list(lock) if lock else None,
              "journeys": journeys}
    if output_format == "json":
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{snapshot.project} at {shown}: serial {snapshot.serial}"
          + (f"; locked by {lock[0]} ({lock[1]} since {lock[2]})" if lock else ""))
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
    shown = shown_state(project, state_url)
    absolute = str(state_path(state_url or project.state, project.root).resolve())
    store = store_for(project, state_url)
    target = store.version(journey, version)
    store.close()
    if target is None or target.status == "deleted":
        raise JourneyctlError([diagnostic(
            "JC969", f"journey '{journey}' has no version {version} to roll back to",
            Loc(shown), f"see journeyctl history {journey}")])

    def make(snapshot):  # type: ignore[no-untyped-def]
        journeys = {j: dict(a.content) for j, a in snapshot.journeys.items()
                    if a.status != "deleted"}
        journeys[journey] = dict(target.content)
        want = Desired(snapshot.project or project.name, journeys, dict(snapshot.settings or {}))
        return make_plan(want, snapshot, shown, absolute)

    code = locked_apply(project, state_url, lock_timeout, auto_approve, "rollback", make)
    print(f"The files still hold the newer {journey}: revert them in git, or the next apply "
          "undoes this rollback.", file=sys.stderr)
    return code


def force_unlock(project_path: Path, lock_id: str, state_url: str | None) -> int:
    store, shown = _open(project_path, state_url)
    try:
        released = store.force_unlock(lock_id)
    finally:
        store.close()
    print(f"Unlocked {shown}: removed the lock of {released.who} ({released.operation}, pid "
          f"{released.pid}, since {released.since}).")
    return EXIT_OK
