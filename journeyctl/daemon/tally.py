"""What a batch of engine transitions did, counted by the simulator's recorder: the daemon's
live report (see `journeyctl.live`).

One `Recorder` per hour (of the engine's time for the input) and journey version is fed the
effects of every transition the batch commits, exactly as `simulate` feeds its recorder; as the
batch ends its counts are added to the state's `report_counts` rows in the same transaction
(`Runtime.add_counts`), so a crash loses or doubles none of them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl import model as m
from journeyctl.engine import effects as fx
from journeyctl.engine.state import UserState
from journeyctl.sim import counts
from journeyctl.sim.counts import STATS
from journeyctl.sim.recorder import COUNTED, Recorder
from journeyctl.state.base import CountRow

HOUR = 3600


class Tally:
    def __init__(self, project: m.Project, serial: int, versions: dict[str, int]) -> None:
        self.use(project, serial, versions)
        self.reset()

    def use(self, project: m.Project, serial: int, versions: dict[str, int]) -> None:
        """Count with an apply's project from now on (the daemon reloaded it): a batch's
        counts before it stay in recorders of the older one."""
        self.project, self.serial = project, serial
        self.versions = versions  # journey -> latest version (a count with no instance)
        # every journey an instance may still be on, which the recorder counts by id
        self.journeys = sorted({j.id for j in project.journeys} | set(versions))
        self.tz = ZoneInfo(project.timezone)

    def reset(self) -> None:
        # (hour, journey version, apply serial) -> the recorder of those inputs' effects
        self._recorders: dict[tuple[int, int, int], Recorder] = {}
        self._stats: Counter[tuple[int, str]] = Counter()
        self.observed: Counter[tuple[str, ...]] = Counter()  # for Prometheus, once committed

    def event(self, at: float, new_user: bool) -> None:
        hour = _hour(at)
        self._stats[(hour, "read")] += 1
        if new_user:
            self._stats[(hour, "users")] += 1

    def record(self, state: UserState, effects: Iterable[Any], at: float) -> None:
        hour = _hour(at)
        for effect in effects:
            kind = type(effect)
            if kind not in COUNTED:
                continue
            key = (hour, self._version(state, effect), self.serial)
            recorder = self._recorders.get(key)
            if recorder is None:
                recorder = self._recorders[key] = Recorder(self.project, self.journeys, self.tz)
            recorder.effect(effect)
            self._observe(kind, effect)

    def _observe(self, kind: type, effect: Any) -> None:
        if kind is fx.Entered:
            self.observed[("entries", effect.journey)] += 1
        elif kind is fx.Converted:
            self.observed[("conversions", effect.journey)] += 1
        elif kind is fx.Suppressed:
            self.observed[("suppressions", effect.journey, effect.reason)] += 1

    def _version(self, state: UserState, effect: Any) -> int:
        """The version of the instance the effect is about (an instance keeps the version it
        entered on; an apply's `migrate:` moves it on and the state says so)."""
        if type(effect) is fx.Entered:
            return int(effect.version)
        journey = state.journeys.get(effect.journey)
        number = getattr(effect, "instance", None)
        if journey is not None:
            for inst in (journey.active, *journey.recent):
                if inst is not None and (number is None or inst.number == number):
                    return inst.version
        return self.versions.get(effect.journey, 1)

    def rows(self) -> list[CountRow]:
        """The batch's counts, as rows to add (none for a batch that counted nothing)."""
        summed: Counter[tuple[int, int, str]] = Counter()
        for (hour, version, _), recorder in self._recorders.items():
            for path, value in counts.flatten(recorder):
                summed[(hour, version, path)] += value  # type: ignore[assignment]
        out = [CountRow(hour, version, path, value)
               for (hour, version, path), value in summed.items()]
        out += [CountRow(hour, 0, f'["{STATS}","{name}"]', value)
                for (hour, name), value in self._stats.items()]
        return out


def _hour(at: float) -> int:
    return int(at // HOUR) * HOUR

