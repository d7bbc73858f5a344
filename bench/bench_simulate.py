"""Benchmark: `journeyctl simulate` on 1M events for 100k users (targets: >= 300k events/s, or
>= 0.33 of the parse floor; peak RSS <= 1 GB).

The parse floor is a bare loop that reads the same file and `orjson.loads` every line, measured
in the same run; events/s counts every line of the file over the whole command's wall time
(start-up, validation, profiles, the run and the report included).

    python bench/gen_events.py            # once: bench/out/events.jsonl, profiles.jsonl
    python bench/bench_simulate.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FLOOR = ("import sys, orjson\n"
         "with open(sys.argv[1], 'rb') as f:\n"
         "    for line in f:\n"
         "        orjson.loads(line)\n")


def _tree_rss(pid: int) -> int:
    """Resident memory (kB) of a process and all its descendants (the simulation workers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines()
                              if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def measure(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident memory in MB of the whole process tree, sampled)."""
    start = time.perf_counter()
    peak = 0
    with open(os.devnull, "wb") as sink:
        child = subprocess.Popen(command, stdout=sink)
        while child.poll() is None:
            peak = max(peak, _tree_rss(child.pid))
            time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if child.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}")
    return elapsed, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=HERE / "out")
    parser.add_argument("--events", type=Path, help="default: DATA/events.jsonl")
    parser.add_argument("--workers", default="auto", help="simulate --workers")
    args = parser.parse_args()
    events = args.events or args.data / "events.jsonl"
    profiles = args.data / "profiles.jsonl"
    if not events.is_file():
        sys.exit("no data: run python bench/gen_events.py first")
    journeyctl = shutil.which("journeyctl") or sys.exit("journeyctl is not installed")
    lines = sum(1 for _ in events.open("rb"))
    simulate = [journeyctl, "simulate", str(REPO / "journeys"), "--events", str(events),
                "--profiles", str(profiles), "--json", "--workers", args.workers]
    floor = [sys.executable, "-c", FLOOR, str(events)]
    measure(floor)  # warm the page cache
    floors, sims, rss = [], [], []
    for _ in range(args.runs):
        floors.append(measure(floor)[0])
        seconds, peak = measure(simulate)
        sims.append(seconds)
        rss.append(peak)
    f, s = statistics.median(floors), statistics.median(sims)
    print(f"events: {lines:,} lines ({events.stat().st_size / 1e6:.0f} MB), runs: {args.runs}, "
          f"cores: {os.cpu_count()}")
    print(f"parse floor (orjson.loads per line): median {f:.2f} s = {lines / f:,.0f} lines/s")
    print(f"journeyctl simulate:                 median {s:.2f} s = {lines / s:,.0f} events/s "
          f"(target >= 300,000)")
    print(f"ratio simulate / parse floor: {f / s:.2f} (target >= 0.33)")
    print(f"peak RSS of simulate (all its processes): {max(rss):,.0f} MB (target <= 1,024 MB)")


if __name__ == "__main__":
    main()
