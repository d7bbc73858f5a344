"""`journeyctl force-unlock`: remove the lock of a process that died."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.state_common import Given, open_state
from journeyctl.hints import command
from journeyctl.state.base import StateError


def run(project_path: Path, lock_id: str, state_url: str | None) -> int:
    given = Given(project_path, state_url)
    store, ref, _ = open_state(given, readonly=False)
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
