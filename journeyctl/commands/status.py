"""`journeyctl status`: the applied versions and the instances in flight, per step."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path
from typing import Any

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.state_common import Given, open_state


def run(project_path: Path, state_url: str | None, output_format: str) -> int:
    store, ref, _ = open_state(Given(project_path, state_url))
    with closing(store):
        snapshot = store.snapshot()
        lock = store.holder()
    shown = ref.shown
    journeys: dict[str, dict[str, Any]] = {}
    for jid, applied in snapshot.journeys.items():
        steps: dict[str, dict[str, int]] = {}
        for (j, version, step), count in sorted(snapshot.inflight.items()):
            if j == jid:
                steps.setdefault(f"v{version}", {})[step] = count
        journeys[jid] = {"version": applied.version, "status": applied.status,
                         "hash": applied.hash, "in_flight": steps}
    locked_by = {"who": lock.who, "operation": lock.operation, "since": lock.since} \
        if lock else None
    report = {"schema_version": 1, "state": shown, "serial": snapshot.serial,
              "project": snapshot.project, "locked_by": locked_by, "journeys": journeys}
    if output_format == "json":
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print(f"{snapshot.project} at {shown}: serial {snapshot.serial}"
          + (f"; locked by {lock.who} ({lock.operation} since {lock.since})" if lock else ""))
    for jid, info in journeys.items():
        total = sum(n for steps in info["in_flight"].values() for n in steps.values())
        print(f"  {jid}: v{info['version']} {info['status']}, {total} in flight")
        for version, by_step in info["in_flight"].items():
            for step, count in by_step.items():
                print(f"      {version} {step}: {count}")
    return EXIT_OK
