"""The simulator host: a virtual clock, timers, in-memory state, and the engine.

Users are independent, so each user keeps a clock of their own: before one of their events is
processed, their timers (and `schedule` ticks) due before it fire, in (due, set time, order)
order; at the end every user runs on to `until`. That gives exactly the results of one global
clock — an event at time t is processed before timers due at t, timers due together fire in
the order they were set — while streaming input grouped by user as well as input sorted by
time, and it lets a run be split across processes by user.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from journeyctl import model as m
from journeyctl.cron import next_tick
from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event, Tick, TimerFired
from journeyctl.engine.interpreter import Engine, new_state
from journeyctl.engine.state import UserState
from journeyctl.sim.order import OutOfOrder, checked, order_key, sorted_records
from journeyctl.sim.readers import Record, Reject, TimeParser, read_events, read_profiles
from journeyctl.timeparse import zone

_INF = float("inf")


@dataclass
class Options:
    start: float | None = None  # events before it are skipped; ticks start there
    until: float | None = None  # default: the last event's time
    journeys: set[str] | None = None  # run only these
    shard: tuple[int, int] | None = None  # (index, count): only users of this shard


class Observer:
    """What a run reports to: the recorder, a trace, the messages file, a progress bar."""

    def event(self, record: Record) -> None: ...

    def effect(self, effect: Any) -> None: ...

    def reject(self, reject: Reject) -> None: ...

    def duplicate(self, record: Record) -> None: ...


@dataclass
class _Clock:
    """One user's pending timers and schedule ticks."""

    state: UserState
    timers: list[tuple[float, float, int, str, int]] = field(default_factory=list)
    seq: int = 0
    ticks: dict[str, int] = field(default_factory=dict)  # schedule journey -> next tick index


@dataclass
class Stats:
    read: int = 0
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0  # before --start or after --until
    first: float | None = None
    last: float | None = None
    users: set[str] = field(default_factory=set)
    restarted: bool = False  # the input was not in order and was sorted on disk


class Simulation:
    """One run. `run()` feeds every record and timer to the engine and the observers."""

    def __init__(self, project: m.Project, observers: list[Observer], options: Options) -> None:
        self.project = project
        self.options = options
        self.observers = observers
        self.engine = Engine(project, options.journeys)
        self.tz = zone(project.timezone) or zone("UTC")
        self.parse_time = TimeParser(self.tz)  # type: ignore[arg-type]
        self._reset()

    def _reset(self) -> None:
        self.stats = Stats()
        self.clocks: dict[str, _Clock] = {}
        self.seen_ids: set[int] = set()
        self.profiles: dict[str, dict[str, Any]] = {}
        self.start: float = self.options.start if self.options.start is not None else _INF
        self._tick_times: dict[str, list[float]] = {}

    # --- input ----------------------------------------------------------------------------

    def load_profiles(self, path: Path) -> dict[str, dict[str, Any]]:
        profiles, rejects = read_profiles(path, self.project.catalog, self.parse_time)
        for reject in rejects:
            self._notify("reject", reject)
        return profiles

    def _mine(self, user_id: str) -> bool:
        shard = self.options.shard
        return shard is None or _shard_of(user_id, shard[1]) == shard[0]

    def records(self, files: list[Path]) -> Iterator[Record | Reject]:
        for index, path in enumerate(files):
            yield from read_events(path, index, self.project.catalog, self.parse_time)

    def run(self, files: list[Path], profiles: Path | None = None) -> Stats:
        """Simulate; input out of order is sorted on disk and the run starts again."""
        provisional = self.options.start
        if provisional is None and self.engine.compiled.schedules:
            provisional = _first_time(self.records(files))
        users = self.load_profiles(profiles) if profiles is not None else {}
        try:
            self._run(checked(self.records(files), provisional), users, provisional)
        except OutOfOrder:
            for observer in self.observers:
                reset = getattr(observer, "reset", None)
                if reset:
                    reset()
            self._reset()
            rejects: list[Reject] = []
            ordered = sorted_records(self.records(files), rejects.append)
            self._run(_with_rejects(ordered, rejects), users, None)
            self.stats.restarted = True
        return self.stats

    def run_records(self, records: list[Record], profiles: dict[str, dict[str, Any]],
                    start: float | None = None) -> Stats:
        """Simulate records already in memory (journey tests, the conformance suite)."""
        ordered = sorted(records, key=order_key)
        first = ordered[0].time if ordered else None
        self._run(ordered, profiles, start if start is not None else first)
        return self.stats

    def _run(self, items: Iterable[Record | Reject], profiles: dict[str, dict[str, Any]],
             start: float | None) -> None:
        if start is not None:
            self.start = start
        self.profiles = {u: p for u, p in profiles.items() if self._mine(u)}
        for item in items:
            if isinstance(item, Reject):
                self.stats.read += 1
                self.stats.rejected += 1
                self._notify("reject", item)
            else:
                self._record(item)
        self._finish()

    def _record(self, record: Record) -> None:
        stats = self.stats
        stats.read += 1
        if self.start == _INF:
            self.start = record.time  # in-order input: the first event starts the clock
        options = self.options
        if (options.start is not None and record.time < options.start) or (
                options.until is not None and record.time > options.until):
            stats.skipped += 1
            return
        if not self._mine(record.user_id):
            return
        if record.event_id is not None:
            key = hash((record.user_id, record.event_id))
            if key in self.seen_ids:
                stats.duplicates += 1
                self._notify("duplicate", record)
                return
            self.seen_ids.add(key)
        stats.users.add(record.user_id)
        stats.first = record.time if stats.first is None else min(stats.first, record.time)
        stats.last = record.time if stats.last is None else max(stats.last, record.time)
        clock = self._clock(record.user_id, record.time)
        self._advance(clock, record.time, inclusive=False)
        self._notify("event", record)
        event = Event(record.user_id, record.name, record.time, record.properties,
                      record.event_id)
        self._apply(clock, event, record.time)

    # --- clocks ----------------------------------------------------------------------------

    def _clock(self, user_id: str, now: float) -> _Clock:
        clock = self.clocks.get(user_id)
        if clock is None:
            state = new_state(user_id, self.profiles.get(user_id))
            clock = self.clocks[user_id] = _Clock(state)
            known = self.start if user_id in self.profiles else now
            for cj in self.engine.compiled.schedules:
                clock.ticks[cj.id] = self._first_tick_index(cj.id, known)
        return clock

    def _apply(self, clock: _Clock, event: Any, now: float) -> None:
        _, effects = self.engine.step(clock.state, event, now)
        for effect in effects:
            if isinstance(effect, fx.SetTimer):
                clock.seq += 1
                heapq.heappush(clock.timers, (effect.due, now, clock.seq, effect.key,
                                              effect.token))
            elif not isinstance(effect, fx.CancelTimer):  # stale timers are ignored on firing
                self._notify("effect", effect)

    def _advance(self, clock: _Clock, until: float, inclusive: bool) -> None:
        """Fire the user's timers and ticks due before `until` (or at it, when inclusive)."""
        while True:
            timer = clock.timers[0] if clock.timers else None
            tick = self._next_tick(clock)
            timer_key = timer[:3] if timer else (_INF, _INF, 0)
            tick_key = (tick[1], tick[2], 0) if tick else (_INF, _INF, 0)
            due = min(timer_key, tick_key)[0]
            if due == _INF or due > until or (due == until and not inclusive):
                return
            if tick_key < timer_key:
                assert tick is not None
                clock.ticks[tick[0]] += 1
                self._apply(clock, Tick(clock.state.user_id, tick[0]), tick[1])
            else:
                assert timer is not None
                heapq.heappop(clock.timers)
                self._apply(clock, TimerFired(clock.state.user_id, timer[3], timer[4]),
                            timer[0])

    # --- schedule ticks --------------------------------------------------------------------

    def _ticks(self, journey_id: str) -> list[float]:
        return self._tick_times.setdefault(journey_id, [])

    def _tick_at(self, journey_id: str, index: int) -> float:
        """The index-th tick at or after the run's start (computed as far as needed)."""
        times = self._ticks(journey_id)
        trigger = self.engine.compiled.by_id[journey_id].journey.trigger
        assert isinstance(trigger, m.ScheduleTrigger)
        while len(times) <= index:
            after = times[-1] if times else self.start - 1e-3
            found = next_tick(trigger.cron, self.project.timezone, _dt(after))
            times.append(found.timestamp() if found else _INF)
        return times[index]

    def _first_tick_index(self, journey_id: str, known: float) -> int:
        index = 0
        while self._tick_at(journey_id, index) < known:
            index += 1
        return index

    def _next_tick(self, clock: _Clock) -> tuple[str, float, float] | None:
        """(journey, due, set time) of the user's next tick: a tick counts as set when the one
        before it fired (the first at the start)."""
        best = None
        for journey_id, index in clock.ticks.items():
            due = self._tick_at(journey_id, index)
            set_at = self._tick_at(journey_id, index - 1) if index else self.start
            if best is None or (due, set_at) < (best[1], best[2]):
                best = (journey_id, due, set_at)
        return best

    def _finish(self) -> None:
        until = self.options.until
        if until is None:
            until = self.stats.last if self.stats.last is not None else self.start
        self.until = until
        if until is None or until == _INF:
            return
        for user_id in self.profiles:
            if user_id not in self.clocks and self.engine.compiled.schedules:
                self._clock(user_id, self.start)
        for clock in self.clocks.values():
            self._advance(clock, until, inclusive=True)

    def _notify(self, kind: str, value: Any) -> None:
        for observer in self.observers:
            getattr(observer, kind)(value)

    def states(self) -> Iterator[UserState]:
        return (clock.state for clock in self.clocks.values())


def _shard_of(user_id: str, count: int) -> int:
    import zlib

    return zlib.crc32(user_id.encode()) % count


def _dt(t: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC)


def _first_time(items: Iterator[Record | Reject]) -> float | None:
    """The first record's time: the provisional start of a run with schedule triggers."""
    with closing(items):  # type: ignore[type-var]
        for item in items:
            if isinstance(item, Record):
                return item.time
    return None


def _with_rejects(records: Iterator[Record], rejects: list[Reject]
                  ) -> Iterator[Record | Reject]:
    """Sorted records, with the rejects met while sorting reported first."""
    first = next(records, None)  # sorting reads (and so rejects) everything before the first
    yield from rejects
    if first is not None:
        yield first
        yield from records


Progress = Callable[[int], None]
