"""The CLI's error boundary: a broken pipe is quiet only when it is stdout's reader that left."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from conftest import EXAMPLE, journeyctl_command

from journeyctl.errors import EXIT_INTERNAL, EXIT_OK, run_guarded


@pytest.fixture
def stdout_pipe() -> Iterator[tuple[list[int], IO[str]]]:
    """A pipe to stand for stdout: ([its reading end, while open], the writing end)."""
    read, write = os.pipe()
    reader = [read]
    with os.fdopen(write, "w") as stdout:
        yield reader, stdout
        for end in reader:
            os.close(end)


def write_to_a_pipe_nobody_reads() -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        os.write(write, b"x")
    finally:
        os.close(write)


def test_a_broken_pipe_that_is_not_stdout_is_an_internal_error(
        stdout_pipe: tuple[list[int], IO[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("JOURNEYCTL_LOG_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdout", stdout_pipe[1])  # here: capsys sets its own before a test
    assert run_guarded(write_to_a_pipe_nobody_reads) == EXIT_INTERNAL
    [log] = tmp_path.glob("journeyctl-crash-*.log")
    assert "BrokenPipeError" in log.read_text()
    err = capsys.readouterr().err
    assert err.startswith("journeyctl: internal error (BrokenPipeError: [Errno 32] Broken pipe)")


def test_stdout_whose_reader_left_is_quiet(stdout_pipe: tuple[list[int], IO[str]], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    reader, stdout = stdout_pipe
    os.close(reader.pop())

    def print_a_graph() -> None:
        print("flowchart", file=stdout, flush=True)

    monkeypatch.setenv("JOURNEYCTL_LOG_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdout", stdout)
    assert run_guarded(print_a_graph) == EXIT_OK
    assert capsys.readouterr().err == "" and list(tmp_path.iterdir()) == []


def test_the_real_cli_is_quiet_when_the_reader_of_its_output_left(tmp_path: Path) -> None:
    """`journeyctl graph onboarding | head -0`, without a shell."""
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as stdout:
        result = subprocess.run([*journeyctl_command(), "graph", "onboarding"], cwd=EXAMPLE,
                                stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120,
                                env={**os.environ, "JOURNEYCTL_LOG_DIR": str(tmp_path)})
    assert (result.returncode, result.stderr) == (0, "")
    assert list(tmp_path.iterdir()) == []
