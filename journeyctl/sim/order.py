"""Putting input in (timestamp, file, position) order with bounded memory (SPEC §3).

Users are independent (SPEC §1), so what the simulator needs is each user's events in time
order, not the whole file: a time-sorted file and a file grouped by user (each group in time
order) both stream as they are. The simulator checks that as it goes; the first event that
breaks it stops the run (`OutOfOrder`), and the run starts again over `sorted_records`, which
sorts in chunks spilled to temporary files and merges them.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from journeyctl.records import Record
from journeyctl.sim.readers import Reject

CHUNK = 200_000  # records per sorted run written to disk


class OutOfOrder(Exception):
    def __init__(self, record: Record) -> None:
        super().__init__(f"{record.user_id} at {record.time}")
        self.record = record


def order_key(record: Record) -> tuple[float, int, int]:
    return (record.time, record.file, record.line)


def sorted_records(items: Iterable[Record | Reject], on_reject: Callable[[Reject], None],
                   folder: Path | None = None) -> Iterator[Record]:
    """All records in (time, file, line) order; rejects go to `on_reject` as they are read."""
    with tempfile.TemporaryDirectory(prefix="journeyctl-sort-", dir=folder) as tmp:
        runs: list[Path] = []
        chunk: list[Record] = []
        for item in items:
            if isinstance(item, Reject):
                on_reject(item)
                continue
            chunk.append(item)
            if len(chunk) >= CHUNK:
                runs.append(_spill(chunk, Path(tmp), len(runs)))
                chunk = []
        chunk.sort(key=order_key)
        if not runs:
            yield from chunk
            return
        runs.append(_spill(chunk, Path(tmp), len(runs)))
        handles = [path.open("rb") for path in runs]
        try:
            yield from heapq.merge(*(_load(h) for h in handles), key=order_key)
        finally:
            for handle in handles:
                handle.close()


def _spill(chunk: list[Record], folder: Path, index: int) -> Path:
    chunk.sort(key=order_key)
    path = folder / f"run-{index:05d}.pickle"
    with path.open("wb") as handle:
        pickler = pickle.Pickler(handle, protocol=pickle.HIGHEST_PROTOCOL)
        for record in chunk:
            pickler.dump(record)
            pickler.clear_memo()
    return path


def _load(handle: IO[bytes]) -> Iterator[Record]:
    unpickler = pickle.Unpickler(handle)
    while True:
        try:
            yield unpickler.load()
        except EOFError:
            return
