"""The git commit, author and cleanliness of a project folder, when it is in a repository."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GitInfo:
    commit: str | None = None
    author: str | None = None
    dirty: bool = False


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_info(root: Path) -> GitInfo:
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return GitInfo()
    author = _git(root, "log", "-1", "--format=%an <%ae>")
    status = _git(root, "status", "--porcelain", "--", ".")
    return GitInfo(commit, author, bool(status))
