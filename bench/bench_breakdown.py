"""Where the time of a simulation goes, layer by layer, in one process (same run, same file):

1. the parse floor: read the file and `orjson.loads` each line;
2. the readers: + field checks, timestamps, catalog property checks (`read_events`);
3. the host: + order check, dedupe, per-user clocks and timer heaps, with an engine that does
   nothing (`Engine.step` returns no effects);
4. the full run: + the engine (journeys, CEL, send policy) and the report.

    python bench/bench_breakdown.py [--events bench/out/events.jsonl] [--limit 500000]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import orjson

from journeyctl.engine.interpreter import Engine
from journeyctl.project import validate
from journeyctl.records import TimeParser
from journeyctl.sim.readers import read_events
from journeyctl.sim.run import simulate
from journeyctl.timeparse import zone

HERE = Path(__file__).resolve().parent


def timed(label: str, lines: int, action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"{label:<52} {seconds:6.2f} s  {seconds / lines * 1e6:6.2f} µs/event")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=HERE / "out" / "events.jsonl")
    parser.add_argument("--profiles", type=Path, default=HERE / "out" / "profiles.jsonl")
    parser.add_argument("--limit", type=int, default=500_000)
    args = parser.parse_args()
    project = validate(HERE.parent / "journeys").project
    assert project is not None
    with tempfile.TemporaryDirectory() as tmp:
        events = Path(tmp) / "events.jsonl"
        with args.events.open("rb") as source, events.open("wb") as target:
            target.writelines(itertools.islice(source, args.limit))
        lines = sum(1 for _ in events.open("rb"))
        print(f"{lines:,} events, {args.profiles.name} for profiles, one process\n")

        def floor() -> None:
            with events.open("rb") as handle:
                for line in handle:
                    orjson.loads(line)

        def readers() -> None:
            parse_time = TimeParser(zone(project.timezone))  # type: ignore[arg-type]
            for _ in read_events(events, 0, project.catalog, parse_time):
                pass

        def host_only() -> None:
            original = Engine.step
            Engine.step = lambda self, state, event, now: (state, [])  # type: ignore[method-assign]
            try:
                simulate(project, [events], args.profiles)
            finally:
                Engine.step = original  # type: ignore[method-assign]

        def full() -> None:
            simulate(project, [events], args.profiles)

        a = timed("1. parse floor (orjson.loads per line)", lines, floor)
        b = timed("2. + readers (checks, timestamps, catalog)", lines, readers)
        c = timed("3. + host (clocks, timers, profiles), no-op engine", lines, host_only)
        d = timed("4. + engine and report (the full run)", lines, full)
        print(f"\nshares of the full run: parse {a / d:.0%}, readers {(b - a) / d:.0%}, "
              f"host {(c - b) / d:.0%}, engine + report {(d - c) / d:.0%}")


if __name__ == "__main__":
    main()
