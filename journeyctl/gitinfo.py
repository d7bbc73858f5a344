"""The git commit and author of a project folder, and whether the files it was made from differ
from that commit, when it is in a repository."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
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


def git_info(root: Path, files: Iterable[Path] = (),
             folders: Iterable[tuple[Path, str]] = ()) -> GitInfo:
    """The commit checked out at `root` and its author. `dirty`: one of `files` (what was read)
    is not as committed — modified, staged, untracked or ignored — or a committed file that
    would have been read, of a (folder, suffix) of `folders`, is deleted. In a repository with
    no commit yet, everything is uncommitted."""
    if _git(root, "rev-parse", "--is-inside-work-tree") != "true":
        return GitInfo()
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if commit is None:
        return GitInfo(dirty=True)
    author = _git(root, "log", "-1", "--format=%an <%ae>")
    return GitInfo(commit, author, _changed(root, files) or _deleted(root, folders))


def _relative(path: Path, root: Path) -> str:
    """`path` as a pathspec: relative to `root`, where git runs (the folders above it may hold
    characters a pathspec would read as wildcards)."""
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def _changed(root: Path, files: Iterable[Path]) -> bool:
    specs = [f":(literal){_relative(path, root)}" for path in files]
    if not specs:
        return False
    status = _git(root, "status", "--porcelain", "--untracked-files=all", "--ignored", "--",
                  *specs)
    return bool(status)


def _deleted(root: Path, folders: Iterable[tuple[Path, str]]) -> bool:
    specs = [f":(glob){_escaped(_relative(folder, root))}/**/*{_escaped(suffix)}"
             for folder, suffix in folders]
    if not specs:
        return False
    gone = _git(root, "diff", "--name-only", "--no-renames", "--diff-filter=D", "HEAD", "--",
                *specs)
    return bool(gone)


def _escaped(text: str) -> str:
    """Literal text inside a glob pathspec: its wildcard characters escaped."""
    return re.sub(r"([*?\[\\])", r"\\\1", text)
