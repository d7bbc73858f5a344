"""Simulation on several processes: input out of order falls back to one process whichever way
the shards end, and a worker that ends without its answer is an error that names it."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from journeyctl import model as m
from journeyctl.project import load_project
from journeyctl.sim import parallel
from journeyctl.sim.host import Options
from journeyctl.sim.run import simulate
from tests.support import EXAMPLE

EVENTS = EXAMPLE / "data/events.jsonl"
PROFILES = EXAMPLE / "data/profiles.jsonl"
REAL_SERVE = parallel._serve


@pytest.fixture(scope="module")
def project() -> m.Project:
    loaded = load_project(EXAMPLE).project
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = EVENTS.read_bytes().splitlines()
    random.Random(10).shuffle(rows)
    path = tmp_path_factory.mktemp("parallel") / "shuffled.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    return path


def run(project: m.Project, events: Path = EVENTS, workers: int = 2) -> Any:
    return parallel.run_shards(project, [events], PROFILES, Options(), workers, None, None)


def worker_doing(monkeypatch: pytest.MonkeyPatch, act: Callable[..., None],
                 shard: int = 1) -> None:
    """Worker number `shard` (from 0) does `act(connection)` instead of its work; the fork
    copies the patched module, so the workers see it."""
    def serve(connection: Any, project: m.Project, files: list[Path], profiles: Path | None,
              options: Options, *rest: Any) -> None:
        assert options.shard is not None
        if options.shard[0] == shard:
            act(connection)
        else:
            REAL_SERVE(connection, project, files, profiles, options, *rest)

    monkeypatch.setattr(parallel, "_serve", serve)


def test_out_of_order_falls_back_even_when_every_shard_has_already_ended(
        project: m.Project, shuffled: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The case behind a run that ended with exit 0 and no output: every shard had found the
    input out of order and exited before the parent wrote to them."""
    real_receive = parallel._Worker.receive

    def receive_once_ended(worker: parallel._Worker) -> tuple[str, Any]:
        worker.process.join()
        return real_receive(worker)

    monkeypatch.setattr(parallel._Worker, "receive", receive_once_ended)
    for workers in (2, 3):
        assert run(project, shuffled, workers) is None
        assert multiprocessing.active_children() == []


def test_out_of_order_input_gives_the_one_process_result(project: m.Project,
                                                         shuffled: Path) -> None:
    expected = simulate(project, [shuffled], PROFILES, workers=1)
    for _ in range(3):
        result = simulate(project, [shuffled], PROFILES, workers=2)
        assert result.stats.restarted and result.workers == 1
        assert result.report == expected.report
        assert result.messages.rows() == expected.messages.rows()
        result.messages.close()
    expected.messages.close()


def test_a_killed_worker_is_named_with_its_signal(project: m.Project,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    worker_doing(monkeypatch, lambda _: os.kill(os.getpid(), signal.SIGKILL))
    with pytest.raises(parallel.WorkerError, match=(
            r"^simulation worker 2 of 2 \(pid \d+\) was killed by signal SIGKILL before it "
            r"sent its result; SIGKILL is also how the system stops a process when memory "
            r"runs out$")):
        run(project)
    assert multiprocessing.active_children() == []


def test_a_worker_that_exits_without_its_result_is_named_with_its_code(
        project: m.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    worker_doing(monkeypatch, lambda _: os._exit(7), shard=0)
    with pytest.raises(parallel.WorkerError, match=(
            r"^simulation worker 1 of 2 \(pid \d+\) exited with code 7 before it sent its "
            r"result$")):
        run(project)
    assert multiprocessing.active_children() == []


def last_then_exit(connection: Any) -> None:
    connection.send(("last", None))
    os._exit(0)


def test_a_worker_gone_after_its_first_answer_is_an_error(project: m.Project,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Gone before the parent sends `until` (the send fails) or after (the receive does)."""
    worker_doing(monkeypatch, last_then_exit)
    message = r"^simulation worker 2 of 2 \(pid \d+\) exited with code 0 before it sent"
    with pytest.raises(parallel.WorkerError, match=message):
        run(project)
    real_send = parallel._Worker.send

    def send_once_ended(worker: parallel._Worker, value: Any) -> None:
        if worker.name == "simulation worker 2 of 2":
            worker.process.join()
        real_send(worker, value)

    monkeypatch.setattr(parallel._Worker, "send", send_once_ended)
    with pytest.raises(parallel.WorkerError, match=message):
        run(project)
    assert multiprocessing.active_children() == []


def test_a_worker_exception_is_summed_up_with_its_traceback_in_a_note(
        project: m.Project, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(_: Any) -> None:
        raise ValueError("boom")

    monkeypatch.setattr(parallel, "Simulation", lambda *a: fail(None))
    with pytest.raises(parallel.WorkerError) as caught:
        run(project)
    assert str(caught.value).endswith("failed: ValueError: boom")
    [note] = caught.value.__notes__
    assert note.startswith("the worker's traceback:\nTraceback") and "fail" in note


def test_an_interrupted_worker_exits_quietly(project: m.Project, monkeypatch: pytest.MonkeyPatch,
                                             capfd: pytest.CaptureFixture[str]) -> None:
    def interrupted(_: Any) -> None:
        raise KeyboardInterrupt

    worker_doing(monkeypatch, interrupted)
    with pytest.raises(parallel.WorkerError, match="exited with code 130 before it sent"):
        run(project)
    assert "Traceback" not in capfd.readouterr().err


def test_an_interrupted_parent_stops_the_workers_and_removes_their_files(
        project: m.Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[multiprocessing.process.BaseProcess] = []

    def interrupted_wait(connections: list[Any]) -> list[Any]:
        seen.extend(multiprocessing.active_children())
        raise KeyboardInterrupt

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(parallel, "wait", interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        simulate(project, [EVENTS], PROFILES, workers=2, keep_messages=True)
    assert len(seen) == 2 and not any(process.is_alive() for process in seen)
    assert multiprocessing.active_children() == []
    assert list(tmp_path.iterdir()) == []


ORPHAN = """
import os, sys, time
from journeyctl.sim import parallel

if sys.argv[1] == "fallback":
    parallel._killed_with_parent = lambda: False  # where the kernel cannot be asked
ready_r, ready_w = os.pipe()
parent = os.getpid()
child = os.fork()
if child == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # so that the test's read of stdout ends
    parallel._die_with(parent)
    os.write(ready_w, b"x")
    while True:
        time.sleep(1)
os.read(ready_r, 1)
print(child, flush=True)
os._exit(0)  # as if killed: nothing stops the child
"""


@pytest.mark.parametrize("how", ["kernel", "fallback"])
@pytest.mark.e2e
def test_a_worker_dies_with_its_parent(how: str) -> None:
    done = subprocess.run([sys.executable, "-c", ORPHAN, how], capture_output=True, text=True,
                          timeout=60, check=True)
    child = int(done.stdout)
    deadline = time.monotonic() + 60
    while _alive(child):
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            pytest.fail(f"the orphaned worker {child} was still running")
        time.sleep(0.005)  # polling interval, not a wait for something to happen


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
