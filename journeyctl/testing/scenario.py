"""Running a small scenario through the simulator and keeping every effect, for tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from journeyctl import model as m
from journeyctl.engine import effects as fx
from journeyctl.records import Record, event_properties
from journeyctl.sim.host import Options, Simulation
from journeyctl.sim.outputs import Trace
from journeyctl.timeparse import zone


@dataclass
class ScenarioEvent:
    user_id: str
    name: str
    time: float
    properties: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None


class _Keep:
    """An observer that keeps every effect (scenarios are small). Records in memory are not
    re-read, so no `reset` or `reject` is needed (see sim.host.Observer)."""

    def __init__(self) -> None:
        self.effects: list[Any] = []

    def effect(self, effect: Any) -> None:
        self.effects.append(effect)


@dataclass
class Outcome:
    effects: list[Any]
    traces: dict[str, Trace]
    simulation: Simulation

    def of(self, kind: type) -> list[Any]:
        return sorted((e for e in self.effects if isinstance(e, kind)),
                      key=lambda e: (e.time, e.user_id))

    @property
    def sends(self) -> list[fx.Send]:
        return self.of(fx.Send)

    def step_at(self, user_id: str, journey: str, time: float) -> str | None:
        """The step the user's latest instance of `journey` is on at `time` (None when they
        are not in the journey then): the last step reached at or before it, unless it left."""
        current: str | None = None
        for effect in self.effects:  # one user's effects are in processing order
            if effect.user_id != user_id or getattr(effect, "journey", None) != journey:
                continue
            if effect.time > time:
                break
            if isinstance(effect, fx.StepReached):
                current = effect.step
            elif isinstance(effect, fx.Exited):
                current = None
        return current


def run_scenario(project: m.Project, profiles: dict[str, dict[str, Any]],
                 events: list[ScenarioEvent], until: float, start: float | None = None,
                 journeys: set[str] | None = None) -> Outcome:
    """Simulate `events` (checked against the catalog like any input) up to `until`. The
    `profiles` are used as given: check them first (`parse_profile`), as journey tests do."""
    keep = _Keep()
    users = {*profiles, *(e.user_id for e in events)}
    traces = {user: Trace(user, zone(project.timezone)) for user in users}
    simulation = Simulation(project, [keep, *traces.values()],
                            Options(until=until, journeys=journeys))
    records = []
    for index, event in enumerate(events):
        props = event_properties(project.catalog, event.name, event.properties,
                                 simulation.parse_time)
        if isinstance(props, str):
            raise ValueError(f"event {index + 1} ({event.name}): {props}")
        records.append(Record(event.time, 0, index + 1, event.user_id, event.name, props,
                              event.event_id))
    simulation.run_records(records, {u: dict(p) for u, p in profiles.items()}, start)
    return Outcome(keep.effects, traces, simulation)
