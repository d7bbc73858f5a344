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

On PostgreSQL (issue 13), with one or several daemons sharing the state:

    python bench/bench_timers.py --state postgres [--daemons 2]
    python bench/bench_timers.py --state postgresql://user@host:5432/db [--daemons 2]

The same state, made by the same engine on a scratch SQLite file, goes into the PostgreSQL
tables with COPY (`part` = the user's partition); the due timers go in last, once the state is
built, already due from LEAD seconds on. The daemons start once they have split the partitions.
`--state postgres` is a throwaway server set like SQLite (bench/pg_bench.py); a URL gets a fresh
schema, dropped after. A `cpu` line says how PostgreSQL and the daemons shared the machine while
the timers fired.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_serve import wait_for_split  # noqa: E402
from pg_bench import Server, cpu_seconds, settings  # noqa: E402

from channel_adapters.fake import FakeProvider  # noqa: E402
from journeyctl.daemon.core import Core  # noqa: E402
from journeyctl.state import codec, open_runtime  # noqa: E402
from journeyctl.state.partitions import partition_of  # noqa: E402

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


def seed(state: Path, first_due: float) -> tuple[dict[str, Any], str, int]:
    """One user taken to the wait by the real engine: its state, its timer's key and token."""
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
    return json.loads(template), key, token


def build_state(state: Path, users: int, due: int, rate: float, first_due: float) -> None:
    """One user taken to the wait by the real engine, then cloned `users` times."""
    raw, key, token = seed(state, first_due)
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


def start_daemons(project: Path, state: str, fake_url: str, count: int
                  ) -> list[tuple[subprocess.Popen[str], str]]:
    """`count` daemons on `state`: each process and its base URL."""
    env = {**os.environ, **CREDENTIALS}
    env.pop("JOURNEYCTL_API_TOKEN", None)
    started = []
    for _ in range(count):
        process = subprocess.Popen(
            [*journeyctl(), "serve", str(project), "--state", state, "--port", "0",
             "--base-url", fake_url, "--log-format", "json"],
            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        assert process.stderr is not None
        for line in process.stderr:
            record = json.loads(line)
            if record["message"].startswith("listening on"):
                break
        threading.Thread(target=lambda p=process: [None for _ in p.stderr],  # type: ignore
                         daemon=True).start()
        started.append((process, f"http://127.0.0.1:{record['port']}"))
    return started


def fire(project: Path, state: str, daemons: int, args: argparse.Namespace, first_due: float,
         server: Server | None = None) -> list[tuple[float, float]]:
    """Start the daemons, sample their RSS (the largest) every second until the due timers
    have fired, stop them; the samples (seconds from the first due time, MB)."""
    with FakeProvider(record=False) as fake:
        started = start_daemons(project, state, fake.url, daemons)
        if daemons > 1:
            wait_for_split([url for _, url in started])
        pids = [process.pid for process, _ in started]
        samples: list[tuple[float, float]] = []
        end = first_due + args.due / args.rate + 5
        cpu = None
        while time.time() < end:
            if cpu is None and time.time() >= first_due:
                cpu = (cpu_seconds(server.pids()) if server else 0.0, cpu_seconds(pids),
                       time.perf_counter())
            samples.append((time.time() - first_due, max(rss_mb(pid) for pid in pids)))
            time.sleep(1)
        if server is not None and cpu is not None:
            wall = time.perf_counter() - cpu[2]
            pg = (f"postgres {cpu_seconds(server.pids()) - cpu[0]:.1f} s, "
                  if server.cluster else "")
            print(f"cpu while firing: {pg}daemons {cpu_seconds(pids) - cpu[1]:.1f} s, "
                  f"in {wall:.1f} s wall", flush=True)
        for process, _ in started:
            process.send_signal(signal.SIGTERM)
        for process, _ in started:
            process.wait(60)
    return samples


def report(args: argparse.Namespace, lags: list[float], left: int, sent: dict[str, int],
           samples: list[tuple[float, float]]) -> None:
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


def sqlite_main(args: argparse.Namespace, work: Path, project: Path) -> None:
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
    samples = fire(project, f"sqlite:///{state}", 1, args, first_due)
    with sqlite3.connect(state) as db:
        lags = sorted(r[0] for r in db.execute(
            "SELECT created_at - json_extract(payload, '$.time') FROM outbox "
            "WHERE step = 'nudge'"))
        (left,), = db.execute("SELECT COUNT(*) FROM timers")
        sent = dict(db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
    report(args, lags, left, sent, samples)


def copy_rows(conn: Any, table: str, columns: str, rows: Any) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def pg_build(conn: Any, raw: dict[str, Any], key: str, token: int, users: int, due: int,
             parts: int, made: float) -> None:
    """Every user's state, instance and profile, and the timers not due in this run (a week
    out), COPied in; the due timers go in later (`pg_due_timers`)."""
    week = 7 * 86400

    def states() -> Any:
        for i in range(users):
            user = f"u{i:07}"
            raw["user_id"] = user
            yield user, partition_of(user, parts), codec.dumps(raw), made, 1

    with conn.transaction():
        conn.execute("DELETE FROM user_state")
        conn.execute("DELETE FROM timers")
        conn.execute("DELETE FROM instances")
        conn.execute("DELETE FROM profiles")
        conn.execute("DELETE FROM outbox")
        copy_rows(conn, "user_state", "user_id, part, state, updated_at, serial", states())
        copy_rows(conn, "instances", "user_id, journey, number, version, step, status, "
                  "entered_at, updated_at",
                  ((f"u{i:07}", "welcome", 1, 1, "pause", "active", made, made)
                   for i in range(users)))
        copy_rows(conn, "profiles", "user_id, part, data, updated_at",
                  ((u, partition_of(u, parts), codec.dumps(
                      {"email": f"{u}@example.com", "consent": {"email": True}}), made)
                   for u in (f"u{i:07}" for i in range(users))))
        copy_rows(conn, "timers", "user_id, part, key, token, due, set_at",
                  ((u, partition_of(u, parts), key, token, made + week + i, made)
                   for i, u in ((i, f"u{i:07}") for i in range(due, users))))
    conn.execute("ANALYZE")


def pg_due_timers(conn: Any, key: str, token: int, due: int, rate: float, parts: int,
                  first_due: float, made: float) -> None:
    copy_rows(conn, "timers", "user_id, part, key, token, due, set_at",
              ((u, partition_of(u, parts), key, token, first_due + i / rate, made)
               for i, u in ((i, f"u{i:07}") for i in range(due))))


def pg_main(args: argparse.Namespace, work: Path, project: Path) -> None:
    server = Server(None if args.state == "postgres" else args.state,
                    settings(args.pg_setting))
    try:
        url = server.fresh()
        subprocess.run([*journeyctl(), "apply", str(project), "--state", url,
                        "--auto-approve"], check=True, capture_output=True)
        scratch = work / "seed.db"  # the engine makes one waiting user here
        subprocess.run([*journeyctl(), "apply", str(project), "--state",
                        f"sqlite:///{scratch}", "--auto-approve"], check=True,
                       capture_output=True)
        started = time.perf_counter()
        made = time.time() - 10
        raw, key, token = seed(scratch, made + 10)
        with server.connect(url) as conn:
            (parts,), = conn.execute("SELECT value::int FROM meta WHERE key = 'partitions'")
            pg_build(conn, raw, key, token, args.users, args.due, parts, made)
            first_due = time.time() + LEAD
            pg_due_timers(conn, key, token, args.due, args.rate, parts, first_due, made)
            (size,), = conn.execute("SELECT pg_database_size(current_database())")
        print(f"built {args.users:,} waiting users in {time.perf_counter() - started:.0f} s "
              f"({size / 1e6:.0f} MB, COPY into PostgreSQL)", flush=True)
        samples = fire(project, url, args.daemons, args, first_due, server)
        with server.connect(url) as conn:
            lags = sorted(r[0] for r in conn.execute(
                "SELECT created_at - (convert_from(payload, 'UTF8')::jsonb ->> 'time')::float8 "
                "FROM outbox WHERE step = 'nudge'"))
            (left,), = conn.execute("SELECT COUNT(*) FROM timers")
            sent = dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status"))
        report(args, lags, left, sent, samples)
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="daemon timer firing benchmark")
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--state", help="postgresql://… (a fresh schema on it) or `postgres` "
                                        "(a throwaway server); default: a new SQLite file")
    parser.add_argument("--daemons", type=int, default=1, help="daemons on a PostgreSQL state")
    parser.add_argument("--pg-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the throwaway server (see bench/pg_bench.py)")
    args = parser.parse_args()
    if args.state is not None and not args.state.startswith(("postgres", "postgresql://")):
        parser.error("--state is `postgres` or a postgresql:// URL")
    if args.daemons > 1 and args.state is None:
        parser.error("--daemons > 1 needs a PostgreSQL --state (several daemons share one)")
    work = Path(tempfile.mkdtemp(prefix="jc-bench-timers-"))
    project = work / "project"
    shutil.copytree(ROOT / "tests" / "daemon" / "project", project)
    (project / "journeys" / "welcome.yaml").write_text(JOURNEY, encoding="utf-8")
    try:
        if args.state is None:
            sqlite_main(args, work, project)
        else:
            pg_main(args, work, project)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
