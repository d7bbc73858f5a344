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

On PostgreSQL (issue 13), several daemons sharing one state:

    python bench/bench_serve.py --state postgres --daemons 3 [--seconds 5]
    python bench/bench_serve.py --state postgresql://user@host:5432/db --daemons 2
    python bench/bench_serve.py --compare [--state postgresql://...] [--seconds 5]

`--state postgres` starts a throwaway server (bench/pg_bench.py says how it is set); a
`postgresql://` URL gets a fresh schema per run, dropped after. `--daemons N` starts N
`journeyctl serve` on the one state; the load generator sends round-robin over them, and the
run starts once they have split the partitions. After each measurement a `cpu` line says how
much CPU PostgreSQL, the daemons, the load generator and this process (the fake provider) took
in that time. `--compare` runs SQLite (one daemon), then PostgreSQL with 1, 2 and 3 daemons, in
one run, and prints them side by side at the end: on a shared machine only figures of one run
compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pg_bench import Server, cpu_seconds, settings  # noqa: E402

from channel_adapters.fake import FakeProvider  # noqa: E402

TOKEN = "bench-token"
CREDENTIALS = {"SENDGRID_API_KEY": "SG.bench", "TWILIO_ACCOUNT_SID": "ACbench",
               "TWILIO_AUTH_TOKEN": "bench", "FCM_ACCESS_TOKEN": "ya29.bench",
               "SLACK_VIP_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/bench",
               "CRM_WEBHOOK_SECRET": "bench"}
USERS = 50_000
PHASES = [("single", 1, 32, 0), ("batched x100", 100, 8, 0), ("single@1000/s", 1, 32, 1000),
          ("batched@100/s", 100, 8, 100)]


def journeyctl() -> list[str]:
    script = Path(sys.executable).parent / "journeyctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "journeyctl"]


class Daemon:
    def __init__(self, project: Path, state: Path | str, fake_url: str,
                 lease: float | None = None) -> None:
        """`state`: an SQLite file, or a state URL."""
        state = f"sqlite:///{state}" if isinstance(state, Path) else state
        env = {**os.environ, **CREDENTIALS, "JOURNEYCTL_API_TOKEN": TOKEN}
        extra = ["--lease", str(lease)] if lease else []
        self.process = subprocess.Popen(
            [*journeyctl(), "serve", str(project), "--state", state, "--port", "0",
             "--base-url", fake_url, "--log-format", "json", *extra],
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

    def metric(self, pattern: str) -> float | None:
        for line in self.client.get("/metrics").text.splitlines():
            if re.match(pattern, line):
                return float(line.split()[-1])
        return None

    def pending_events(self) -> int:
        value = self.metric(r'journeyctl_pending\{kind="events"\} ')
        if value is None:
            raise RuntimeError("no journeyctl_pending metric")
        return int(value)

    def drain(self) -> tuple[int, float]:
        """Wait for the inbox to empty: (events worked off, seconds). The count is the whole
        state's, so on a shared state one daemon's answer covers them all."""
        start, first = time.perf_counter(), self.pending_events()
        while self.pending_events():
            time.sleep(0.2)
        return first, time.perf_counter() - start

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def wait_for_split(urls: list[str], partitions: int = 32, timeout: float = 60) -> None:
    """Until the daemons at `urls` hold every partition between them, evenly (a lease or two
    after they start; /healthz says what each holds): a run that starts earlier measures one
    daemon doing the work of several."""
    deadline = time.time() + timeout
    share = -(-partitions // len(urls))
    held: list[int] = []
    while time.time() < deadline:
        held = [len(httpx.get(f"{url}/healthz").json().get("partitions", {}).get("held", []))
                for url in urls]
        if sum(held) == partitions and min(held) >= partitions - share * (len(urls) - 1):
            return
        time.sleep(0.25)
    raise SystemExit(f"the daemons did not split the partitions within {timeout:.0f} s: {held}")


def loadgen(urls: list[str], seconds: float, batch: int, concurrency: int, rate: float = 0
            ) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "loadgen.py"),
         *[arg for url in urls for arg in ("--url", url)], "--token", TOKEN,
         "--seconds", str(seconds), "--batch", str(batch), "--concurrency", str(concurrency),
         "--rate", str(rate), "--users", str(USERS)],
        capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def profiles(daemons: list[Daemon]) -> None:
    for n, start in enumerate(range(0, USERS, 2000)):
        batch = [{"user_id": f"u-{i:06}", "email": f"user{i}@example.com",
                  "push_token": f"tok-{i}", "timezone": "Asia/Seoul",
                  "consent": {"email": True, "push": True, "sms": True, "night": True}}
                 for i in range(start, min(USERS, start + 2000))]
        daemon = daemons[n % len(daemons)]
        daemon.client.post("/v1/profiles", json={"profiles": batch}).raise_for_status()


def show(name: str, result: dict[str, Any]) -> None:
    rate = (f"{result['requests_per_s']:>6} requests/s" if "batched" not in name else
            f"{result['events_per_s']:>6} events/s  ")
    print(f"{name:<16} {rate}  p50 {result['p50_ms']:>6.1f} ms  p99 {result['p99_ms']:>6.1f} ms"
          f"  ({result['requests']} requests, {result['errors']} errors)", flush=True)


def provider_latency(daemons: list[Daemon], fake: FakeProvider, count: int) -> list[float]:
    """Signups one at a time (20/s), round-robin over the daemons; each user's welcome email
    is the provider request to time."""
    posted: dict[str, float] = {}
    for i in range(count):
        email = f"latency{i}@example.com"
        client = daemons[i % len(daemons)].client
        client.post("/v1/profiles", json={"profiles": [
            {"user_id": f"lat-{i}", "email": email, "consent": {"email": True}}]})
        posted[email] = time.time()
        client.post("/v1/events", json={
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


SUMMARY = ["SELECT COUNT(*), COUNT(processed_at) FROM inbox", "SELECT COUNT(*) FROM instances",
           "SELECT COUNT(*) FROM timers", "SELECT status, COUNT(*) FROM outbox GROUP BY status"]


def summary(execute: Callable[[str], list[tuple[Any, ...]]]) -> str:
    """What the engine made of it all, read from the state after the daemons stopped."""
    (events, done), = execute(SUMMARY[0])
    (instances,), = execute(SUMMARY[1])
    (timers,), = execute(SUMMARY[2])
    outbox = dict(execute(SUMMARY[3]))
    return (f"state: {done}/{events} events processed, {instances} journey instances, "
            f"{timers} timers pending, messages {outbox}")


def sqlite_summary(state: Path) -> str:
    db = sqlite3.connect(state)
    try:
        return summary(lambda query: db.execute(query).fetchall())
    finally:
        db.close()


@dataclass
class Cpu:
    """CPU seconds by process group over one measurement, and its wall time."""

    server: Server | None
    daemons: list[Daemon]
    start: dict[str, float] = field(default_factory=dict)

    def sample(self) -> dict[str, float]:
        return {"postgres": cpu_seconds(self.server.pids()) if self.server else 0.0,
                "daemons": cpu_seconds([d.process.pid for d in self.daemons]),
                "bench": time.process_time(), "wall": time.perf_counter()}

    def begin(self) -> None:
        self.start = self.sample()

    def show(self, loadgen_cpu: float = 0.0) -> str:
        now = self.sample()
        used = {k: now[k] - self.start[k] for k in now}
        pg = f"postgres {used['postgres']:.1f} s, " if self.server and self.server.cluster else ""
        line = (f"{'  cpu':<16} {pg}daemons {used['daemons']:.1f} s, loadgen {loadgen_cpu:.1f} "
                f"s, fake provider {used['bench']:.1f} s, in {used['wall']:.1f} s wall")
        print(line, flush=True)
        return line


def run(project: Path, state: str, daemons_n: int, args: argparse.Namespace,
        server: Server | None, show_cpu: bool) -> dict[str, Any]:
    """One configuration: apply, start the daemons, every measurement; the figures."""
    subprocess.run([*journeyctl(), "apply", str(project), "--state", state, "--auto-approve"],
                   check=True, capture_output=True)
    figures: dict[str, Any] = {}
    with FakeProvider() as fake:
        daemons = [Daemon(project, state, fake.url, args.lease) for _ in range(daemons_n)]
        try:
            urls = [d.url for d in daemons]
            if daemons_n > 1:
                wait_for_split(urls)
            cpu = Cpu(server, daemons)
            profiles(daemons)
            for name, batch, conns, rate in PHASES:
                cpu.begin()
                result = loadgen(urls, args.seconds, batch, conns, rate)
                show(name, result)
                figures[name] = result
                if show_cpu:
                    figures[f"{name} cpu"] = cpu.show(result["cpu_s"])
                cpu.begin()
                events, seconds = daemons[0].drain()
                if events:
                    figures[f"{name} drain"] = events / seconds
                    print(f"{'  drain':<16} {events / seconds:>6.0f} events/s  ({events} "
                          f"events left in the inbox, processed in {seconds:.1f} s)", flush=True)
                    if show_cpu:
                        cpu.show()
            lat = provider_latency(daemons, fake, 200)
            figures["e2p"] = (lat[len(lat) // 2] * 1000,
                              lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, len(lat))
            print(f"{'event→provider':<16} p50 {figures['e2p'][0]:.1f} ms  p99 "
                  f"{figures['e2p'][1]:.1f} ms  ({len(lat)} of 200 arrived)", flush=True)
        finally:
            for daemon in daemons:
                daemon.stop()
    return figures


def pg_summary(server: Server, state: str) -> str:
    with server.connect(state) as conn:
        return summary(lambda query: conn.execute(query).fetchall())


def compare_table(results: list[tuple[str, dict[str, Any]]]) -> None:
    """The configurations side by side (one run: the ratios mean something)."""
    columns = [("single req/s", lambda f: f"{f['single']['requests_per_s']}"),
               ("p99 ms", lambda f: f"{f['single']['p99_ms']:.1f}"),
               ("batched ev/s", lambda f: f"{f['batched x100']['events_per_s']}"),
               ("p99 ms", lambda f: f"{f['batched x100']['p99_ms']:.1f}"),
               ("@1000/s p99", lambda f: f"{f['single@1000/s']['p99_ms']:.1f}"),
               ("@100x100/s p99", lambda f: f"{f['batched@100/s']['p99_ms']:.1f}"),
               ("drain ev/s", lambda f: f"{f.get('batched x100 drain', 0):.0f}"),
               ("e→p p99 ms", lambda f: f"{f['e2p'][1]:.1f}")]
    print("\n| state | " + " | ".join(name for name, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name, figures in results:
        print(f"| {name} | " + " | ".join(cell(figures) for _, cell in columns) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description="daemon ingest and delivery benchmark")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--state", help="postgresql://… (a fresh schema on it) or `postgres` "
                                        "(a throwaway server); default: a new SQLite file")
    parser.add_argument("--daemons", type=int, default=1, help="daemons on a PostgreSQL state")
    parser.add_argument("--lease", type=float, help="the daemons' --lease (seconds)")
    parser.add_argument("--compare", action="store_true",
                        help="SQLite, then PostgreSQL with 1, 2 and 3 daemons, in one run")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the throwaway server (see bench/pg_bench.py)")
    args = parser.parse_args()
    postgres = args.compare or args.state is not None
    if args.state is not None and not args.state.startswith(("postgres", "postgresql://")):
        parser.error("--state is `postgres` or a postgresql:// URL")
    if args.daemons > 1 and not postgres:
        parser.error("--daemons > 1 needs a PostgreSQL --state (several daemons share one)")
    work = Path(tempfile.mkdtemp(prefix="jc-bench-serve-"))
    project = work / "journeys"
    shutil.copytree(ROOT / "journeys", project)
    server = None
    try:
        if not postgres:  # as before issue 13: one daemon on a new SQLite file
            state = work / "state.db"
            run(project, f"sqlite:///{state}", 1, args, None, show_cpu=False)
            print(sqlite_summary(state), flush=True)
            return 0
        server = Server(None if args.state in (None, "postgres") else args.state,
                        settings(args.pg_setting))
        configs = ([("SQLite, 1 daemon", None, 1)] +
                   [(f"PostgreSQL, {n} daemon{'s' if n > 1 else ''}", "pg", n)
                    for n in (1, 2, 3)] if args.compare else
                   [(f"PostgreSQL, {args.daemons} daemons", "pg", args.daemons)])
        results = []
        for name, kind, n in configs:
            print(f"\n== {name}", flush=True)
            if kind is None:
                state_path = work / "state.db"
                figures = run(project, f"sqlite:///{state_path}", n, args, server, True)
                print(sqlite_summary(state_path), flush=True)
            else:
                url = server.fresh()
                figures = run(project, url, n, args, server, True)
                print(pg_summary(server, url), flush=True)
            results.append((name, figures))
        if args.compare:
            compare_table(results)
        return 0
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
