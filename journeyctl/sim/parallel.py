"""Running a simulation on several cores: users are independent (SPEC §1), so each process
takes the users of one shard (by a hash of the user id), reads the whole input, parses only
its own lines, and the counts add up. The result is identical to one process: the shards agree
on the run's `until` (the latest event of all) before their clocks run out, and input that is
not in order is left to a single process, which sorts it.

A worker that ends without its answer (killed, or gone for any other reason) is an error that
names it, never an empty result; the other workers are stopped, whatever way the run ends. A
parent killed with SIGKILL cannot stop them: each worker then dies with it (PR_SET_PDEATHSIG on
Linux, else a thread that watches the parent)."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.sim.host import Options, Simulation, Stats
from journeyctl.sim.order import OutOfOrder
from journeyctl.sim.outputs import Messages, Trace
from journeyctl.sim.readers import InputError
from journeyctl.sim.recorder import Recorder
from journeyctl.timeparse import zone


class WorkerError(RuntimeError):
    """A worker failed or ended without sending its answer: a bug or the system, not the
    input (input problems come back as InputError). `by_signal`: something outside
    journeyctl stopped it (the out-of-memory killer, an operator), so it is not reported as
    a bug."""

    by_signal = False


@dataclass
class ShardResult:
    recorder: Recorder
    runs: list[Path]  # sorted message runs, in the parent's folder
    stats: Stats
    trace: list[Any]
    start: float
    until: float | None


@dataclass
class _Worker:
    process: BaseProcess
    connection: Connection
    name: str  # "simulation worker 2 of 4"

    def receive(self) -> tuple[str, Any]:
        try:
            kind, value = self.connection.recv()
        except (EOFError, OSError):
            raise self._ended() from None
        if kind == "input_error":
            raise InputError(*value)
        if kind == "error":
            summary, detail = value
            error = WorkerError(f"{self.name} (pid {self.process.pid}) failed: {summary}")
            error.add_note(f"the worker's traceback:\n{detail}")
            raise error
        return kind, value

    def send(self, value: Any) -> None:
        try:
            self.connection.send(value)
        except OSError:
            raise self._ended() from None

    def _ended(self) -> WorkerError:
        self.process.join(timeout=10)  # its end of the pipe is closed: it is exiting
        code = self.process.exitcode
        if code is None:
            how = "closed its connection"
        elif code < 0:
            how = f"was killed by signal {_signal_name(-code)}"
        else:
            how = f"exited with code {code}"
        hint = ("; SIGKILL is also how the system stops a process when memory runs out"
                if code == -signal.SIGKILL else "")
        error = WorkerError(f"{self.name} (pid {self.process.pid}) {how} before it sent its "
                            f"result{hint}")
        error.by_signal = code is not None and code < 0
        return error

    def stop(self) -> None:
        """Ends the process: a worker that has answered is merely exiting, one that has not
        is not needed any more (the run failed or is done in one process)."""
        if self.process.is_alive():
            self.process.kill()  # first: with our end closed, it would wake up to write
        self.process.join()
        self.connection.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def run_shards(project: m.Project, files: list[Path], profiles: Path | None, options: Options,
               workers: int, trace_user: str | None, messages: Path | None
               ) -> list[ShardResult] | None:
    """The shards' results, or None when the input needs sorting (run it in one process)."""
    context = multiprocessing.get_context("fork")
    started: list[_Worker] = []
    try:
        for index in range(workers):
            _start(context, started, index, workers, (
                project, files, profiles, replace(options, shard=(index, workers)), trace_user,
                messages))
        lasts = dict(_answers(started))
        if any(kind == "out_of_order" for kind, _ in lasts.values()):
            return None  # the shards still reading are stopped below
        times = [value for _, value in lasts.values() if value is not None]
        until = max(times) if times else None
        for worker in started:
            worker.send(until)
        results = dict(_answers(started))
        return [results[worker.name][1] for worker in started]
    finally:
        for worker in started:
            worker.stop()


def _start(context: Any, started: list[_Worker], index: int, workers: int,
           args: tuple[Any, ...]) -> None:
    parent, child = context.Pipe()
    # SIGINT waits until the new process can take it quietly (Ctrl-C reaches every process of
    # the group; the parent reports it): blocked across the fork, unblocked inside _shard, and
    # here only once the worker is in `started`, to be stopped.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        inherited = [parent, *(worker.connection for worker in started)]
        process = context.Process(target=_shard, daemon=True,
                                  args=(child, mask, inherited, os.getpid(), *args))
        try:
            process.start()
        except BaseException:
            parent.close()
            raise
        started.append(_Worker(process, parent, f"simulation worker {index + 1} of {workers}"))
    finally:
        child.close()  # the worker's end: once it exits, reading ours gives EOF
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _answers(workers: list[_Worker]) -> Iterator[tuple[str, tuple[str, Any]]]:
    """One answer from each worker, as they come: the first failure or out-of-order input
    does not wait for the others."""
    # keyed by what `wait` hands back (typed as any waitable: these are all connections)
    pending: dict[object, _Worker] = {worker.connection: worker for worker in workers}
    while pending:
        for connection in wait([worker.connection for worker in pending.values()]):
            worker = pending.pop(connection)
            answer = worker.receive()
            yield worker.name, answer
            if answer[0] == "out_of_order":
                return


def _shard(connection: Connection, mask: set[signal.Signals], inherited: list[Connection],
           parent: int, *args: Any) -> None:
    _die_with(parent)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        # The parent's ends, copied by the fork: closed, so that ours reads EOF (and the
        # worker ends) as soon as the parent is gone.
        for end in inherited:
            end.close()
        _serve(connection, *args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None  # no traceback: the parent says "interrupted"


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_INTERVAL = 1.0  # seconds between two looks at the parent, where the kernel cannot help


def _die_with(parent: int) -> None:
    """A worker must not outlive its parent: one killed with SIGKILL leaves the workers reading
    on, for nobody. The kernel kills the worker when the parent dies (Linux), or a thread
    watches for the parent to go; a parent that died before either was set up is seen here."""
    if not _killed_with_parent():
        threading.Thread(target=_watch, args=(parent,), daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _killed_with_parent() -> bool:
    """Ask the kernel for SIGKILL when the parent dies; False where it cannot be asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL)
    os._exit(1)  # adopted by another process: the parent is gone


def _serve(connection: Connection, project: m.Project, files: list[Path],
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
            return connection.recv()

        stats = simulation.run(files, profiles, agree)
        if messages:
            messages.spill()
        connection.send(("done", ShardResult(recorder, messages.runs if messages else [], stats,
                                             trace.lines if trace else [], simulation.start,
                                             getattr(simulation, "until", None))))
    except OutOfOrder:
        _tell(connection, ("out_of_order", None))
    except InputError as exc:
        _tell(connection, ("input_error", exc.parts()))
    except Exception as exc:
        _tell(connection, ("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
    finally:
        connection.close()


def _tell(connection: Connection, message: tuple[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the parent has gone: there is nobody to tell
        connection.send(message)
