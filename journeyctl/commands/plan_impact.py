"""`plan --events`: the applied versions and the files simulated on one log, through the same
code as `simulate`, and compared per changed journey and step (sim.impact)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from journeyctl import model as m
from journeyctl.commands.simulate import check_inputs, input_errors, window, workers_for
from journeyctl.sim.host import Options
from journeyctl.sim.impact import Impact, compare
from journeyctl.sim.run import simulate
from journeyctl.state.applied import Applied, load_applied
from journeyctl.state.base import Store
from journeyctl.state.plan_values import Plan

if TYPE_CHECKING:
    from journeyctl.commands.plan import Replay


class Replayed:
    """One `plan --events`: its inputs, checked as `simulate` checks them, on construction."""

    def __init__(self, replay: Replay, project: m.Project) -> None:
        check_inputs(project.root, replay.events, replay.profiles)
        self.replay = replay
        self.project = project
        self.until = window(None, replay.until, project.timezone)[1]

    @staticmethod
    def applied(store: Store) -> Applied | None:
        return load_applied(store)

    def measure(self, applied: Applied | None, plan: Plan) -> Impact:
        """Both sides simulated as `simulate` does, the applied side on the versions the daemon
        runs (`load_applied`); without a state, nothing runs on it (every number 0)."""
        after = self._simulate(self.project, Options(until=self.until))
        before = None if applied is None else self._simulate(
            applied.project, Options(until=self.until, versions=applied.versions,
                                     older=tuple(applied.older)))
        changed = [change.journey for change in plan.changes if change.action != "no-op"]
        replay = self.replay
        return Impact(
            tuple(map(str, replay.events)), str(replay.profiles) if replay.profiles else None,
            after["window"], applied.serial if applied else None,
            tuple(compare(before, after, changed)))

    def _simulate(self, project: m.Project, options: Options) -> dict[str, Any]:
        replay = self.replay
        with input_errors():
            result = simulate(project, replay.events, replay.profiles, options,
                              workers=workers_for(replay.events), keep_messages=False)
        return result.report
