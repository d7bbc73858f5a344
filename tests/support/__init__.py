"""Helpers shared by the tests: import them from here (`from tests.support import run_cli`),
never from a conftest.py, which holds only fixtures (built from these helpers).

- this module: the repository's paths and the runner for the real `journeyctl` command;
- `tests.support.harness`: the real daemon (`journeyctl serve`) as a subprocess, its state file;
- `tests.support.adapters`: the fake provider, channels and messages for the adapter tests;
- `tests.support.scenarios`: small projects built on disk to run engine scenarios on.

A test that starts a process (`run_cli`, `Served`, `git`, ...) is marked `e2e`: see README.md,
Development.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
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
