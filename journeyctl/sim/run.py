"""`simulate` as a library call: a project, event files, options -> the report and outputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.sim import parallel
from journeyctl.sim.host import Observer, Options, Simulation, Stats
from journeyctl.sim.outputs import Messages, Trace
from journeyctl.sim.recorder import Recorder
from journeyctl.timeparse import zone


@dataclass
class Result:
    report: dict[str, Any]
    stats: Stats
    messages: Messages | None  # None: not kept (no --messages)
    trace: Trace | None
    simulation: Simulation | None = field(default=None, repr=False)  # None: run in shards
    workers: int = 1


def simulate(project: m.Project, files: list[Path], profiles: Path | None = None,
             options: Options | None = None, trace_user: str | None = None,
             extra: list[Observer] | None = None, workers: int = 1,
             keep_messages: bool = True) -> Result:
    """Run a simulation; with workers > 1, users are split across that many processes (same
    result). Input that is not in order falls back to one process, which sorts it. Close the
    result's `messages` when done with it (it may hold temporary files)."""
    options = options or Options()
    if workers > 1 and parallel.available() and not extra:
        messages = Messages() if keep_messages else None
        shards = None
        try:
            shards = parallel.run_shards(project, files, profiles, options, workers, trace_user,
                                         messages.folder() if messages else None)
        finally:
            if messages and shards is None:
                messages.close()  # the shards' runs: it failed, or one process starts afresh
        if shards is not None:
            return _merge(project, shards, trace_user, messages)
    trace = Trace(trace_user, zone(project.timezone)) if trace_user else None
    messages = Messages() if keep_messages else None
    observers: list[Any] = [*([messages] if messages else []), *([trace] if trace else []),
                            *(extra or [])]
    simulation = Simulation(project, observers, options)
    recorder = Recorder(project, [cj.id for cj in simulation.engine.compiled.journeys],
                        simulation.tz)
    simulation.observers.insert(0, recorder)
    stats = simulation.run(files, profiles)
    report = recorder.report(stats, simulation.start, getattr(simulation, "until", None))
    return Result(report, stats, messages, trace, simulation)


def _merge(project: m.Project, shards: list[parallel.ShardResult], trace_user: str | None,
           messages: Messages | None) -> Result:
    recorder = shards[0].recorder
    for shard in shards[1:]:
        recorder.merge(shard.recorder)
    stats = Stats()
    for shard in shards:
        stats.add(shard.stats)
    if messages is not None:
        messages.runs = [run for shard in shards for run in shard.runs]
    trace = None
    if trace_user:
        trace = Trace(trace_user, zone(project.timezone))
        trace.lines = [line for shard in shards for line in shard.trace]
    start = min(shard.start for shard in shards)
    until = shards[0].until
    report = recorder.report(stats, start, until)
    return Result(report, stats, messages, trace, None, len(shards))
