"""Hostile input and a failing store against the real `journeyctl serve` on loopback (issue 11):
one request never fails another's, connections are bounded, /healthz tells the truth about the
store, and a damaged state file is a located JC960 for every command that opens it."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support import run_cli
from tests.support.harness import (
    CREDENTIALS,
    SQLITE_ONLY,
    TOKEN,
    Served,
    apply,
    project_copy,
    rows,
    state_url,
    wait_until,
)

pytestmark = pytest.mark.e2e  # every test here starts a process

# The limits as docs/daemon.md ("Limits") states them; written out, not imported, so that these
# tests also run (and fail) against a daemon without them.
MAX_DEPTH = 32  # levels of objects and arrays in a record, the record itself the first
HEAD = 16 * 1024  # bytes of request line and headers
READ_TIMEOUT = 10.0  # seconds to send a request in full
KEEP_ALIVE = 5.0  # seconds an idle kept-alive connection stays open
CONNECTIONS = 1000  # open at once


def nested(depth: int) -> object:
    """A value `depth` objects deep."""
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def deep_signup(user: str, depth: int) -> bytes:
    """A signup whose properties are `depth` objects deep, as JSON (the json module would stop
    at its recursion limit)."""
    head = json.dumps(signup(user, user))[:-1]
    properties = '{"a": ' * depth + "1" + "}" * depth
    return f'{head}, "properties": {properties}}}'.encode()


def signup(user: str, event_id: str, **extra: object) -> dict:
    return {"event_id": event_id, "user_id": user, "event": "signup", "timestamp": time.time(),
            **extra}


# --- 3. one request never fails another's ----------------------------------------------------

async def _post_all(url: str, bodies: list[bytes]) -> list[httpx.Response | BaseException]:
    limits = httpx.Limits(max_connections=64)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=120) as client:
        return await asyncio.gather(*(client.post("/v1/events", content=body)
                                      for body in bodies), return_exceptions=True)


# SQLite only: refused at intake, before the store (a request the store cannot take failing
# alone, on PostgreSQL too: test_ingest.py); and slow (1,000 requests)
@SQLITE_ONLY
def test_a_deeply_nested_event_is_refused_alone_and_valid_ones_all_run(applied, fake) -> None:
    project, state = applied
    # the depths of the issue: 255-1,024 made the shared commit fail; 250-253 were
    # acknowledged and then set aside by the engine; just over the limit is refused too
    deep = [*range(255, 1025, 24), 1023, 250, 251, 252, 253, MAX_DEPTH]
    valid = [json.dumps(signup(f"ok{i}", f"ok{i}")).encode() for i in range(960)]
    hostile = [deep_signup(f"deep{d}", d) for d in deep]
    bodies = list(valid)
    for n, body in enumerate(hostile):  # spread among the valid ones: same commit groups
        bodies.insert(n * len(valid) // len(hostile) + n, body)
    with Served(project, state, fake.url) as served:
        answers = asyncio.run(_post_all(served.url, bodies))
        by_body = {body: getattr(a, "status_code", a) for body, a in zip(bodies, answers,
                                                                         strict=True)}
        failed = [by_body[body] for body in valid if by_body[body] != 202]
        assert failed == []
        for depth, body in zip(deep, hostile, strict=True):
            answer = answers[bodies.index(body)]
            assert isinstance(answer, httpx.Response) and answer.status_code == 400, depth
            assert f"nested more than {MAX_DEPTH} levels deep" in \
                answer.json()["rejected"][0]["error"]
        # just under the limit is fine: the record is 1 level, properties 31 more
        assert served.post("/v1/events", signup("edge", "edge", properties=nested(
            MAX_DEPTH - 2))).status_code == 202
        # what was acknowledged runs: every valid event processed, none set aside
        wait_until(lambda: rows(state, "SELECT COUNT(*) FROM inbox WHERE processed_at IS "
                                       "NULL") == [(0,)], timeout=60)
    assert rows(state, "SELECT COUNT(*) FROM inbox") == [(961,)]
    assert rows(state, "SELECT COUNT(*) FROM inbox WHERE user_id LIKE 'deep%'") == [(0,)]
    assert rows(state, "SELECT COUNT(*) FROM set_aside") == [(0,)]


def test_ids_names_and_profiles_have_limits(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served:
        for field, value in (("user_id", "u" * 257), ("event_id", "e" * 257),
                             ("event", "x" * 257), ("user_id", "가" * 86)):
            answer = served.post("/v1/events", {**signup("u", "e"), field: value})
            assert answer.status_code == 400, answer.text
            error = answer.json()["rejected"][0]["error"]
            assert f"{field} is {len(value.encode())} bytes long; the limit is 256" == error
        assert served.post("/v1/events", signup("가" * 85, "e")).status_code == 202  # 255 B
        deep_profile = {"user_id": "p", "prefs": nested(MAX_DEPTH)}
        long_user = {"user_id": "p" * 300, "name": "x"}
        answer = served.post("/v1/profiles", {"profiles": [deep_profile, long_user]})
        assert answer.status_code == 400
        assert answer.json()["rejected"] == [
            {"index": 0, "error": f"nested more than {MAX_DEPTH} levels deep (objects and "
                                  "arrays, the record itself the first): flatten the properties"},
            {"index": 1, "error": "user_id is 300 bytes long; the limit is 256"}]
        assert served.post("/v1/profiles", {"profiles": [{"user_id": "p", "prefs": nested(
            MAX_DEPTH - 1)}]}).status_code == 200
    assert rows(state, "SELECT user_id FROM profiles") == [("p",)]
    assert rows(state, "SELECT COUNT(*) FROM inbox") == [(1,)]


# --- 4. connections are bounded ---------------------------------------------------------------

def read_answer(sock: socket.socket, timeout: float, until: bytes | None = None) -> bytes:
    """Everything the server sends until it closes the connection (or, on a connection kept
    alive, until `until` has arrived)."""
    sock.settimeout(timeout)
    data = b""
    while (until is None or until not in data) and (chunk := sock.recv(65536)):
        data += chunk
    return data


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def peak_memory(pid: int) -> int:
    """The process's peak resident memory, in bytes (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def send_huge_header(port: int) -> int:
    """Send a 32 MB header to /healthz; the bytes sent before the server stopped taking them."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(60)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            while sent < 32 << 20:
                sock.sendall(b"a" * (1 << 20))
                sent += 1 << 20
            sock.sendall(b"\r\n\r\n")
            read_answer(sock, 60)
        except OSError:  # closed by the server while we were still sending
            pass
    return sent


@SQLITE_ONLY  # HTTP parsing only: the store plays no part
def test_a_huge_header_is_refused_without_being_kept(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url, token=None) as served:
        before = peak_memory(served.process.pid)
        with ThreadPoolExecutor(4) as pool:  # the issue's 4 x 32 MB on the open /healthz
            list(pool.map(send_huge_header, [served.port] * 4))
        assert peak_memory(served.process.pid) - before < 32 << 20  # not even one of them
        # a head just over the limit, sent at once: a clean 431
        with socket.create_connection(("127.0.0.1", served.port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * HEAD)
            answer = read_answer(sock, 30)
        assert status_of(answer) == 431
        assert b"the request head (request line and headers) is over 16384 bytes" in answer
        # the same head as the second request of a kept-alive connection: answered too
        with socket.create_connection(("127.0.0.1", served.port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            first = read_answer(sock, 30, until=b'"serial"')
            assert status_of(first) == 200
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * HEAD)
            second = read_answer(sock, 30)
        assert status_of(second) == 431, second
        assert served.get("/healthz").status_code == 200


@SQLITE_ONLY  # connections only, nothing stored (and slow: 30 s)
def test_slow_and_surplus_connections_are_closed(applied, fake) -> None:
    """2,000 connections that send part of a request and then nothing: past the limit each new
    one takes the place of the one waiting longest (503), the others are answered 408 after
    the read timeout; a client arriving meanwhile is served; a body that never finishes is cut
    off the same way."""
    project, state = applied
    with Served(project, state, fake.url) as served:
        opened = time.monotonic()
        socks = []
        for _ in range(2000):
            sock = socket.create_connection(("127.0.0.1", served.port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            socks.append(sock)
        with httpx.Client(base_url=served.url, timeout=READ_TIMEOUT * 6) as client:
            assert client.get("/healthz").status_code == 200  # not crowded out
        answers = _answers_when_closed(socks, timeout=READ_TIMEOUT * 6)
        statuses = [status_of(a) for a in answers]
        # the oldest went first, one more for the client's connection; the rest timed out
        over = 2000 - CONNECTIONS + 1
        assert statuses[:over] == [503] * over
        assert statuses.count(408) + statuses.count(503) == 2000
        assert time.monotonic() - opened >= READ_TIMEOUT  # 408 only when it is due
        # a request whose body never arrives in full (its head over a fresh connection)
        with socket.create_connection(("127.0.0.1", served.port)) as sock:
            sock.sendall(f"POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                         f"{TOKEN}\r\nContent-Length: 1000\r\n\r\n{{".encode())
            assert status_of(read_answer(sock, READ_TIMEOUT * 6)) == 408
        # the daemon is fine, and an idle kept-alive connection is let go
        with httpx.Client(base_url=served.url) as client:
            assert client.get("/healthz").status_code == 200
        with socket.create_connection(("127.0.0.1", served.port)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert status_of(read_answer(sock, KEEP_ALIVE * 6)) == 200
    assert served.process.returncode == 0
    assert rows(state, "SELECT COUNT(*) FROM inbox") == [(0,)]


def _answers_when_closed(socks: list[socket.socket], timeout: float) -> list[bytes]:
    """What each socket received before the server closed it; fails if one is still open at
    the deadline."""
    received = {sock: b"" for sock in socks}
    with selectors.DefaultSelector() as selector:
        for sock in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while selector.get_map():
            left = deadline - time.monotonic()
            assert left > 0, f"{len(selector.get_map())} connections still open"
            for key, _ in selector.select(min(left, 1.0)):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[sock] += chunk
                else:
                    selector.unregister(sock)
                    sock.close()
    return [received[sock] for sock in socks]


# --- 5. health tells the truth ----------------------------------------------------------------

class ReadOnly:
    """Makes paths read-only, also for root (the immutable attribute); `undo` restores them."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def protect(self, path: Path) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "+i", str(path)], check=True)
        else:
            path.chmod(0o555 if path.is_dir() else 0o444)
        self.made.append(path)

    def undo(self) -> None:
        while self.made:
            path = self.made.pop()
            if os.geteuid() == 0:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture
def read_only() -> Iterator[ReadOnly]:
    made = ReadOnly()
    yield made
    made.undo()


def serve_once(project: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("serve", project, "--state", state_url(state), "--port", "0",
                   env={**CREDENTIALS, "JOURNEYCTL_API_TOKEN": ""})


def test_serve_refuses_a_state_it_cannot_write(tmp_path: Path, read_only) -> None:
    # SQLite only: a read-only file or folder (PostgreSQL's side: tests/state)
    project = project_copy(tmp_path)
    states = {}
    for name in ("file", "folder"):
        (tmp_path / name).mkdir()
        states[name] = tmp_path / name / "state.db"
        apply(project, states[name])
    read_only.protect(states["file"])
    refused = serve_once(project, states["file"])
    assert refused.returncode == 1, refused.stderr
    state = states["file"]
    assert refused.stderr.startswith(f"{state}: error[JC960]: cannot write to the state "
                                     f"{state}: it is read-only"), refused.stderr
    assert "apply, rollback, force-unlock and serve need write access" in refused.stderr
    assert "Traceback" not in refused.stderr
    # a writable file in a folder that is not: SQLite cannot make its write-ahead log there
    state = states["folder"]
    assert sorted(p.name for p in state.parent.iterdir()) == ["state.db"]
    read_only.protect(state.parent)
    refused = serve_once(project, state)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(f"{state}: error[JC960]: "), refused.stderr
    assert "Traceback" not in refused.stderr


def limit_file_size(pid: int, size: int) -> None:
    """What a full disk does to the daemon's writes: each one past `size` bytes fails."""
    _, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, hard))


@SQLITE_ONLY  # a full disk under the state file (PostgreSQL away: test_serve_scale_out.py)
def test_a_store_that_cannot_commit_answers_503_and_recovers(applied, fake) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served:
        assert served.post("/v1/events", signup("before", "b")).status_code == 202
        limit_file_size(served.process.pid, 0)
        refused = served.post("/v1/events", signup("during", "d"))
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "5"
        reason = refused.json()["error"]
        assert reason.startswith("the state store cannot commit: disk I/O error: nothing was "
                                 "stored"), reason
        profile = served.post("/v1/profiles", {"profiles": [{"user_id": "during"}]})
        assert profile.status_code == 503
        # /healthz says so, and its own attempts to write (once a second) do not clear it
        failing_since = time.monotonic()
        while time.monotonic() - failing_since < 2.5:
            health = served.get("/healthz")
            assert health.status_code == 503
            assert "the state store cannot commit: disk I/O error" in health.json()["reason"]
        limit_file_size(served.process.pid, resource.RLIM_INFINITY)
        wait_until(lambda: served.get("/healthz").status_code == 200, timeout=30)
        assert served.post("/v1/events", signup("after", "a")).status_code == 202
        messages = [r["message"] for r in served.logs]
        assert sum("writes answer 503 until it can" in m for m in messages) == 1
        assert "the state store commits again" in messages
    assert served.process.returncode == 0
    assert rows(state, "SELECT user_id FROM inbox ORDER BY seq") == [("before",), ("after",)]
    assert rows(state, "SELECT COUNT(*) FROM profiles") == [(0,)]


# --- 11. a damaged state file -----------------------------------------------------------------

@SQLITE_ONLY  # a damaged SQLite file
def test_a_damaged_state_file_is_a_located_jc960(applied, fake, tmp_path: Path) -> None:
    project, state = applied
    with Served(project, state, fake.url) as served:  # enough rows for many pages
        for k in range(10):
            served.post("/v1/events", {"events": [signup(f"u{i}", f"e{k}-{i}", properties={
                "plan": "x" * 200}) for i in range(100)]})
    pages = state.stat().st_size // 4096
    assert pages > 50
    with state.open("r+b") as file:  # one page in the middle overwritten
        file.seek(pages // 2 * 4096)
        file.write(b"\xa5" * 4096)
    url = state_url(state)
    for args in (("plan", project), ("apply", project, "--auto-approve"), ("status", project),
                 ("history", project), ("serve", project, "--port", "0")):
        done = run_cli(*args, "--state", url, env={**CREDENTIALS, "JOURNEYCTL_API_TOKEN": ""})
        assert done.returncode == 1, (args[0], done.stdout, done.stderr)
        assert done.stderr.startswith(f"{state}: error[JC960]: the state file {state} is "
                                      "damaged ("), (args[0], done.stderr)
        assert "Traceback" not in done.stderr
    assert "= hint: restore it from a backup; the sqlite3 shell's .recover command" in \
        done.stderr
