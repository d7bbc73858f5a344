"""Shared fixtures: fresh projects on disk and a runner for the real `journeyctl` command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from journeyctl.scaffold import scaffold

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "journeys"


def journeyctl_command() -> list[str]:
    """The installed console script when there is one (what users run), else `-m journeyctl`."""
    script = Path(sys.executable).parent / "journeyctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "journeyctl"]


def run_cli(*args: str | Path, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [*journeyctl_command(), *map(str, args)], cwd=cwd, env=full_env, capture_output=True,
        text=True, encoding="utf-8", timeout=120,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def new_project(tmp_path: Path) -> Path:
    """A freshly scaffolded, valid project."""
    root = tmp_path / "proj"
    scaffold(root, "proj")
    return root
