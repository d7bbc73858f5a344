"""The fast inner loop (`pytest -m "not e2e"`) stays fast: a test that starts a process without
the e2e marker fails (tests/conftest.py), so a slow test cannot slip into it unmarked."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import run_cli
from tests.support.harness import PROJECT, Served

GUARD = "mark it e2e"


def test_an_unmarked_test_cannot_start_a_process() -> None:
    with pytest.raises(AssertionError, match=GUARD):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    with pytest.raises(AssertionError, match=GUARD):
        subprocess.Popen([sys.executable, "-c", "pass"])


def test_an_unmarked_test_cannot_run_the_cli() -> None:
    with pytest.raises(AssertionError, match="test_an_unmarked_test_cannot_run_the_cli starts"):
        run_cli("--version")


def test_an_unmarked_test_cannot_start_the_daemon(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=GUARD):
        Served(PROJECT, tmp_path / "state.db", "http://127.0.0.1:9")


def test_an_unmarked_test_cannot_start_an_asyncio_subprocess() -> None:
    async def start() -> None:
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")

    with pytest.raises(AssertionError, match=GUARD):
        asyncio.run(start())


@pytest.fixture(scope="module")
def cli_version() -> str:
    return run_cli("--version").stdout


@pytest.mark.e2e
def test_a_marked_test_runs_the_cli_and_its_fixtures_too(cli_version: str) -> None:
    assert run_cli("--version").stdout == cli_version != ""


def test_the_guard_sees_module_scoped_fixtures(pytester: pytest.Pytester) -> None:
    """A module-scoped fixture is set up before any function-scoped one: it is caught too."""
    pytester.makeconftest((Path(__file__).parent / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(test_slow="""
        import subprocess, sys
        import pytest

        @pytest.fixture(scope="module")
        def started():
            return subprocess.run([sys.executable, "-c", "pass"]).returncode

        def test_unmarked(started):
            assert started == 0
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test_unmarked starts a process*mark it e2e*"])
