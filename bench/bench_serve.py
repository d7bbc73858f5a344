"""Daemon benchmark on loopback: ingest throughput and ack latency, event → provider latency.

    python bench/bench_serve.py [--seconds 10]

Runs the example project (`journeys/`) applied to a fresh state, `journeyctl serve` as its own
process, the fake provider in this process, and the load generator (bench/loadgen.py) as a third
process. Prints one line per measurement:

- single: one event per request, closed loop (32 connections): requests/s, p50/p99 ack;
- batched: 100 events per request, closed loop (8 connections): events/s, p50/p99 ack;
- single@1000/s and batched@100/s: open loop at half the targets (2,000 requests/s single,
  20,000 events/s batched), p50/p99 ack measured from when each request was due;
- drain: how fast the engine worked off the events the load left in the inbox;
- event→provider: a signup posted → the welcome email reaching the provider, p50/p99.

The targets (issue 6): ≥ 2,000 requests/s single, ≥ 20,000 events/s batched, p99 ack ≤ 50 ms
at half that load, event → provider p99 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channel_adapters.fake import FakeProvider  # noqa: E402

TOKEN = "bench-token"
CREDENTIALS = {"SENDGRID_API_KEY": "SG.bench", "TWILIO_ACCOUNT_SID": "ACbench",
               "TWILIO_AUTH_TOKEN": "bench", "FCM_ACCESS_TOKEN": "ya29.bench",
               "SLACK_VIP_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/bench",
               "CRM_WEBHOOK_SECRET": "bench"}
USERS = 50_000


def journeyctl() -> list[str]:
    script = Path(sys.executable).parent / "journeyctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "journeyctl"]


class Daemon:
    def __init__(self, project: Path, state: Path, fake_url: str) -> None:
        env = {**os.environ, **CREDENTIALS, "JOURNEYCTL_API_TOKEN": TOKEN}
        self.process = subprocess.Popen(
            [*journeyctl(), "serve", str(project), "--state", f"sqlite:///{state}", "--port", "0",
             "--base-url", fake_url, "--log-format", "json"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert self.process.stderr is not None
        for line in self.process.stderr:
            record = json.loads(line)
            if record["message"].startswith("listening on"):
                self.url = f"http://127.0.0.1:{record['port']}"
                break
        else:
            raise SystemExit("serve did not start")
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()
        self.client = httpx.Client(base_url=self.url, timeout=60,
                                   headers={"Authorization": f"Bearer {TOKEN}"})

    def pending_events(self) -> int:
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith('journeyctl_pending{kind="events"}'):
                return int(float(line.split()[-1]))
        raise RuntimeError("no journeyctl_pending metric")

    def drain(self) -> tuple[int, float]:
        """Wait for the inbox to empty: (events worked off, seconds)."""
        start, first = time.perf_counter(), self.pending_events()
        while self.pending_events():
            time.sleep(0.2)
        return first, time.perf_counter() - start

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def loadgen(url: str, seconds: float, batch: int, concurrency: int, rate: float = 0
            ) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "loadgen.py"), "--url", url, "--token", TOKEN,
         "--seconds", str(seconds), "--batch", str(batch), "--concurrency", str(concurrency),
         "--rate", str(rate), "--users", str(USERS)],
        capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def profiles(daemon: Daemon) -> None:
    for start in range(0, USERS, 2000):
        batch = [{"user_id": f"u-{i:06}", "email": f"user{i}@example.com",
                  "push_token": f"tok-{i}", "timezone": "Asia/Seoul",
                  "consent": {"email": True, "push": True, "sms": True, "night": True}}
                 for i in range(start, min(USERS, start + 2000))]
        daemon.client.post("/v1/profiles", json={"profiles": batch}).raise_for_status()


def show(name: str, result: dict[str, Any]) -> None:
    rate = (f"{result['requests_per_s']:>6} requests/s" if "batched" not in name else
            f"{result['events_per_s']:>6} events/s  ")
    print(f"{name:<16} {rate}  p50 {result['p50_ms']:>6.1f} ms  p99 {result['p99_ms']:>6.1f} ms"
          f"  ({result['requests']} requests, {result['errors']} errors)", flush=True)


def provider_latency(daemon: Daemon, fake: FakeProvider, count: int) -> list[float]:
    """Signups one at a time (20/s); each user's welcome email is the provider request to
    time."""
    posted: dict[str, float] = {}
    for i in range(count):
        email = f"latency{i}@example.com"
        daemon.client.post("/v1/profiles", json={"profiles": [
            {"user_id": f"lat-{i}", "email": email, "consent": {"email": True}}]})
        posted[email] = time.time()
        daemon.client.post("/v1/events", json={
            "event_id": f"lat-{i}", "user_id": f"lat-{i}", "event": "signup",
            "timestamp": time.time(), "properties": {}}).raise_for_status()
        time.sleep(0.05)
    deadline = time.time() + 30
    arrived: dict[str, float] = {}
    while len(arrived) < count and time.time() < deadline:
        for request in fake.received("/v3/mail/send"):
            to = request.json()["personalizations"][0]["to"][0]["email"]
            if to in posted:
                arrived.setdefault(to, request.received_at)
        time.sleep(0.2)
    return sorted(arrived[e] - posted[e] for e in arrived)


def summary(state: Path) -> str:
    """What the engine made of it all, read from the state after the daemon stopped."""
    db = sqlite3.connect(state)
    try:
        (events, done), = db.execute("SELECT COUNT(*), COUNT(processed_at) FROM inbox")
        (instances,), = db.execute("SELECT COUNT(*) FROM instances")
        (timers,), = db.execute("SELECT COUNT(*) FROM timers")
        outbox = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    finally:
        db.close()
    return (f"state: {done}/{events} events processed, {instances} journey instances, "
            f"{timers} timers pending, messages {outbox}")


def main() -> int:
    parser = argparse.ArgumentParser(description="daemon ingest and delivery benchmark")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jc-bench-serve-"))
    project = work / "journeys"
    shutil.copytree(ROOT / "journeys", project)
    state = work / "state.db"
    subprocess.run([*journeyctl(), "apply", str(project), "--state", f"sqlite:///{state}",
                    "--auto-approve"], check=True, capture_output=True)
    with FakeProvider() as fake:
        daemon = Daemon(project, state, fake.url)
        try:
            profiles(daemon)
            for name, batch, conns, rate in [("single", 1, 32, 0), ("batched x100", 100, 8, 0),
                                              ("single@1000/s", 1, 32, 1000),
                                              ("batched@100/s", 100, 8, 100)]:
                show(name, loadgen(daemon.url, args.seconds, batch, conns, rate))
                events, seconds = daemon.drain()
                if events:
                    print(f"{'  drain':<16} {events / seconds:>6.0f} events/s  ({events} "
                          f"events left in the inbox, processed in {seconds:.1f} s)", flush=True)
            lat = provider_latency(daemon, fake, 200)
            print(f"{'event→provider':<16} p50 {lat[len(lat) // 2] * 1000:.1f} ms  p99 "
                  f"{lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.1f} ms  "
                  f"({len(lat)} of 200 arrived)", flush=True)
        finally:
            daemon.stop()
    print(summary(state), flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
