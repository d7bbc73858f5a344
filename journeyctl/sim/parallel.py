"""Running a simulation on several cores: users are independent (SPEC §1), so each process
takes the users of one shard (by a hash of the user id), reads the whole input, parses only
its own lines, and the counts add up. The result is identical to one process: the shards agree
on the run's `until` (the latest event of all) before their clocks run out, and input that is
not in order is left to a single process, which sorts it."""

from __future__ import annotations

import multiprocessing
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.sim.host import Options, Simulation, Stats
from journeyctl.sim.order import OutOfOrder
from journeyctl.sim.outputs import Messages, Trace
from journeyctl.sim.readers import InputError
from journeyctl.sim.recorder import Recorder
from journeyctl.timeparse import zone

_ABORT = "abort"  # sent instead of `until` when another shard found the input out of order


class _Aborted(Exception):
    pass


@dataclass
class ShardResult:
    recorder: Recorder
    runs: list[Path]  # sorted message runs, in the parent's folder
    stats: Stats
    trace: list[Any]
    start: float
    until: float | None


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def run_shards(project: m.Project, files: list[Path], profiles: Path | None, options: Options,
               workers: int, trace_user: str | None, messages: Path | None
               ) -> list[ShardResult] | None:
    """The shards' results, or None when the input needs sorting (run it in one process)."""
    context = multiprocessing.get_context("fork")
    links = []
    for index in range(workers):
        parent, child = context.Pipe()
        process = context.Process(
            target=_shard, daemon=True,
            args=(child, project, files, profiles, replace(options, shard=(index, workers)),
                  trace_user, messages))
        process.start()
        links.append((process, parent))
    try:
        lasts = [_receive(parent) for _, parent in links]
        if any(kind == "out_of_order" for kind, _ in lasts):
            for _, parent in links:
                parent.send(_ABORT)
            return None
        times = [value for _, value in lasts if value is not None]
        until = max(times) if times else None
        for _, parent in links:
            parent.send(until)
        return [_receive(parent)[1] for _, parent in links]
    finally:
        for process, parent in links:
            parent.close()
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


def _receive(connection: Connection) -> tuple[str, Any]:
    kind, value = connection.recv()
    if kind == "input_error":
        raise InputError(*value)
    if kind == "error":
        raise RuntimeError(f"a simulation worker failed:\n{value}")
    return kind, value


def _shard(connection: Connection, project: m.Project, files: list[Path],
           profiles: Path | None, options: Options, trace_user: str | None,
           folder: Path | None) -> None:
    try:
        messages = Messages(folder) if folder else None
        trace = Trace(trace_user, zone(project.timezone)) if trace_user else None
        observers: list[Any] = [*([messages] if messages else []), *([trace] if trace else [])]
        simulation = Simulation(project, observers, options)
        recorder = Recorder(project, [cj.id for cj in simulation.engine.compiled.journeys],
                            simulation.tz)
        simulation.observers.insert(0, recorder)

        def agree(last: float | None) -> float | None:
            connection.send(("last", last))
            until = connection.recv()
            if until == _ABORT:
                raise _Aborted
            return until

        stats = simulation.run(files, profiles, agree)
        if messages:
            messages.spill()
        connection.send(("done", ShardResult(recorder, messages.runs if messages else [], stats,
                                             trace.lines if trace else [], simulation.start,
                                             getattr(simulation, "until", None))))
    except _Aborted:
        pass
    except OutOfOrder:
        connection.send(("out_of_order", None))
    except InputError as exc:
        connection.send(("input_error", exc.parts()))
    except Exception:
        connection.send(("error", traceback.format_exc()))
    finally:
        connection.close()
