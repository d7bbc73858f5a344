"""Hostile input against the real daemon on loopback, with valid traffic from other clients at
the same time (issue 11).

    python bench/bench_hostile.py

Runs the example project (`journeys/`) applied to a fresh state and `journeyctl serve` as its
own process. For each class of hostile request it sends them all at once, while another client
sends 960 valid events over 32 connections, and prints one line per class:

- tried: hostile requests (or connections) sent;
- clean 4xx: answered 4xx with a JSON `error`;
- other: any other answer (`503` is the connection limit's answer, counted apart);
- stored: rows of the hostile clients' users found in the state afterwards (target: 0);
- valid failed: the valid requests sent meanwhile that did not get 202 (target: 0).

Then: the daemon's peak memory, and whether every valid event was processed (none set aside).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from bench_serve import ROOT, TOKEN, Daemon, journeyctl

from channel_adapters.fake import FakeProvider

VALID = 960  # valid requests per class, from another client
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@dataclass
class Outcome:
    tried: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # 0: no answer (closed, reset)
    clean: int = 0  # 4xx with a JSON error


def event(user: str, name: str = "app_open", **extra: object) -> dict[str, object]:
    return {"event_id": f"{user}-e", "user_id": user, "event": name, "timestamp": time.time(),
            **extra}


def deep_event(user: str, depth: int) -> bytes:
    """A bare event `depth` levels deep, the event itself the first (written out: the json
    module stops at about 1,000)."""
    head = json.dumps(event(user))[:-1]
    properties = '{"a": ' * (depth - 1) + "1" + "}" * (depth - 1)
    return f'{head}, "properties": {properties}}}'.encode()


def deep_profile(user: str, depth: int) -> bytes:
    """A profile `depth` levels deep (the body adds two: the object and its list)."""
    inner = '{"a": ' * (depth - 1) + "1" + "}" * (depth - 1)
    return f'{{"profiles": [{{"user_id": "{user}", "prefs": {inner}}}]}}'.encode()


def api_requests(prefix: str) -> dict[str, list[tuple[str, bytes]]]:
    """Class -> (path, body) of hostile API requests; every user id starts with `prefix`."""
    def dump(body: object) -> bytes:
        return json.dumps(body).encode()

    return {
        "event nesting 255-1,024": [("/v1/events", deep_event(f"{prefix}n{d}", d))
                              for d in range(255, 1025)],
        "event nesting 250-254": [("/v1/events", deep_event(f"{prefix}m{d}-{k}", d))
                            for d in range(250, 255) for k in range(8)],
        "event nesting 33-249": [("/v1/events", deep_event(f"{prefix}s{d}", d))
                                 for d in range(33, 250)],
        "profile nesting 33-1,022": [("/v1/profiles", deep_profile(f"{prefix}p{d}", d))
                                     for d in range(33, 1023, 5)],
        "long user_id": [("/v1/events", dump(event(prefix + "u" * n)))
                         for n in range(257, 200_000, 4000)],
        "long event name": [("/v1/events", dump(event(f"{prefix}e{n}", "x" * n)))
                            for n in range(257, 200_000, 4000)],
        "long event_id": [("/v1/events", dump({**event(f"{prefix}i{n}"), "event_id": "i" * n}))
                          for n in range(257, 200_000, 4000)],
        "body over 1 MiB": [("/v1/events", dump(event(f"{prefix}b{k}", properties={
            "x": "y" * (2 << 20)}))) for k in range(10)],
        "malformed JSON": [("/v1/events", b'{"user_id": "' + prefix.encode() + b'j", ' * k)
                           for k in range(1, 51)],
    }


async def valid_traffic(client: httpx.AsyncClient, tag: str) -> int:
    """VALID valid events at once over the client's connections; how many were not 202."""
    async def one(i: int) -> int:
        try:
            answer = await client.post("/v1/events", json=event(f"ok-{tag}-{i}"))
        except httpx.HTTPError:
            return 1
        return int(answer.status_code != 202)

    return sum(await asyncio.gather(*(one(i) for i in range(VALID))))


async def hostile_api(url: str, requests: list[tuple[str, bytes]]) -> Outcome:
    outcome = Outcome(tried=len(requests))
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, limits=limits,
                                 timeout=120) as client:
        async def one(path: str, body: bytes) -> None:
            try:
                answer = await client.post(path, content=body)
            except httpx.HTTPError:
                outcome.statuses[0] += 1
                return
            outcome.statuses[answer.status_code] += 1
            outcome.clean += 400 <= answer.status_code < 500 and "error" in answer.json()

        await asyncio.gather(*(one(path, body) for path, body in requests))
    return outcome


async def raw(port: int, send: Callable[[asyncio.StreamWriter], Awaitable[None]],
              outcome: Outcome) -> None:
    """One raw connection: `send` writes (part of) a request; the answer is read to the end."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        outcome.statuses[0] += 1
        return
    answer = b""
    try:
        await send(writer)
        answer = await asyncio.wait_for(reader.read(), 120)
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
    status = int(answer[9:12]) if answer.startswith(b"HTTP/1.1 ") else 0
    outcome.statuses[status] += 1
    outcome.clean += 400 <= status < 500 and b'"error"' in answer


async def connections(port: int, send: Callable[[asyncio.StreamWriter], Awaitable[None]],
                      count: int) -> Outcome:
    outcome = Outcome(tried=count)
    await asyncio.gather(*(raw(port, send, outcome) for _ in range(count)))
    return outcome


async def huge_header(writer: asyncio.StreamWriter) -> None:
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(32):
        writer.write(b"a" * (1 << 20))
        await writer.drain()
    writer.write(b"\r\n\r\n")


async def long_head(writer: asyncio.StreamWriter) -> None:
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")


async def slow_head(writer: asyncio.StreamWriter) -> None:
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and nothing more


async def slow_body(writer: asyncio.StreamWriter) -> None:
    writer.write(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Content-Length: 1000\r\n\r\n{".encode())


async def run_all(daemon: Daemon) -> tuple[dict[str, Outcome], dict[str, int]]:
    port = int(daemon.url.rsplit(":", 1)[1])
    results: dict[str, Outcome] = {}
    failed: dict[str, int] = {}
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(base_url=daemon.url, headers=HEADERS, limits=limits,
                                 timeout=120) as valid:
        await valid_traffic(valid, "warm")  # its connections are open before the flood
        classes: dict[str, Callable[[], Awaitable[Outcome]]] = {
            name: (lambda r=requests: hostile_api(daemon.url, r))
            for name, requests in api_requests("h-").items()}
        classes |= {
            "header 32 MB (/healthz)": lambda: connections(port, huge_header, 4),
            "head over 16 KiB": lambda: connections(port, long_head, 50),
            "slow head (2,000 conns)": lambda: connections(port, slow_head, 2000),
            "slow body": lambda: connections(port, slow_body, 50),
        }
        for name, hostile in classes.items():
            outcome, failed[name] = await asyncio.gather(hostile(), valid_traffic(valid, name))
            results[name] = outcome
    return results, failed


def stored(state: Path) -> dict[str, int]:
    db = sqlite3.connect(state)
    try:
        counts = {table: db.execute(f"SELECT COUNT(*) FROM {table} WHERE user_id LIKE 'h-%'"
                                    ).fetchone()[0] for table in ("inbox", "profiles")}
        counts["valid unprocessed"] = db.execute(
            "SELECT COUNT(*) FROM inbox WHERE user_id LIKE 'ok-%' AND processed_at IS NULL"
        ).fetchone()[0]
        counts["set aside"] = db.execute("SELECT COUNT(*) FROM set_aside").fetchone()[0]
    finally:
        db.close()
    return counts


def peak_memory(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) // 1024
    return 0


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="jc-bench-hostile-"))
    project = work / "journeys"
    shutil.copytree(ROOT / "journeys", project)
    state = work / "state.db"
    subprocess.run([*journeyctl(), "apply", str(project), "--state", f"sqlite:///{state}",
                    "--auto-approve"], check=True, capture_output=True)
    with FakeProvider() as fake:
        daemon = Daemon(project, state, fake.url)
        try:
            start_memory = peak_memory(daemon.process.pid)
            results, failed = asyncio.run(run_all(daemon))
            daemon.drain()
            memory = peak_memory(daemon.process.pid)
            healthy = daemon.client.get("/healthz").status_code
        finally:
            daemon.stop()
    counts = stored(state)
    print(f"{'class':<26} {'tried':>6} {'clean 4xx':>9} {'other':<28} {'valid failed':>12}")
    for name, outcome in results.items():
        other = {s: n for s, n in sorted(outcome.statuses.items())
                 if not (400 <= s < 500)}
        print(f"{name:<26} {outcome.tried:>6} {outcome.clean:>9} {other or ''!s:<28} "
              f"{failed[name]:>5} of {VALID}")
    print(f"stored from hostile clients: {counts['inbox']} events, {counts['profiles']} "
          f"profiles; valid events unprocessed: {counts['valid unprocessed']}, set aside: "
          f"{counts['set aside']}")
    print(f"daemon peak memory: {start_memory} MB at start, {memory} MB at the end; /healthz "
          f"after: {healthy}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
