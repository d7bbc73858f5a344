"""Shared fixtures: fresh projects on disk, a runner for the real `journeyctl` command, and the
guard that keeps processes out of the fast inner loop. Helpers live in tests.support."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from journeyctl.scaffold import scaffold
from tests.support import postgres, run_cli

pytest_plugins = ["pytester"]  # tests/test_e2e_guard.py runs the guard below on a test file


_START_PROCESS = subprocess.Popen._execute_child  # type: ignore[attr-defined]


class ProcessInUnitTest(AssertionError):
    """A test not marked e2e started a process."""


@contextmanager
def _processes_only_in_e2e(item: pytest.Item) -> Iterator[None]:
    """`pytest -m "not e2e"` is the fast inner loop: a test that starts a process (the CLI, the
    daemon, git, ...) without the e2e marker, in its body or in any fixture it sets up, fails
    rather than slowing the loop down unseen. Every way of starting a program through
    `subprocess` (run, Popen, asyncio's subprocesses) ends in `Popen._execute_child`."""
    if item.get_closest_marker("e2e") is not None:
        yield
        return

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        raise ProcessInUnitTest(
            f"{item.nodeid} starts a process ({args!r}): mark it e2e "
            "(`pytestmark = pytest.mark.e2e` in the module, or `@pytest.mark.e2e` on the test; "
            "see README.md, Development)")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", refuse)
        yield


# Hooks, not an autouse fixture: module- and session-scoped fixtures are set up before any
# function-scoped fixture, so only the hooks see every fixture's processes.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    with _processes_only_in_e2e(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    with _processes_only_in_e2e(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    with _processes_only_in_e2e(item):
        return (yield)


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def new_project(tmp_path: Path) -> Path:
    """A freshly scaffolded, valid project."""
    root = tmp_path / "proj"
    scaffold(root, "proj")
    return root


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster]:
    """One real PostgreSQL server for the session (tests.support.postgres). It is a service
    the tests use, like the file system, not a process a test starts: its start is let past
    the e2e guard, so the PostgreSQL store's unit tests stay in the inner loop. Without the
    binaries the tests that use it skip, except in CI (`CI` set), where they fail."""
    postgres.require()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _START_PROCESS)
        cluster = postgres.Cluster()
        cluster.start()
    yield cluster
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "_execute_child", _START_PROCESS)
        cluster.remove()


@pytest.fixture
def pg_url(pg_cluster: postgres.Cluster) -> str:
    """The URL of a fresh, empty database on the session's PostgreSQL server."""
    return pg_cluster.new_database()
