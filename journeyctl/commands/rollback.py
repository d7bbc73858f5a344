"""`journeyctl rollback`: an earlier version's content applied again, as a new version."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.state_common import Given, locked_apply, source, state_ref, valid_project
from journeyctl.hints import command
from journeyctl.plan import Plan, rollback_plan
from journeyctl.state.base import Snapshot, StateError, Store


def run(project_path: Path, journey: str, version: int, state_url: str | None,
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
