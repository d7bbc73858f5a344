"""The simulator host: a virtual clock, timers, in-memory state, and the engine.

Users are independent, so each user keeps a clock of their own: before one of their events is
processed, their timers (and `schedule` ticks) due before it fire, in (due, set time, order)
order; at the end every user runs on to `until`. That gives exactly the results of one global
clock — an event at time t is processed before timers due at t, timers due together fire in
the order they were set — while streaming input grouped by user as well as input sorted by
time, and it lets a run be split across processes by user.
"""

from __future__ import annotations

import gc
import heapq
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from journeyctl import model as m
from journeyctl.cron import next_tick
from journeyctl.engine import effects as fx
from journeyctl.engine.inputs import Event, Tick, TimerFired
from journeyctl.engine.interpreter import Engine
from journeyctl.engine.state import UserState, new_state
from journeyctl.records import Record, TimeParser, Undeclared
from journeyctl.sim.idset import IdSet
from journeyctl.sim.order import OutOfOrder, order_key, sorted_records
from journeyctl.sim.readers import Reject, owns, read_events, read_profiles

_INF = float("inf")


@dataclass
class Options:
    start: float | None = None  # events before it are skipped; ticks start there
    until: float | None = None  # default: the last event's time
    journeys: set[str] | None = None  # run only these
    shard: tuple[int, int] | None = None  # (index, count): only users of this shard
    # What the daemon passes the engine for applied journeys (`state.applied`): their version
    # numbers, and the older versions some instances are on. None and (): the files' (v1).
    versions: dict[str, int] | None = None
    older: tuple[tuple[m.Journey, int], ...] = ()
    suppressed: frozenset[str] = frozenset()  # the global suppression list (`--suppressions`)


class Observer(Protocol):
    """What a run reports to: the recorder, a trace, the messages file, a progress bar. Each
    has `effect(effect)`; `event(record)`, `reject(reject)`, `duplicate(record)`,
    `undeclared(counts)` (the profile lines with attributes the catalog does not declare) and
    `reset()` (the run starts again over sorted input) are optional."""

    def effect(self, effect: Any) -> None: ...


TICK = "#tick"  # timer keys ending so are schedule ticks: "<journey>#tick", token = tick index


@dataclass(slots=True)
class _Clock:
    """One user's pending timers and schedule ticks, in one heap of
    (due, set at, order, key, token); and where their last event was, to check the order."""

    state: UserState
    timers: list[tuple[float, float, int, str, int]] = field(default_factory=list)
    seq: int = 0
    last: tuple[float, int, int] = (-_INF, 0, 0)

    def push(self, due: float, set_at: float, key: str, token: int) -> None:
        self.seq += 1
        heapq.heappush(self.timers, (due, set_at, self.seq, key, token))


@dataclass
class Stats:
    read: int = 0  # event records; `rejected` and `duplicates` are parts of it (SPEC §8)
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0  # before --start or after --until
    first: float | None = None
    last: float | None = None
    users: set[str] = field(default_factory=set)
    restarted: bool = False  # the input was not in order and was sorted on disk
    profiles_read: int = 0  # profile records, counted apart from events
    profiles_rejected: int = 0  # a part of profiles_read

    def add(self, other: Stats) -> None:
        """Add another shard's counts (its users are other users)."""
        self.read += other.read
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.profiles_read += other.profiles_read
        self.profiles_rejected += other.profiles_rejected
        self.users |= other.users
        self.first = min(filter(None, (self.first, other.first)), default=None)
        self.last = max(filter(None, (self.last, other.last)), default=None)

    @property
    def user_count(self) -> int:
        return len(self.users)

    @property
    def all_rejected(self) -> int:
        """Event and profile records rejected: what `--strict` fails on, with duplicates."""
        return self.rejected + self.profiles_rejected


class Simulation:
    """One run. `run()` feeds every record and timer to the engine and the observers."""

    def __init__(self, project: m.Project, observers: list[Observer], options: Options) -> None:
        self.project = project
        self.options = options
        self.observers = observers
        self._effect_handlers: list[Any] = []
        self.engine = Engine(project, options.journeys, options.versions, options.older)
        self.tz = self.engine.compiled.tz
        self.parse_time = TimeParser(self.tz)
        self._profile_rejects: list[Reject] = []  # reported (again) at the start of each pass
        self._profiles_read = 0  # likewise
        self._undeclared = Undeclared()  # likewise
        self._reset()

    def _reset(self) -> None:
        self.stats = Stats()
        self.clocks: dict[str, _Clock] = {}
        self.seen_ids = IdSet()
        self.profiles: dict[str, dict[str, Any]] = {}
        self.start: float = self.options.start if self.options.start is not None else _INF
        self._not_before: float | None = None  # records before it mean the input is unsorted
        self._tick_times: dict[str, list[float]] = {}

    # --- input ----------------------------------------------------------------------------

    def load_profiles(self, path: Path) -> dict[str, dict[str, Any]]:
        """This shard's profiles; the lines rejected, and those with attributes the catalog
        does not declare, are counted and reported by the run."""
        read = read_profiles(path, self.project.catalog, self.parse_time, self.options.shard)
        self._profile_rejects, self._undeclared = read.rejects, read.undeclared
        self._profiles_read = read.read
        return read.profiles

    def records(self, files: list[Path]) -> Iterator[Record | Reject]:
        """The records of this shard's users (the readers skip the others)."""
        for index, path in enumerate(files):
            yield from read_events(path, index, self.project.catalog, self.parse_time,
                                   self.options.shard)

    def run(self, files: list[Path], profiles: Path | None = None,
            agree: Agree | None = None) -> Stats:
        """Simulate; input out of order is sorted on disk and the run starts again.

        A shard of a parallel run passes `agree`: it turns this shard's last event time into
        the run's `until` (the latest over all shards), and the shard does not sort on its own
        (OutOfOrder goes up, and the whole run is done in one process instead)."""
        with _gc_paused():
            provisional = self.options.start
            if provisional is None and self.engine.compiled.schedules:
                provisional = first_time(files, self)
            users = self.load_profiles(profiles) if profiles is not None else {}
            try:
                self._not_before = provisional
                self._run(self.records(files), users, provisional, agree)
            except OutOfOrder:
                if agree is not None:
                    raise
                for observer in self.observers:
                    reset = getattr(observer, "reset", None)
                    if reset:
                        reset()
                self._reset()
                self._not_before = None
                rejects: list[Reject] = []
                ordered = sorted_records(self.records(files), rejects.append)
                self._run(_with_rejects(ordered, rejects), users, None)
                self.stats.restarted = True
        return self.stats

    def run_records(self, records: list[Record], profiles: dict[str, dict[str, Any]],
                    start: float | None = None) -> Stats:
        """Simulate records already in memory (journey tests, the conformance suite)."""
        shard = self.options.shard
        if shard is not None:
            records = [r for r in records if owns(shard, r.user_id)]
            profiles = {u: p for u, p in profiles.items() if owns(shard, u)}
        ordered = sorted(records, key=order_key)
        first = ordered[0].time if ordered else None
        with _gc_paused():
            self._run(ordered, profiles, start if start is not None else first)
        return self.stats

    def _run(self, items: Iterable[Record | Reject], profiles: dict[str, dict[str, Any]],
             start: float | None, agree: Agree | None = None) -> None:
        if start is not None:
            self.start = start
        self._effect_handlers = [observer.effect for observer in self.observers]
        self._event_handlers = [o.event for o in self.observers if hasattr(o, "event")]
        self.profiles = dict(profiles)  # this shard's only: read_profiles or run_records
        self.stats.profiles_read = self._profiles_read
        self.stats.profiles_rejected = len(self._profile_rejects)
        for reject in self._profile_rejects:
            self._notify("reject", reject)
        self._notify("undeclared", self._undeclared)
        for item in items:
            if isinstance(item, Reject):
                self.stats.read += 1
                self.stats.rejected += 1
                self._notify("reject", item)
            else:
                self._record(item)
        self._finish(agree)

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
        clock = self._clock(record.user_id, record.time)
        position = (record.time, record.file, record.line)
        if position < clock.last or (self._not_before is not None
                                      and record.time < self._not_before):
            raise OutOfOrder(record)  # the run starts again over sorted input
        clock.last = position
        if record.event_id is not None and not self.seen_ids.add(
                hash((record.user_id, record.event_id))):  # the first in processing order wins
            stats.duplicates += 1
            self._notify("duplicate", record)
            return
        stats.users.add(record.user_id)
        stats.first = record.time if stats.first is None else min(stats.first, record.time)
        stats.last = record.time if stats.last is None else max(stats.last, record.time)
        self._advance(clock, record.time, inclusive=False)
        for notify in self._event_handlers:
            notify(record)
        event = Event(record.user_id, record.name, record.time, record.properties,
                      record.event_id)
        self._apply(clock, event, record.time)

    # --- clocks ----------------------------------------------------------------------------

    def _clock(self, user_id: str, now: float) -> _Clock:
        clock = self.clocks.get(user_id)
        if clock is None:
            profile = self.profiles.pop(user_id, None)  # the state holds it from now on
            state = new_state(user_id, profile)
            state.suppressed = user_id in self.options.suppressed
            clock = self.clocks[user_id] = _Clock(state)
            known = self.start if profile is not None else now
            for cj in self.engine.compiled.schedules:
                index = self._first_tick_index(cj.id, known)
                self._push_tick(clock, cj.id, index)
        return clock

    def _push_tick(self, clock: _Clock, journey_id: str, index: int) -> None:
        """A tick counts as set when the one before it fired (the first at the start)."""
        due = self._tick_at(journey_id, index)
        if due != _INF:
            set_at = self._tick_times[journey_id][index - 1] if index else self.start
            clock.push(due, set_at, journey_id + TICK, index)

    def _apply(self, clock: _Clock, event: Any, now: float) -> None:
        _, effects = self.engine.step(clock.state, event, now)
        for effect in effects:
            if type(effect) is fx.SetTimer:
                clock.push(effect.due, now, effect.key, effect.token)
            elif type(effect) is not fx.CancelTimer:  # stale timers are ignored when they fire
                for notify in self._effect_handlers:
                    notify(effect)

    def _advance(self, clock: _Clock, until: float, inclusive: bool) -> None:
        """Fire the user's timers and ticks due before `until` (or at it, when inclusive)."""
        timers = clock.timers
        while timers:
            due = timers[0][0]
            if due > until or (due == until and not inclusive):
                return
            _, _, _, key, token = heapq.heappop(timers)
            user_id = clock.state.user_id
            if key.endswith(TICK):
                journey_id = key[: -len(TICK)]
                self._push_tick(clock, journey_id, token + 1)
                self._apply(clock, Tick(user_id, journey_id), due)
            else:
                self._apply(clock, TimerFired(user_id, key, token), due)

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

    def _finish(self, agree: Agree | None = None) -> None:
        until = self.options.until
        if until is None:
            until = agree(self.stats.last) if agree is not None else self.stats.last
            if until is None:
                until = self.start
        self.until = until
        if until is None or until == _INF:
            return
        if self.engine.compiled.schedules:  # the profiles never seen in events: ticks only
            for user_id in list(self.profiles):
                self._clock(user_id, self.start)
        for clock in self.clocks.values():
            self._advance(clock, until, inclusive=True)

    def _notify(self, kind: str, value: Any) -> None:
        for observer in self.observers:
            handler = getattr(observer, kind, None)
            if handler is not None:
                handler(value)



    def states(self) -> Iterator[UserState]:
        return (clock.state for clock in self.clocks.values())



def _dt(t: float) -> Any:
    import datetime as dt

    return dt.datetime.fromtimestamp(t, dt.UTC)


def first_time(files: list[Path], simulation: Simulation) -> float | None:
    """The first record's time (of every shard): the provisional start of a run with schedule
    triggers. Input in order begins with its earliest event; if it does not, the run is
    sorted, and the start is the true earliest."""
    for index, path in enumerate(files[:1]):
        items = read_events(path, index, simulation.project.catalog, simulation.parse_time)
        with closing(items):
            for item in items:
                if isinstance(item, Record):
                    return item.time
    return None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic collector, not the run, was a third of the time: the state of 100k users is
    millions of young objects for it to walk again and again, and a run makes no cycles to
    collect. Paused for the run; afterwards what the run built is frozen out of the collector's
    sight (`gc.freeze`), or the first collection after it would walk all of it once more."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


Agree = Callable[[float | None], float | None]


def _with_rejects(records: Iterator[Record], rejects: list[Reject]
                  ) -> Iterator[Record | Reject]:
    """Sorted records, with the rejects met while sorting reported first."""
    first = next(records, None)  # sorting reads (and so rejects) everything before the first
    yield from rejects
    if first is not None:
        yield first
        yield from records

