"""A recorder's counts as flat rows, and back: how the daemon persists what the simulator's
recorder counts (the same `Recorder`, fed the same effects) and how `journeyctl report` adds
the rows up again into a recorder that writes the report.

A row is a path and a number: the path walks the recorder's counting attributes
(`Recorder.COUNTERS`) down to one number, through dataclass fields (by name) and mapping keys (a
string, or a tuple of strings: a Counter of edges, a table of variants). Counts add up, so rows
of many batches, hours and daemons add up to the counts of one run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

from journeyctl.sim.recorder import Recorder

Path = tuple[Any, ...]
# a path the daemon adds for its own numbers (not the recorder's): events the engine ran,
# users first seen (`journeyctl.live.LiveStats`)
STATS = "#stats"


def flatten(recorder: Recorder) -> Iterator[tuple[str, int | float]]:
    """Every count, as (path as JSON, number): a mapping's entries even at zero (that a key
    is there shows in the report: a channel that cost 0.0), a dataclass field's if not."""
    for name in Recorder.COUNTERS:
        for path, value in _walk((name,), getattr(recorder, name)):
            yield json.dumps(path, ensure_ascii=False, separators=(",", ":")), value


def _walk(path: Path, value: Any, keep_zero: bool = False
          ) -> Iterator[tuple[Path, int | float]]:
    if isinstance(value, bool):  # (a bool is an int: none is a count)
        return
    if isinstance(value, int | float):
        if value or keep_zero:
            yield path, value
    elif dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            yield from _walk((*path, f.name), getattr(value, f.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk((*path, list(key) if isinstance(key, tuple) else key), item,
                             keep_zero=True)


def add(recorder: Recorder, path_json: str, value: int | float) -> bool:
    """Add one row's number into the recorder; False when its path leads nowhere in it (a
    journey the project no longer has, a count an older journeyctl kept)."""
    path = json.loads(path_json)
    if not path or path[0] not in Recorder.COUNTERS:
        return False
    if len(path) < 2:
        return False
    holder: Any = getattr(recorder, path[0])
    for step in path[1:-1]:
        holder = _child(holder, _key(step))
        if holder is None:
            return False
    return _add_leaf(holder, _key(path[-1]), value)


def _key(step: Any) -> Any:
    return tuple(step) if isinstance(step, list) else step


def _child(holder: Any, key: Any) -> Any:
    if isinstance(holder, dict):
        if key in holder or hasattr(holder, "default_factory") or hasattr(holder, "most_common"):
            return holder[key]  # (a defaultdict makes the missing one)
        return None
    if dataclasses.is_dataclass(holder) and isinstance(key, str) and hasattr(holder, key):
        return getattr(holder, key)
    return None


def _add_leaf(holder: Any, key: Any, value: int | float) -> bool:
    if isinstance(holder, dict):
        if not (key in holder or hasattr(holder, "most_common")
                or hasattr(holder, "default_factory")):
            return False
        holder[key] = holder.get(key, 0) + value
        return True
    if dataclasses.is_dataclass(holder) and isinstance(key, str) and \
            isinstance(getattr(holder, key, None), int | float):
        setattr(holder, key, getattr(holder, key) + value)
        return True
    return False
