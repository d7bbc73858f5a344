"""Outage benchmark: a provider that fails for a while, then recovers (issue 11, item 9).

    python bench/bench_outage.py [--messages 600] [--seconds 30] [--fault 500|refuse]
                                 [--max-backoff 5m]

A real `journeyctl serve` (its own process) on the daemon tests' project reduced to one
journey (one email per signup), the fake provider in this process. The provider starts failing
(HTTP 500 to every request, or refusing connections), the signups are posted, and after
`--seconds` the fault ends by itself. Prints one line:

- messages, outage seconds;
- delivered (`sent` in the outbox), failed (`failed` or `expired`);
- provider calls in all, and repeated calls (a message accepted more than once);
- time to drain after recovery: from the end of the outage to the last message accepted;
- what the daemon said: the channel's health warnings and the /healthz states seen.

The email channel keeps the default retry policy (`attempts: 3, backoff: 1s`) with
`max_backoff` from `--max-backoff` (the default policy's 5m unless given).
"""

from __future__ import annotations

import argparse
import collections
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_serve import CREDENTIALS, ROOT, TOKEN, journeyctl

from channel_adapters.fake import FakeProvider
from channel_adapters.fake_faults import Fault

MAILER = """journey: mailer
status: active
trigger: {event: signup}
steps:
  - id: mail
    send: {channel: email, template: welcome_email, category: transactional}
"""
EMAIL = "/v3/mail/send"


def project(work: Path, max_backoff: str) -> Path:
    root = work / "project"
    shutil.copytree(ROOT / "tests" / "daemon" / "project", root)
    for name in ("welcome.yaml", "receipt.yaml"):
        (root / "journeys" / name).unlink()
    (root / "journeys" / "mailer.yaml").write_text(MAILER, encoding="utf-8")
    channels = root / "channels.yaml"
    text = channels.read_text(encoding="utf-8")
    email = text.index("  email:")
    rest = text[email:].replace(
        "timeout: 2s\n    retry: {attempts: 3, backoff: 1s, max_backoff: 2s}",
        f"timeout: 10s\n    retry: {{attempts: 3, backoff: 1s, max_backoff: {max_backoff}}}", 1)
    channels.write_text(text[:email] + rest, encoding="utf-8")
    return root


class Daemon:
    def __init__(self, root: Path, state: Path, fake_url: str) -> None:
        env = {**os.environ, **CREDENTIALS, "JOURNEYCTL_API_TOKEN": TOKEN}
        self.process = subprocess.Popen(
            [*journeyctl(), "serve", str(root), "--state", f"sqlite:///{state}", "--port", "0",
             "--base-url", fake_url, "--log-format", "json"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        self.logs: list[dict[str, Any]] = []
        started = threading.Event()
        threading.Thread(target=self._read, args=(started,), daemon=True).start()
        if not started.wait(60) or not hasattr(self, "url"):
            raise SystemExit("serve did not start")
        self.client = httpx.Client(base_url=self.url, timeout=60,
                                   headers={"Authorization": f"Bearer {TOKEN}"})

    def _read(self, started: threading.Event) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            record = json.loads(line)
            self.logs.append(record)
            if record["message"].startswith("listening on"):
                self.url = f"http://127.0.0.1:{record['port']}"
                started.set()
        started.set()

    def health(self) -> str:
        body = self.client.get("/healthz").json()
        return body["status"] + (f" ({body['channels']['email']})" if "channels" in body else "")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def outbox(state: Path) -> dict[str, int]:
    db = sqlite3.connect(state, timeout=10)
    try:
        return dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    finally:
        db.close()


def run(messages: int, seconds: float, fault: Fault, max_backoff: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="jc-bench-outage-"))
    root, state = project(work, max_backoff), work / "state.db"
    subprocess.run([*journeyctl(), "apply", str(root), "--state", f"sqlite:///{state}",
                    "--auto-approve"], check=True, capture_output=True)
    seen: list[str] = []
    with FakeProvider() as fake:
        daemon = Daemon(root, state, fake.url)
        try:
            daemon.client.post("/v1/profiles", json={"profiles": [
                {"user_id": f"u{i}", "email": f"u{i}@example.com"} for i in range(messages)]})
            fake.inject(fault)
            began = time.time()
            daemon.client.post("/v1/events", json={"events": [
                {"event_id": f"s{i}", "user_id": f"u{i}", "event": "signup",
                 "timestamp": time.time()} for i in range(messages)]}).raise_for_status()
            while sum(outbox(state).values()) < messages or outbox(state).get("pending"):
                state_now = daemon.health()
                if not seen or seen[-1] != state_now:
                    seen.append(state_now)
                time.sleep(0.2)
            seen.append(daemon.health())
        finally:
            daemon.stop()
        calls = fake.received(EMAIL)
    recovered = began + seconds
    accepted = [r for r in calls if r.status == 202]
    per_address = collections.Counter(r.json()["personalizations"][0]["to"][0]["email"]
                                      for r in accepted)
    statuses = outbox(state)
    drain = max(r.received_at for r in accepted) - recovered if accepted else float("nan")
    warnings = [r["message"] for r in daemon.logs
                if r["level"] == "warning" and r.get("channel") == "email"]
    print(f"{fault.describe()}: {messages} messages, outage {seconds:g}s, delivered "
          f"{statuses.get('sent', 0)}, failed {statuses.get('failed', 0)} (expired "
          f"{statuses.get('expired', 0)}), {len(calls)} provider calls, "
          f"{sum(n - 1 for n in per_address.values())} repeated, drained {drain:.1f}s "
          f"after recovery", flush=True)
    print(f"  warnings: {warnings}\n  /healthz: {' → '.join(_squash(seen))}", flush=True)
    shutil.rmtree(work, ignore_errors=True)


def _squash(states: list[str]) -> list[str]:
    """The health states in order, the failure counts left out (they change every poll)."""
    out: list[str] = []
    for s in states:
        why = s.rsplit("(", 1)[1].rstrip(")") if "(" in s else ""
        short = s.split(" (")[0] + (f" ({why})" if why else "")
        if not out or out[-1] != short:
            out.append(short)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="a provider outage, then recovery")
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--fault", choices=["500", "refuse"], default="500")
    parser.add_argument("--max-backoff", default="5m")
    args = parser.parse_args()
    fault = (Fault(fail=500, duration=args.seconds) if args.fault == "500"
             else Fault(refuse=True, duration=args.seconds))
    run(args.messages, args.seconds, fault, args.max_backoff)
    return 0


if __name__ == "__main__":
    sys.exit(main())
