"""Benchmark: `journeyctl validate` on a generated project of 500 journeys (target <= 2 s).

The project is the example project (catalog, channels, 31 templates) with its six journeys
cloned to 500 under new ids. Each figure is the median of several runs of the real command in
a subprocess; the baseline in the same run is parsing the same YAML files with PyYAML's C
loader and nothing else, so the ratio says what validation costs over reading the files.

    python bench/bench_validate.py [--journeys 500] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "journeys"


def make_project(target: Path, count: int) -> Path:
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data", "tests", "flows"))
    (target / "flows").mkdir()
    sources = sorted((EXAMPLE / "flows").glob("*.yaml"))
    for i in range(count):
        source = sources[i % len(sources)]
        text = source.read_text(encoding="utf-8")
        text = re.sub(r"^journey: (\S+)", rf"journey: \1-{i:04d}", text, count=1, flags=re.M)
        (target / "flows" / f"{source.stem}-{i:04d}.yaml").write_text(text, encoding="utf-8")
    return target


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    journeyctl = shutil.which("journeyctl") or sys.exit("journeyctl is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "big", args.journeys)
        files = sorted(str(p) for p in project.rglob("*.yaml"))
        parse_only = [sys.executable, "-c",
                      "import sys, yaml\n"
                      "for f in sys.argv[1:]:\n"
                      "    yaml.load(open(f, encoding='utf-8'), Loader=yaml.CSafeLoader)\n",
                      *files]
        validate = [journeyctl, "validate", str(project), "--format", "json"]
        timed(validate)  # warm the page cache and .pyc files
        runs_validate = [timed(validate) for _ in range(args.runs)]
        runs_parse = [timed(parse_only) for _ in range(args.runs)]
    v, p = statistics.median(runs_validate), statistics.median(runs_parse)
    print(f"journeys: {args.journeys}, YAML files: {len(files)}, runs: {args.runs}")
    print(f"journeyctl validate: median {v:.3f} s (min {min(runs_validate):.3f} s) "
          f"= {1000 * v / args.journeys:.2f} ms per journey; target <= 2 s")
    print(f"PyYAML parse only:   median {p:.3f} s")
    print(f"ratio validate / parse-only: {v / p:.2f}x")


if __name__ == "__main__":
    main()
