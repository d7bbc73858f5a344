"""`journeyctl history`, `status`, `rollback` and `force-unlock`: reading and repairing state."""

from __future__ import annotations

import json
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from journeyctl.commands.state_common import (
    StateRef,
    locked_apply,
    source,
    state_ref,
    valid_project,
)
from journeyctl.errors import EXIT_OK
from journeyctl.plan import Desired, make_plan
from journeyctl.state.base import Snapshot, StateError, Store


def _open(project_path: Path, state_url: str | None, readonly: bool = True
          ) -> tuple[Store, StateRef]:
    loaded = valid_project(project_path)
    ref = state_ref(loaded, state_url)
    return ref.require(ref.open(readonly=readonly)), ref


def history(project_path: Path, journey: str | None, state_url: str | None,
            output_format: str) -> int:
    store, ref = _open(project_path, state_url)
    with closing(store):
        records = store.history(journey)
    if journey and not records:
        raise StateError("JC969", f"journey '{journey}' was never applied", None, ref.shown)
    if output_format == "json":
        print(json.dumps({"schema_version": 1, "versions": [r.__dict__ for r in records]},
                         indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"history of {journey or 'all journeys'} ({ref.shown})",
                  title_justify="left")
    for column in ("journey", "version", "action", "applied at", "commit", "author", "hash"):
        table.add_column(column)
    for r in records:
        table.add_row(r.journey, str(r.version), r.action, r.applied_at,
                      (r.commit or "")[:10], r.author or "", r.hash.removeprefix("sha256:")[:12])
    Console(width=140 if not sys.stdout.isatty() else None).print(table)
    return EXIT_OK


def status(project_path: Path, state_url: str | None, output_format: str) -> int:
    store, ref = _open(project_path, state_url)
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
    ref = state_ref(loaded, state_url)

    def make(store: Store, snapshot: Snapshot) -> dict[str, Any]:
        target = store.version(journey, version)  # read under the lock, with the plan
        if target is None or target.status == "deleted":
            raise StateError("JC969", f"journey '{journey}' has no version {version} to roll "
                             "back to", f"see journeyctl history {journey}", ref.shown)
        journeys = {j: dict(a.content) for j, a in snapshot.journeys.items()
                    if a.status != "deleted"}
        journeys[journey] = dict(target.content)
        want = Desired(snapshot.project or project.name, journeys, dict(snapshot.settings or {}))
        return {**make_plan(want, snapshot, ref.shown, str(ref.path)),
                "source": source(project.root)}

    if locked_apply(ref, project.name, lock_timeout, auto_approve, "rollback", make,
                    create=False):
        print(f"The files still hold the newer {journey}: revert them in git, or the next "
              "apply undoes this rollback.", file=sys.stderr)
    return EXIT_OK


def force_unlock(project_path: Path, lock_id: str, state_url: str | None) -> int:
    store, ref = _open(project_path, state_url, readonly=False)
    with closing(store):
        released = store.force_unlock(lock_id)
    print(f"Unlocked {ref.shown}: removed the lock of {released.who} ({released.operation}, "
          f"pid {released.pid}, since {released.since}).")
    return EXIT_OK
