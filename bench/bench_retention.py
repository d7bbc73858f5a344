"""Retention benchmark: the state file under sustained ingest, with and without pruning
(issue 11, item 10).

    python bench/bench_retention.py [--seconds 120] [--rate 200] [--retention 1m] [--users 2000]

Two real `journeyctl serve` processes side by side, on the daemon tests' project reduced to one
journey (an email per signup; users sign up again and again), sending to the fake provider in
this process, fed the same load: `--rate` signups a second (batches of 20, each with its own
event_id) from `--users` users. One project keeps the default retention (7d events, 30d
messages: nothing is pruned in a run); the other keeps `--retention` for both (1m, the
shortest allowed). Every 10 seconds it prints, for each: the state file's size (the main file;
the WAL beside it is shown apart), the inbox and outbox rows, and the ingest latency (p50/p99 of
the requests in those 10 s) — pruning must not hold ingest up. The last lines give the ratio of
the sizes and what was pruned (`journeyctl_pruned_total`).

What stays with pruning is what the retention keeps (the last minute of events and messages)
and what is never pruned: profiles, user states, and instances (one row per entry, finished
ones included), which go on growing slowly. The last line gives each file's growth once the
retention has passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_outage import MAILER
from bench_serve import CREDENTIALS, ROOT, TOKEN, journeyctl

from channel_adapters.fake import FakeProvider
from journeyctl.timeparse import parse_duration

BATCH = 20
EVERY = 10.0  # seconds between two lines


def project(work: Path, name: str, retention: str | None) -> tuple[Path, Path]:
    root = work / name
    shutil.copytree(ROOT / "tests" / "daemon" / "project", root)
    for journey in ("welcome.yaml", "receipt.yaml"):
        (root / "journeys" / journey).unlink()
    (root / "journeys" / "mailer.yaml").write_text(MAILER, encoding="utf-8")
    if retention:
        with (root / "journeyctl.yaml").open("a", encoding="utf-8") as settings:
            settings.write(f"retention: {{events: {retention}, messages: {retention}}}\n")
    state = work / f"{name}.db"
    subprocess.run([*journeyctl(), "apply", str(root), "--state", f"sqlite:///{state}",
                    "--auto-approve"], check=True, capture_output=True)
    return root, state


class Daemon:
    def __init__(self, root: Path, state: Path, fake_url: str) -> None:
        env = {**os.environ, **CREDENTIALS, "JOURNEYCTL_API_TOKEN": TOKEN}
        self.state = state
        self.process = subprocess.Popen(
            [*journeyctl(), "serve", str(root), "--state", f"sqlite:///{state}", "--port", "0",
             "--base-url", fake_url, "--log-format", "json"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        started = threading.Event()
        threading.Thread(target=self._read, args=(started,), daemon=True).start()
        if not started.wait(60) or not hasattr(self, "url"):
            raise SystemExit("serve did not start")
        self.client = httpx.Client(base_url=self.url, timeout=60,
                                   headers={"Authorization": f"Bearer {TOKEN}"})
        self.latencies: list[float] = []
        self.sent = 0

    def _read(self, started: threading.Event) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            record = json.loads(line)
            if record["level"] in ("warning", "error"):
                print(f"  [{self.state.stem}] {record['level']}: {record['message']}",
                      flush=True)
            if record["message"].startswith("listening on"):
                self.url = f"http://127.0.0.1:{record['port']}"
                started.set()
        started.set()

    def post(self, events: list[dict[str, Any]]) -> None:
        began = time.perf_counter()
        self.client.post("/v1/events", json={"events": events}).raise_for_status()
        self.latencies.append(time.perf_counter() - began)
        self.sent += len(events)

    def pruned(self) -> dict[str, int]:
        found = {}
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith("journeyctl_pruned_total{"):
                kind = line.split('kind="')[1].split('"')[0]
                found[kind] = int(float(line.split()[-1]))
        return found

    def stop(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def feed(daemons: list[Daemon], rate: int, users: int, until: float) -> None:
    """`rate` signups a second to each daemon, the same ones, in batches of BATCH."""
    number = 0
    began = time.monotonic()
    while time.monotonic() < until:
        events = [{"event_id": f"e{number + i}", "user_id": f"u{(number + i) % users}",
                   "event": "signup", "timestamp": time.time()} for i in range(BATCH)]
        number += BATCH
        for daemon in daemons:
            daemon.post(events)
        ahead = began + number / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


def size(state: Path) -> tuple[int, int]:
    """The main file and its WAL, in bytes."""
    wal = state.with_name(state.name + "-wal")
    return state.stat().st_size, wal.stat().st_size if wal.exists() else 0


def counts(state: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(state, timeout=10)) as db:
        return (db.execute("SELECT COUNT(*) FROM inbox").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


def line(daemon: Daemon, label: str) -> str:
    main, wal = size(daemon.state)
    inbox, outbox = counts(daemon.state)
    took, daemon.latencies = daemon.latencies, []
    p50 = statistics.median(took) * 1000 if took else float("nan")
    p99 = sorted(took)[int(len(took) * 0.99)] * 1000 if took else float("nan")
    return (f"{label} {main / 1e6:6.1f} MB (wal {wal / 1e6:4.1f}) inbox {inbox:6} outbox "
            f"{outbox:6} ingest p50 {p50:5.1f} ms p99 {p99:6.1f} ms")


def run(seconds: float, rate: int, retention: str, users: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="jc-bench-retention-"))
    kept_root, kept_state = project(work, "kept", None)
    pruned_root, pruned_state = project(work, "pruned", retention)
    print(f"{seconds:g}s of {rate} signups/s ({users} users, an email each) into two daemons: "
          f"default retention vs `retention: {{events: {retention}, messages: {retention}}}`",
          flush=True)
    with FakeProvider(record=False) as fake:
        kept, pruned = Daemon(kept_root, kept_state, fake.url), Daemon(pruned_root,
                                                                       pruned_state, fake.url)
        profiles = [{"user_id": f"u{i}", "email": f"u{i}@example.com"} for i in range(users)]
        for daemon in (kept, pruned):
            daemon.client.post("/v1/profiles", json={"profiles": profiles}).raise_for_status()
        began = time.monotonic()
        loader = threading.Thread(target=feed, args=([kept, pruned], rate, users,
                                                     began + seconds), daemon=True)
        loader.start()
        sizes: list[tuple[float, int, int]] = []  # elapsed, without pruning, with
        try:
            while loader.is_alive():
                loader.join(EVERY)
                elapsed = time.monotonic() - began
                sizes.append((elapsed, size(kept_state)[0], size(pruned_state)[0]))
                print(f"t={elapsed:5.0f}s events {kept.sent:7}  no pruning: "
                      f"{line(kept, '')}\n{'':21}   pruning: {line(pruned, '')}", flush=True)
            _, kept_size, pruned_size = sizes[-1]
            print(f"after {seconds:g}s: without pruning {kept_size / 1e6:.1f} MB, with "
                  f"{pruned_size / 1e6:.1f} MB: {kept_size / pruned_size:.1f}x smaller; "
                  f"pruned {pruned.pruned()}, without pruning {kept.pruned()}", flush=True)
            print(_growth(sizes, parse_duration(retention).seconds), flush=True)
        finally:
            kept.stop()
            pruned.stop()
    shutil.rmtree(work, ignore_errors=True)


def _growth(sizes: list[tuple[float, int, int]], retention: float) -> str:
    """How fast each file grew once the retention had passed (and a pruning pass after it):
    MB a minute."""
    start = next((sample for sample in sizes if sample[0] >= retention + EVERY), sizes[0])
    minutes = (sizes[-1][0] - start[0]) / 60 or float("nan")
    kept, pruned = ((sizes[-1][i] - start[i]) / 1e6 / minutes for i in (1, 2))
    return (f"growth from t={start[0]:.0f}s to the end: {kept:.1f} MB/min without pruning, "
            f"{pruned:.2f} MB/min with (what is never pruned: instances, one row per entry; "
            "profiles; user states)")


def main() -> int:
    parser = argparse.ArgumentParser(description="the state file with and without pruning")
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rate", type=int, default=200, help="signups a second")
    parser.add_argument("--retention", default="1m")
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    run(args.seconds, args.rate, args.retention, args.users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
