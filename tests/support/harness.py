"""Running the real daemon for tests: `journeyctl serve` as a subprocess on a free loopback
port, the real state (an SQLite file, or a PostgreSQL database given by its URL), and the fake
provider (real HTTP) standing in for SendGrid, Twilio, FCM and the CRM webhook."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from journeyctl.daemon.core import Core
from journeyctl.state import codec, open_runtime, parse_state_url
from tests.support import REPO, journeyctl_command, run_cli

PROJECT = REPO / "tests" / "daemon" / "project"
TOKEN = "test-token-4f0c2b"
CREDENTIALS = {
    "SENDGRID_API_KEY": "SG.test-key", "TWILIO_ACCOUNT_SID": "AC0123456789",
    "TWILIO_AUTH_TOKEN": "twilio-secret", "FCM_ACCESS_TOKEN": "ya29.test",
    "CRM_WEBHOOK_SECRET": "crm-shared-secret",
}
PATHS = {"email": "/v3/mail/send", "sms": "/2010-04-01/Accounts/AC0123456789/Messages.json",
         "push": "/v1/projects/daemon-test/messages:send", "crm": "/hooks/journeyctl"}


def project_copy(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(PROJECT, root)
    return root


def project_where(tmp_path: Path, where: str) -> Path:
    """The test project, with `welcome` entered on signups where the CEL `where` holds, and
    signups declaring a list property `items`."""
    root = project_copy(tmp_path)
    welcome = root / "journeys/welcome.yaml"
    welcome.write_text(welcome.read_text(encoding="utf-8").replace(
        "trigger:\n  event: signup\n", f"trigger:\n  event: signup\n  where: '{where}'\n"),
        encoding="utf-8")
    events = root / "events.yaml"
    events.write_text(events.read_text(encoding="utf-8").replace(
        "      plan: {type: string}\n", "      plan: {type: string}\n      items: {type: list}\n"),
        encoding="utf-8")
    return root


State = Path | str  # an SQLite file, or a postgresql:// URL

# On a test using the daemon tests' `state` fixture (tests/daemon/conftest.py), directly or
# through `applied`/`store`: run it on SQLite only. Say why in a comment beside it.
SQLITE_ONLY = pytest.mark.parametrize("state", ["sqlite"], indirect=True)


def apply(project: Path, state: State) -> None:
    done = run_cli("apply", project, "--state", state_url(state), "--auto-approve")
    assert done.returncode == 0, done.stdout + done.stderr


def scheduled(tmp_path: Path, journey: str, cron: str, audience: str | None = None,
              state: State | None = None) -> State:
    """The test project plus a `schedule` journey mailing whoever is in its audience, applied
    to `state` (by default a new SQLite file); the state."""
    root = project_copy(tmp_path)
    who = f"audience: '{audience}'\n" if audience else ""
    (root / "journeys" / f"{journey}.yaml").write_text(
        f"journey: {journey}\nstatus: active\ntrigger: {{schedule: '{cron}'}}\n{who}"
        "steps:\n  - id: mail\n    send: {channel: email, template: reminder_email}\n",
        encoding="utf-8")
    state = tmp_path / "state.db" if state is None else state
    apply(root, state)
    return state


def profiles(rng: random.Random, count: int) -> list[dict]:
    """`count` users of the test project: most with an email address, some with a push token,
    a few VIPs with a phone number (SMS)."""
    out = []
    for i in range(count):
        profile: dict = {"user_id": f"u{i:02}", "name": f"고객{i}",
                         "consent": {"email": rng.random() < 0.8, "sms": True, "push": True}}
        if rng.random() < 0.9:
            profile["email"] = f"u{i}@example.com"
        if rng.random() < 0.5:
            profile["push_token"] = f"tok-{i}"
        if rng.random() < 0.3:
            profile["vip"] = True
            profile["phone"] = f"+8210{i:08}"
        out.append(profile)
    return out


def schedule(rng: random.Random, users: list[dict]) -> list[tuple[float, dict]]:
    """(seconds from the start, event): signups over 2 s, purchases and unsubscribes after."""
    plan = []
    for n, profile in enumerate(users):
        user = profile["user_id"]
        at = rng.uniform(0, 2)
        plan.append((at, {"event_id": f"s-{user}", "user_id": user, "event": "signup"}))
        roll = rng.random()
        if roll < 0.3:
            plan.append((at + rng.uniform(0.5, 4.5), {
                "event_id": f"p-{user}", "user_id": user, "event": "purchase",
                "properties": {"amount": float(n * 1000)}}))
        elif roll < 0.4:
            plan.append((at + rng.uniform(0.5, 4.5), {"event_id": f"x-{user}", "user_id": user,
                                                      "event": "unsubscribe"}))
    return sorted(plan, key=lambda item: item[0])


class MovableClock:
    """The daemon's clock in tests that build the core in-process: it reads `now`, which the
    test sets (time moves only when the test moves it)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def open_core(state: State, clock: Callable[[], float] = time.time, **options: Any) -> Core:
    """The daemon's core on `state`, in this process, reading `clock`."""
    location = state if isinstance(state, Path) else parse_state_url(state, Path("."))
    core = Core(open_runtime(location), clock=clock, **options)
    core.runtime.heartbeat()  # as `serve` does first: a shared state's partitions, taken
    return core


def state_url(state: State) -> str:
    return state if isinstance(state, str) else f"sqlite:///{state.resolve()}"


def rows(state: State, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of a query on the state (`?` for parameters, in either store)."""
    if isinstance(state, str):
        return pg_rows(state, _pg_sql(sql), *args)
    db = sqlite3.connect(state, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _pg_sql(sql: str) -> str:
    """`?`-parameter SQL for psycopg: `%s` parameters, a literal % (LIKE 'a%') doubled."""
    return sql.replace("%", "%%").replace("?", "%s")


def pg_rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    import psycopg

    from journeyctl.state.urls import PostgresUrl, parse_state_url

    where = parse_state_url(url, Path("."))
    assert isinstance(where, PostgresUrl)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {where.schema}")
        return conn.execute(sql, args).fetchall()  # type: ignore[arg-type]


def execute(state: State, sql: str, *args: Any) -> None:
    """Run a statement that returns no rows on the state, committed (`?` for parameters)."""
    if isinstance(state, str):
        import psycopg

        from journeyctl.state.urls import PostgresUrl

        where = parse_state_url(state, Path("."))
        assert isinstance(where, PostgresUrl)
        with psycopg.connect(where.conninfo, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {where.schema}")
            conn.execute(_pg_sql(sql), args)  # type: ignore[arg-type]
        return
    db = sqlite3.connect(state, timeout=10, isolation_level=None)
    try:
        db.execute(sql, args)
    finally:
        db.close()


def payloads(state: State, field: str, where: str = "", *args: Any) -> list[Any]:
    """`field` of each outbox row's payload (decoded in Python: the stores keep payloads as
    encoded bytes), in id order; `where` an SQL condition on the outbox."""
    found = rows(state, f"SELECT payload FROM outbox {'WHERE ' + where if where else ''} "
                        "ORDER BY id", *args)
    return [_field(codec.loads(payload), field) for (payload,) in found]


def _field(value: Any, path: str) -> Any:
    for key in path.split("."):
        value = value[key]
    return value


def ticks(state: State) -> list[tuple[Any, ...]]:
    """(journey, last fire recorded, fire still to deliver or None) of each schedule: one row
    in SQLite's `ticks`; PostgreSQL delivers a fire partition by partition (`tick_parts`), so
    the earliest still to deliver there."""
    if isinstance(state, Path):
        return rows(state, "SELECT journey, last_at, pending_at FROM ticks ORDER BY journey")
    return rows(state, "SELECT t.journey, t.last_at, (SELECT MIN(p.pending_at) FROM tick_parts "
                       "p WHERE p.journey = t.journey) FROM ticks t ORDER BY t.journey")


def counted(report: dict[str, Any]) -> dict[str, Any]:
    """What the daemon's live report and the simulate report both count, to compare them:
    the run's window and the rest of its `events` block are each host's own (the daemon
    never stores rejected or duplicate events; its window is what was asked)."""
    journeys = {j: {k: v for k, v in data.items() if k != "versions"}
                for j, data in report["journeys"].items()}
    return {"journeys": journeys, "messages": report["messages"], "users": report["users"],
            "attribution": report["attribution"], "read": report["events"]["read"],
            "failed_expressions": report["failed_expressions"]}


def wait_until(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {check}")
        time.sleep(every)


class Served:
    """One `journeyctl serve` process. Its JSON log lines are collected in `logs`."""

    def __init__(self, project: Path, state: State, base_url: str | list[str], *,
                 token: str | None = TOKEN, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> None:
        urls = [base_url] if isinstance(base_url, str) else base_url
        command = [*journeyctl_command(), "serve", str(project), "--state", state_url(state),
                   "--port", "0", "--log-format", "json", *args]
        for url in urls:
            command += ["--base-url", url]
        full_env = {**os.environ, **CREDENTIALS, "NO_COLOR": "1", **(env or {})}
        full_env.pop("JOURNEYCTL_API_TOKEN", None)
        if token is not None:
            full_env["JOURNEYCTL_API_TOKEN"] = token
        self.process = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8")
        self.logs: list[dict[str, Any]] = []
        self.other: list[str] = []  # stderr lines that are not JSON (there should be none)
        self._listening = threading.Event()
        self.port = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._listening.wait(30):
            self.kill()
            raise AssertionError(f"serve did not start: {self.other} {self.logs}")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Idle connections are dropped before the daemon's 5 s keep-alive ends: a request sent
        # on one just as the daemon closes it would be reset.
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=30,
                                   limits=httpx.Limits(keepalive_expiry=2.0))

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                self.other.append(line.rstrip("\n"))
                continue
            self.logs.append(record)
            if record.get("message", "").startswith("listening on"):
                self.port = int(record["port"])
                self._listening.set()
        self._listening.set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.client.post(path, json=body)

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the graceful shutdown."""
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._close()
        return code

    def kill(self) -> None:
        """kill -9: no chance to finish anything."""
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._close()

    def _close(self) -> None:
        self._reader.join(5)
        assert self.process.stderr is not None
        self.process.stderr.close()

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.stop()


class Client(threading.Thread):
    """Posts batches of signups and purchases (users `u{batch:03}-{0..9}`) round-robin to the
    daemons in `alive` (a list the test may change: a daemon killed, restarted); a batch whose
    connection fails is posted again, to the next daemon, until one acknowledges it (202). A
    503 (the store down) is posted again too when `refusals` says the test expects it;
    otherwise any answer but 202 fails the test."""

    def __init__(self, alive: list[Served], batches: int, pause: float = 0.02,
                 refusals: bool = False) -> None:
        super().__init__(daemon=True)
        self.alive = alive
        self.batches = batches
        self.pause = pause
        self.refusals = refusals
        self.acknowledged: set[str] = set()
        self.refused = 0  # answers other than 202 (503 while the store is down)
        self.retries = 0  # connections that failed (a daemon killed)
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            for b in range(self.batches):
                events = []
                for i in range(10):
                    user = f"u{b:03}-{i}"
                    events.append({"event_id": f"s-{user}", "user_id": user, "event": "signup",
                                   "timestamp": time.time()})
                    events.append({"event_id": f"p-{user}", "user_id": user,
                                   "event": "purchase", "timestamp": time.time(),
                                   "properties": {"amount": 10.0 + i}})
                self._post(b, events)
                time.sleep(self.pause)
        except BaseException as exc:  # surfaced by the test
            self.failure = exc

    def _post(self, b: int, events: list[dict]) -> None:
        deadline = time.monotonic() + 120
        turn = b
        while time.monotonic() < deadline:
            served = self.alive[turn % len(self.alive)]
            turn += 1
            try:
                response = httpx.post(f"{served.url}/v1/events", json={"events": events},
                                      headers={"Authorization": served.client.headers[
                                          "authorization"]}, timeout=10)
            except httpx.TransportError:
                self.retries += 1
                time.sleep(0.05)
                continue
            if response.status_code != 202:
                assert self.refusals and response.status_code == 503, response.text
                self.refused += 1
                time.sleep(0.2)
                continue
            self.acknowledged.update(e["event_id"] for e in events)
            return
        raise AssertionError("no daemon acknowledged the batch")
