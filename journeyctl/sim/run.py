"""`simulate` as a library call: a project, event files, options -> the report and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.sim.host import Observer, Options, Simulation, Stats
from journeyctl.sim.outputs import Messages, Trace
from journeyctl.sim.recorder import Recorder


@dataclass
class Result:
    report: dict[str, Any]
    stats: Stats
    messages: Messages
    trace: Trace | None
    simulation: Simulation = field(repr=False)


def simulate(project: m.Project, files: list[Path], profiles: Path | None = None,
             options: Options | None = None, trace_user: str | None = None,
             extra: list[Observer] | None = None) -> Result:
    options = options or Options()
    from journeyctl.timeparse import zone

    trace = Trace(trace_user, zone(project.timezone)) if trace_user else None
    messages = Messages()
    observers: list[Any] = [messages, *([trace] if trace else []), *(extra or [])]
    simulation = Simulation(project, observers, options)
    recorder = Recorder(project, [cj.id for cj in simulation.engine.compiled.journeys],
                        simulation.tz)  # type: ignore[arg-type]
    simulation.observers.insert(0, recorder)
    stats = simulation.run(files, profiles)
    report = recorder.report(stats, simulation.start, getattr(simulation, "until", None))
    return Result(report, stats, messages, trace, simulation)
