"""The live report: what the daemon's journeys did, from the counts it keeps in the state
(`journeyctl.daemon.tally`), in the schema of the simulate report (SPEC §8) with
`"source": "live"` — the same `Recorder` writes both.

Counts are kept per hour of the engine's time, so a window (`since`, `until`) takes whole
hours: every hour that overlaps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl import model as m
from journeyctl.sim import counts
from journeyctl.sim.counts import STATS
from journeyctl.sim.recorder import Recorder
from journeyctl.state.base import Store


@dataclass
class LiveStats:
    """The report's `events` and `users` as a daemon knows them: events the engine ran, and
    users whose first event it ran in the window. Events refused at the API (422) or answered
    as duplicates were never stored: /metrics counts those."""

    read: int = 0
    users: int = 0
    rejected: int = 0
    duplicates: int = 0
    skipped: int = 0
    profiles_read: int = 0
    profiles_rejected: int = 0

    @property
    def user_count(self) -> int:
        return self.users


def live_report(store: Store, project: m.Project, since: float | None = None,
                until: float | None = None) -> dict[str, Any]:
    """The report of the applied `project` (`journeyctl.state.applied`) over the window."""
    journeys = sorted(j.id for j in project.journeys if j.status != "draft")
    recorder = Recorder(project, journeys, ZoneInfo(project.timezone))
    stats = LiveStats()
    by_version: dict[str, dict[str, dict[str, int | float]]] = {}
    for version, path, value in store.report_counts(since, until):
        parts = json.loads(path)
        if parts[0] == STATS:
            setattr(stats, parts[1], getattr(stats, parts[1], 0) + value)
            continue
        counts.add(recorder, path, value)
        if parts[0] == "journeys" and len(parts) == 3 and parts[2] in _PER_VERSION:
            totals = by_version.setdefault(parts[1], {}).setdefault(str(version), {})
            totals[parts[2]] = round(totals.get(parts[2], 0) + value, 4)
    report = recorder.report(stats, since, until)
    for journey_id, data in report["journeys"].items():
        data["versions"] = {v: {k: totals.get(k, 0) for k in _PER_VERSION}
                            for v, totals in sorted(by_version.get(journey_id, {}).items(),
                                                    key=lambda item: int(item[0]))}
    return {"source": "live", **report}


_PER_VERSION = ("entered", "completed", "conversions", "revenue", "messages", "cost")
