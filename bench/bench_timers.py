"""Daemon timers: 1M pending waits in the store, firing at 1,000/s — lag and memory.

    python bench/bench_timers.py [--users 1000000] [--due 60000] [--rate 1000]

Builds a state with `--users` users each waiting at the `pause` step of a `welcome` journey
(the daemon test project's, reduced to a wait and an email): one real user's state, made by the
engine, cloned. `--due` of the waits come due at `--rate` per second starting 20 s after the
daemon is started; the rest are due in a week (they only sit in the index). Each fire runs the
journey on to its `nudge` send, so the lag is measured from the outbox: when the transition was
committed minus when the timer was due. The daemon's RSS is sampled every second while the
timers fire.

Target (issue 6): firing lag p99 ≤ 1 s at 1,000 fires/s, memory flat.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channel_adapters.fake import FakeProvider  # noqa: E402
from journeyctl.daemon.core import Core  # noqa: E402
from journeyctl.state import open_runtime  # noqa: E402

CREDENTIALS = {"SENDGRID_API_KEY": "SG.bench", "TWILIO_ACCOUNT_SID": "ACbench",
               "TWILIO_AUTH_TOKEN": "bench", "FCM_ACCESS_TOKEN": "ya29.bench",
               "CRM_WEBHOOK_SECRET": "bench"}
# One wait, then one message: each fire is one engine transition and one delivery.
JOURNEY = """journey: welcome
status: active
trigger: {event: signup}
steps:
  - id: pause
    wait: 1h
  - id: nudge
    send: {channel: email, template: nudge_email}
"""
LEAD = 20.0  # seconds from starting the daemon to the first due timer


def journeyctl() -> list[str]:
    script = Path(sys.executable).parent / "journeyctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "journeyctl"]


def build_state(state: Path, users: int, due: int, rate: float, first_due: float) -> None:
    """One user taken to the wait by the real engine, then cloned `users` times."""
    core = Core(open_runtime(state), clock=lambda: first_due - 10)
    core.upsert_profiles([{"user_id": "seed", "email": "seed@example.com",
                           "consent": {"email": True}}])
    core.ingest([[{"event_id": "seed", "user_id": "seed", "event": "signup",
                   "time": first_due - 10, "properties": {}}]])
    core.process()
    db = core.runtime.store.db
    assert db is not None
    (template,), = db.execute("SELECT state FROM user_state WHERE user_id = 'seed'")
    (key, token), = db.execute("SELECT key, token FROM timers WHERE user_id = 'seed'")
    core.close()
    raw = json.loads(template)
    db = sqlite3.connect(state)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("DELETE FROM user_state")
    db.execute("DELETE FROM timers")
    db.execute("DELETE FROM instances")
    week = 7 * 86400
    chunk = 50_000
    for start in range(0, users, chunk):
        states, timers, instances, profiles = [], [], [], []
        for i in range(start, min(users, start + chunk)):
            user = f"u{i:07}"
            when = first_due + i / rate if i < due else first_due + week + i
            raw["user_id"] = user
            raw["journeys"]["welcome"]["active"]["wait"][2] = when
            states.append((user, json.dumps(raw), first_due - 10))
            timers.append((user, key, token, when, first_due - 10))
            instances.append((user, "welcome", 1, 1, "pause", "active", first_due - 10,
                              first_due - 10))
            profiles.append((user, json.dumps({"email": f"{user}@example.com",
                                               "consent": {"email": True}}), first_due - 10))
        with db:
            db.executemany("INSERT INTO user_state (user_id, state, updated_at, serial) "
                           "VALUES (?, ?, ?, 1)", states)  # reconciled with the one apply
            db.executemany("INSERT INTO timers (user_id, key, token, due, set_at) VALUES "
                           "(?, ?, ?, ?, ?)", timers)
            db.executemany("INSERT INTO instances VALUES (?, ?, ?, ?, ?, ?, ?, ?)", instances)
            db.executemany("INSERT OR REPLACE INTO profiles VALUES (?, ?, ?)", profiles)
    db.execute("DELETE FROM outbox")
    db.commit()
    db.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description="daemon timer firing benchmark")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="jc-bench-timers-"))
    project = work / "project"
    shutil.copytree(ROOT / "tests" / "daemon" / "project", project)
    (project / "journeys" / "welcome.yaml").write_text(JOURNEY, encoding="utf-8")
    state = work / "state.db"
    subprocess.run([*journeyctl(), "apply", str(project), "--state", f"sqlite:///{state}",
                    "--auto-approve"], check=True, capture_output=True)
    started = time.perf_counter()
    first_due = time.time() + 3600  # provisional, moved below once the state is built
    build_state(state, args.users, args.due, args.rate, first_due)
    print(f"built {args.users:,} waiting users in {time.perf_counter() - started:.0f} s "
          f"({state.stat().st_size / 1e6:.0f} MB)", flush=True)
    # move the due times so the first is LEAD seconds from now
    shift = time.time() + LEAD - first_due
    with sqlite3.connect(state) as db:
        db.execute("UPDATE timers SET due = due + ?", [shift])
    first_due += shift

    with FakeProvider(record=False) as fake:
        env = {**os.environ, **CREDENTIALS}
        env.pop("JOURNEYCTL_API_TOKEN", None)
        process = subprocess.Popen(
            [*journeyctl(), "serve", str(project), "--state", f"sqlite:///{state}", "--port",
             "0", "--base-url", fake.url, "--log-format", "json"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert process.stderr is not None
        for line in process.stderr:
            if json.loads(line)["message"].startswith("listening on"):
                break
        threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
        samples: list[tuple[float, float]] = []
        end = first_due + args.due / args.rate + 5
        while time.time() < end:
            samples.append((time.time() - first_due, rss_mb(process.pid)))
            time.sleep(1)
        process.send_signal(signal.SIGTERM)
        process.wait(60)

    with sqlite3.connect(state) as db:
        lags = sorted(r[0] for r in db.execute(
            "SELECT created_at - json_extract(payload, '$.time') FROM outbox "
            "WHERE step = 'nudge'"))
        (left,), = db.execute("SELECT COUNT(*) FROM timers")
        sent = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    fired = len(lags)
    print(f"fired {fired:,} of {args.due:,} due timers at {args.rate:.0f}/s with "
          f"{left:,} still pending; messages {sent}")
    if lags:
        print(f"firing lag  p50 {lags[fired // 2] * 1000:.0f} ms  p99 "
              f"{lags[min(fired - 1, int(fired * 0.99))] * 1000:.0f} ms  max "
              f"{lags[-1] * 1000:.0f} ms")
    firing = [mb for t, mb in samples if 0 <= t <= args.due / args.rate]
    if firing:
        print(f"daemon RSS while firing: start {firing[0]:.0f} MB, max {max(firing):.0f} MB, "
              f"end {firing[-1]:.0f} MB")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
