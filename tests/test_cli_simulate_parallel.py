"""End-to-end: `journeyctl simulate --workers 2` never ends silently — unsorted input gives the
one-process result, a worker that dies is an internal error that names it, and Ctrl-C is one
line, exit 130, with nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import EXAMPLE, REPO, journeyctl_command, run_cli

pytestmark = pytest.mark.e2e  # every test here starts a process

DEADLINE = 120.0  # seconds: generous, the machine is shared


def generate(folder: Path, events: int, users: int) -> tuple[Path, Path]:
    """bench/gen_events.py's data (sorted by time) for the example project."""
    subprocess.run([sys.executable, REPO / "bench/gen_events.py", "--events", str(events),
                    "--users", str(users), "--seed", "3", "--out", folder], check=True,
                   capture_output=True, timeout=DEADLINE)
    return folder / "events.jsonl", folder / "profiles.jsonl"


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The issue's repro, smaller: a few thousand events in random order, and profiles."""
    events, profiles = generate(tmp_path_factory.mktemp("small"), 4000, 600)
    rows = events.read_bytes().splitlines()
    random.Random(10).shuffle(rows)
    events.write_bytes(b"\n".join(rows) + b"\n")
    return events, profiles


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Sorted, so the workers run to the end: long enough to be caught running."""
    return generate(tmp_path_factory.mktemp("large"), 100_000, 10_000)


def test_unsorted_input_on_two_workers_is_the_one_process_result(
        shuffled: tuple[Path, Path], tmp_path: Path) -> None:
    events, profiles = shuffled

    def simulate(workers: str, report: Path) -> dict:
        result = run_cli("simulate", EXAMPLE, "--events", events, "--profiles", profiles,
                         "--report", report, "--json", "--strict", "--workers", workers)
        assert result.returncode == 0, result.stderr
        assert report.stat().st_size > 0
        return json.loads(result.stdout)

    expected = simulate("1", tmp_path / "one.html")
    assert expected["events"]["read"] == 4000
    for run in range(10):
        assert simulate("2", tmp_path / f"two-{run}.html") == expected, run


@contextlib.contextmanager
def started(*args: str | Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`journeyctl` in a process group of its own, as a terminal runs a command; the group is
    killed if the test fails while journeyctl runs."""
    process = subprocess.Popen([*journeyctl_command(), *map(str, args)], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "NO_COLOR": "1", **env},
                               start_new_session=True)
    with process:
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert process.poll() is None, f"journeyctl ended before {what}: {process.stderr.read()}"
        assert time.monotonic() < deadline, f"no {what} after {DEADLINE} s"
        time.sleep(0.005)  # polling interval, not a wait for something to happen


def workers_of(pid: int) -> list[int]:
    """The live processes forked by `pid` (same command line), from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, parent = (entry / "stat").read_text().rpartition(")")[2].split()[:2]
            same = (entry / "cmdline").read_bytes() == Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):  # ended meanwhile
            continue
        if int(parent) == pid and state != "Z" and same:
            found.append(int(entry.name))
    return sorted(found)


def running_workers(process: subprocess.Popen[str]) -> list[int]:
    pids: list[int] = []

    def two() -> bool:
        pids[:] = workers_of(process.pid)
        return len(pids) == 2

    wait_for(two, process, "two workers")
    return pids


def reading(pid: int, path: Path) -> bool:
    """Whether process `pid` has `path` open."""
    try:
        return any(os.readlink(fd) == str(path.resolve())
                   for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_a_killed_worker_is_an_internal_error_naming_it(large: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    events, profiles = large
    with started("simulate", EXAMPLE, "--events", events, "--profiles", profiles, "--json",
                 "--workers", "2", env={"JOURNEYCTL_LOG_DIR": str(tmp_path)}) as process:
        victim = running_workers(process)[1]
        os.kill(victim, signal.SIGKILL)
        out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 3, err
    assert out == ""
    [line] = err.splitlines()
    assert f"(pid {victim}) was killed by signal SIGKILL before it sent its result" in line
    assert line.startswith("journeyctl: stopped: simulation worker ")
    assert "bug" not in line and "Nothing was written" in line
    [log] = tmp_path.glob("journeyctl-crash-*.log")
    assert line.endswith(f"the details are in {log}")
    assert f"(pid {victim}) was killed by signal SIGKILL" in log.read_text()


def test_the_workers_die_with_a_parent_killed_with_sigkill(large: tuple[Path, Path]) -> None:
    """`kill -9` of journeyctl leaves no worker behind. The workers are stopped (SIGSTOP) first,
    so that one left alive would stay: none may be reading on, or ending, by itself."""
    events, profiles = large
    with started("simulate", EXAMPLE, "--events", events, "--profiles", profiles, "--json",
                 "--workers", "2", env={}) as process:
        pids = running_workers(process)
        # Stopped before it asked the kernel to kill it with its parent (its first act, before
        # it opens the events), a worker would stay stopped for good: a race of the test's
        # own making (one running on sees its parent gone at once). Stop them once reading.
        wait_for(lambda: all(reading(pid, events) for pid in pids), process,
                 "the workers reading the events")
        try:
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            process.kill()  # kill -9: no chance to stop its workers
            process.wait(timeout=DEADLINE)
            deadline = time.monotonic() + DEADLINE
            while not all(gone(pid) for pid in pids):
                assert time.monotonic() < deadline, f"workers left running: {pids}"
                time.sleep(0.005)  # polling interval, not a wait for something to happen
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def test_ctrl_c_is_one_line_and_exit_130_with_nothing_left(large: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    events, profiles = large
    temp = tmp_path / "tmp"
    temp.mkdir()
    messages = tmp_path / "messages.jsonl"
    with started("simulate", EXAMPLE, "--events", events, "--profiles", profiles,
                 "--messages", messages, "--workers", "2", env={"TMPDIR": str(temp)}) as process:
        pids = running_workers(process)
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        out, err = process.communicate(timeout=DEADLINE)
    assert process.returncode == 130, err
    assert err == "journeyctl: interrupted\n"
    assert "Traceback" not in out
    assert all(gone(pid) for pid in pids)
    assert list(temp.iterdir()) == [] and not messages.exists()
