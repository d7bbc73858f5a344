"""What hints are made of, made one way: command lines that paste into a shell as they are, and
the close name a typo most likely meant."""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Callable, Iterable
from pathlib import Path

# How alike (difflib's ratio) a name must be to a mistyped one to be offered in its place:
# journeyz -> journeys (0.88) is offered, proj -> project (0.73) is not.
CLOSE = 0.75


def shell(*words: str | Path) -> str:
    """A command line to paste into a shell: every word quoted where it must be."""
    return shlex.join(map(str, words))


def command(*words: str | Path) -> str:
    """`journeyctl WORDS...`, quoted as `shell` does."""
    return shell("journeyctl", *words)


def close_names(name: str, names: Iterable[str]) -> list[str]:
    """The names close to `name`, the closest first."""
    known = list(names)
    return difflib.get_close_matches(name, known, n=max(len(known), 1), cutoff=CLOSE)


def close_path(path: Path, usable: Callable[[Path], bool]) -> Path | None:
    """The `usable` path beside `path` (which names nothing) whose name is closest to its."""
    try:
        names = sorted(os.listdir(path.parent))
    except OSError:
        return None
    return next((path.parent / name for name in close_names(path.name, names)
                 if usable(path.parent / name)), None)
