"""Makes a multi-GB event log for the streaming check: the 1M-event benchmark file repeated
with each copy shifted 28 days later (so the result stays time-ordered), event ids renamed.

    python bench/big_file.py --copies 14          # about 2.1 GB: bench/out/big.jsonl
    python bench/bench_simulate.py --events bench/out/big.jsonl --runs 1
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=14)
    parser.add_argument("--source", type=Path, default=HERE / "out" / "events.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "big.jsonl")
    args = parser.parse_args()
    with args.out.open("wb") as target:
        for copy in range(args.copies):
            shift = dt.timedelta(days=28 * copy)
            with args.source.open("rb") as source:
                for line in source:
                    row = orjson.loads(line)
                    stamp = dt.datetime.fromisoformat(row["timestamp"]) + shift
                    row["timestamp"] = stamp.isoformat()
                    row["event_id"] = f"{row['event_id']}-{copy}"
                    target.write(orjson.dumps(row) + b"\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e9:.2f} GB)")


if __name__ == "__main__":
    main()
