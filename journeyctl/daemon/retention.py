"""The daemon's pruning job: every few seconds, processed events and finished messages older
than the applied project's `retention` are deleted (see `journeyctl.state.prune`).

Each window of rows is its own call to the core thread, so an ingest waiting for the thread
waits for one window (500 rows, a few milliseconds), never for a whole walk. A walk longer
than `budget` seconds goes on where it stopped at the next run.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from journeyctl.daemon.core import Core
from journeyctl.daemon.core_thread import CoreThread
from journeyctl.daemon.logs import Watch
from journeyctl.daemon.metrics import Metrics
from journeyctl.state.base import PRUNED, Clock

log = logging.getLogger("journeyctl.prune")


class Pruner:
    def __init__(self, core: CoreThread, metrics: Metrics, stopping: asyncio.Event,
                 clock: Clock = time.time, budget: float = 1.0) -> None:
        self.core = core
        self.metrics = metrics
        self.stopping = stopping  # a shutdown ends a pass after its window
        self.clock = clock
        self.budget = budget
        self.watch = Watch("pruning the state", log)
        self._after = {kind: 0 for kind in PRUNED}  # where each walk goes on

    async def run(self) -> None:
        """One run (the APScheduler job; a failure is logged once, and retried next run)."""
        try:
            deleted = 0
            for kind in PRUNED:
                deleted += await self._walk(kind)
            # also when nothing was deleted: a retention shortened on an idle daemon leaves
            # free pages that are given back a slice per run
            if not self.stopping.is_set():
                await self.core.call(lambda core: core.runtime.release_space())
        except Exception as exc:
            self.watch.failed(exc)
            return
        self.watch.succeeded()

    async def _walk(self, kind: str) -> int:
        retention = getattr(self.core.core.applied.project.retention, kind)
        cutoff = self.clock() - retention.seconds
        started = time.monotonic()
        total = 0
        while time.monotonic() - started < self.budget and not self.stopping.is_set():
            after = self._after[kind]
            deleted, following = await self.core.call(functools.partial(
                _window, kind=kind, after=after, cutoff=cutoff))
            self._after[kind] = following or 0
            if deleted:
                self.metrics.pruned.labels(kind).inc(deleted)
                total += deleted
            if following is None:
                break
            await asyncio.sleep(0)  # the HTTP side runs between windows
        return total


def _window(core: Core, kind: str, after: int, cutoff: float) -> tuple[int, int | None]:
    return core.runtime.prune(kind, after, cutoff)
