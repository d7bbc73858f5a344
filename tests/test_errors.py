"""The CLI's error boundary: a broken pipe is quiet only when it is stdout's reader that left, and
then journeyctl exits 141 (128 + SIGPIPE) as a tool killed by SIGPIPE does."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from journeyctl.boundary import EXIT_INTERNAL, EXIT_READER_LEFT, run_guarded
from journeyctl.scaffold import scaffold
from tests.support import EXAMPLE, journeyctl_command


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
    assert run_guarded(print_a_graph) == EXIT_READER_LEFT == 141
    assert capsys.readouterr().err == "" and list(tmp_path.iterdir()) == []


@pytest.mark.e2e
def test_the_real_cli_is_quiet_when_the_reader_of_its_output_left(tmp_path: Path) -> None:
    """`journeyctl graph onboarding | head -0`, without a shell."""
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as stdout:
        result = subprocess.run([*journeyctl_command(), "graph", "onboarding"], cwd=EXAMPLE,
                                stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120,
                                env={**os.environ, "JOURNEYCTL_LOG_DIR": str(tmp_path)})
    assert (result.returncode, result.stderr) == (141, "")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def many_errors(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose errors fill far more than a pipe holds (64 KiB on Linux), so that the
    reader leaves while journeyctl is still writing."""
    root = tmp_path_factory.mktemp("pipe") / "shop"
    scaffold(root, "shop")
    journey = root / "journeys" / "welcome.yaml"
    steps = "".join(f"  - id: extra_{i}\n    bogus: {i}\n" for i in range(1500))
    journey.write_text(journey.read_text(encoding="utf-8") + steps, encoding="utf-8")
    return root


@pytest.mark.parametrize("output_format", ["text", "json", "github"])  # rich, then print()
@pytest.mark.e2e
def test_a_truncated_output_fails_a_pipefail_pipeline_quietly(
        many_errors: Path, output_format: str, tmp_path: Path) -> None:
    """`journeyctl validate . -f json | head -1` in CI: the pipeline fails as it would for any
    tool whose output was cut (SIGPIPE: 141), with nothing on stderr and no crash log."""
    command = f"set -o pipefail; {shlex.join(journeyctl_command())} validate shop " \
              f"--format {output_format} | head -1"
    result = subprocess.run(["bash", "-c", command], cwd=many_errors.parent, capture_output=True,
                            text=True, timeout=120,
                            env={**os.environ, "JOURNEYCTL_LOG_DIR": str(tmp_path)})
    assert (result.returncode, result.stderr) == (141, "")
    assert result.stdout.count("\n") == 1
    assert list(tmp_path.iterdir()) == []
