"""Benchmark: CLI start-up, `journeyctl --help` (target <= 0.3 s).

Median of many runs, next to a bare `python -c pass` measured in the same run, so the ratio
shows what journeyctl adds to the interpreter's own start-up.

    python bench/bench_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def median_time(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    journeyctl = shutil.which("journeyctl") or sys.exit("journeyctl is not installed")
    median_time([journeyctl, "--help"], 2)  # warm .pyc files
    help_time = median_time([journeyctl, "--help"], args.runs)
    version_time = median_time([journeyctl, "validate", "--help"], args.runs)
    bare = median_time([sys.executable, "-c", "pass"], args.runs)
    print(f"runs: {args.runs}")
    print(f"journeyctl --help:          median {help_time * 1000:.0f} ms; target <= 300 ms")
    print(f"journeyctl validate --help: median {version_time * 1000:.0f} ms")
    print(f"python -c pass:             median {bare * 1000:.0f} ms")
    print(f"ratio --help / bare python: {help_time / bare:.1f}x")


if __name__ == "__main__":
    main()
