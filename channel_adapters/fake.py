"""A local fake of the providers (and SENS's two KakaoTalk APIs), over real HTTP on 127.0.0.1:
for tests and demos.

It answers each provider's real path the way the provider does (status codes, ids, error
bodies), records every request, and plays responses queued for a path before its normal answer,
so a test can inject faults: a 500 then the normal 200, a 429 with `Retry-After`, a slow answer.
For outages it plays a `Fault` (`fake_faults`) on every request, or every Nth, for a while: an
error status, slow answers, or connections refused (the port closed, then opened again) — set
from a test (`inject`), the command line, or the control endpoint `/_fake/fault`.

    with FakeProvider() as fake:          # in a thread, for tests
        fake.queue("/v3/mail/send", Response(500), Response(429, headers={"Retry-After": "2"}))
        fake.inject(Fault(fail=503, duration=30))
        ...; fake.requests[0].json()

`journeyctl fake-provider` runs one in the foreground. The HTTP/1.1 server is deliberately
small (Content-Length bodies, keep-alive), which is all an HTTP client sending JSON needs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import replace
from typing import Any

from channel_adapters.fake_answers import (
    Recorded,
    Response,
    answer,
    phrase,
    request_json,
    summary,
)
from channel_adapters.fake_faults import Fault, FaultError, Playing

__all__ = ["CONTROL", "HOST", "FakeProvider", "Fault", "Recorded", "Response", "answer"]

HOST = "127.0.0.1"
_MAX_BODY = 10_000_000
CONTROL = "/_fake/fault"  # GET, POST (a fault as JSON), DELETE; never recorded nor faulted


class FakeProvider:
    """The fake server. Use it as a context manager (a thread) or `await serve()`."""

    def __init__(self, port: int = 0, *, record: bool = True, webhook_secret: str | None = None,
                 log: Callable[[str], None] | None = None, fault: Fault | None = None,
                 note: Callable[[str], None] | None = None,
                 sens_keys: Mapping[str, str] | None = None) -> None:
        self.port = port
        self.requests: list[Recorded] = []
        self._record = record  # off for long demo runs: memory would only grow
        self._webhook_secret = webhook_secret  # set: webhook signatures are checked (else 401)
        self._sens_keys = sens_keys  # NCP access key -> secret key: SENS signatures checked
        self._log = log  # a line per request
        self._note = note or log  # a line per fault played or ended
        self._queues: dict[str, deque[Response]] = {}
        self._lock = threading.Lock()  # tests queue and read from their own thread
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._first_fault = fault  # played from the start
        self._playing: Playing | None = None
        self._timer: asyncio.TimerHandle | None = None  # ends the fault
        self._changed: asyncio.Event | None = None  # the fault changed: open or close the port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def queue(self, path: str, *responses: Response) -> None:
        """Play `responses`, in order, to the next requests for `path` (then answer normally)."""
        with self._lock:
            self._queues.setdefault(path, deque()).extend(responses)

    def received(self, path: str | None = None) -> list[Recorded]:
        """The requests received so far (for `path` only, when given)."""
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def inject(self, fault: Fault) -> None:
        """Play `fault` from now on, instead of any other; returns once it plays. Call it from
        another thread than the server's (a test's). FaultError when its fields do not go
        together."""
        if fault.problems():
            raise FaultError(fault.problems())
        self._on_loop(self._play, fault)

    def clear(self) -> None:
        """Stop the fault being played (a closed port is opened again, soon after)."""
        self._on_loop(self._end, None)

    def _on_loop(self, function: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None, "the fake provider is not serving"
        done = threading.Event()

        def call() -> None:
            try:
                function(*args)
            finally:
                done.set()

        self._loop.call_soon_threadsafe(call)
        done.wait(10)

    async def serve(self, ready: Callable[[str], None] | None = None) -> None:
        """Listen (OSError when the port is taken), call `ready(url)`, serve until stopped."""
        self._server = await asyncio.start_server(self._connection, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._changed = asyncio.Event()
        if ready is not None:
            ready(self.url)
        listener = asyncio.create_task(self._listener())
        if self._first_fault is not None:
            self._play(self._first_fault)
        try:
            await self._stopped.wait()
        finally:
            self._stopped.set()
            listener.cancel()
            self._end(None, quiet=True)
            if self._server is not None:
                self._server.close()
            self._drop_connections()
            await asyncio.gather(listener, *self._tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

    # --- faults (on the server's loop) -----------------------------------------------------------

    def _play(self, fault: Fault) -> None:
        self._end(None, quiet=True)
        playing = Playing(fault)
        with self._lock:
            self._playing = playing
        self._say(f"fault: {fault.describe()}")
        assert self._loop is not None and self._changed is not None
        if fault.duration is not None:
            self._timer = self._loop.call_later(fault.duration, self._end, playing)
        if fault.refuse:
            self._close_port()
        self._changed.set()

    def _end(self, playing: Playing | None, quiet: bool = False) -> None:
        """End the fault (only if it is still `playing`, when given)."""
        with self._lock:
            current = self._playing
            if current is None or (playing is not None and current is not playing):
                return
            self._playing = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._changed is not None:
            self._changed.set()
        if not quiet:
            self._say("fault over: answering normally")

    def _close_port(self) -> None:
        """Refuse connections: close the port and drop the open connections too (what clients
        see when a provider's servers are down). `_listener` opens it again."""
        if self._server is not None:
            self._server.close()
            self._server = None
        self._drop_connections()

    async def _listener(self) -> None:
        """Open the port again when no fault refuses connections any more."""
        assert self._changed is not None
        while True:
            await self._changed.wait()
            self._changed.clear()
            if not self._refusing() and self._server is None:
                self._server = await self._listen_again()

    async def _listen_again(self) -> asyncio.Server:
        while True:  # another program may hold the port a moment: keep trying
            try:
                return await asyncio.start_server(self._connection, HOST, self.port)
            except OSError as exc:
                self._say(f"cannot listen on port {self.port} again yet ({exc}); retrying")
                await asyncio.sleep(0.2)

    def _refusing(self) -> bool:
        with self._lock:
            return self._playing is not None and self._playing.fault.refuse

    def _drop_connections(self) -> None:
        current = asyncio.current_task()  # the control request's own: it ends after answering
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _say(self, line: str) -> None:
        if self._note is not None:
            self._note(line)

    def __enter__(self) -> FakeProvider:
        started = threading.Event()
        failures: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.serve(lambda _: started.set()))
            except OSError as exc:
                failures.append(exc)
                started.set()

        self._thread = threading.Thread(target=run, name="fake-provider", daemon=True)
        self._thread.start()
        started.wait(10)
        if failures:
            raise failures[0]
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(10)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            # A connection accepted just as the port closed is dropped here, not served.
            while not self._refusing() and await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            pass  # a client that hung up or spoke nonsense: drop the connection
        except asyncio.CancelledError:
            # Only `serve` cancels a connection, to stop. Ending normally keeps Python 3.11's
            # stream callback from logging the cancelled task as an error.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the connection is done."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return False  # the client closed an idle keep-alive connection
        method, target, headers = _parse_head(head)
        length = int(headers.get("content-length", "0"))
        if length > _MAX_BODY:
            raise ValueError("body too large")
        path, _, query = target.partition("?")
        body = await reader.readexactly(length)
        request = Recorded(method, path, query, headers, body, time.time())
        if path == CONTROL:
            response, fault = self._control(request)
        else:
            response, fault = self._answer(request), None
            if self._record:
                with self._lock:
                    self.requests.append(replace(request, status=response.status))
        if response.delay:
            await asyncio.sleep(response.delay)
        keep_alive = headers.get("connection", "").lower() != "close"
        writer.write(response.encode(keep_alive))
        await writer.drain()
        if self._log is not None:
            self._log(f"{method} {path} -> {response.status}{summary(request)}")
        if fault is not None:
            self._play(fault)  # after answering: a refusal closes this connection too
        return keep_alive

    def _answer(self, request: Recorded) -> Response:
        with self._lock:
            queued = self._queues.get(request.path)
            if queued:
                return queued.popleft()
            playing = self._playing
            hit = playing is not None and playing.hits()
        normal = answer(request, self._webhook_secret, self._sens_keys)
        if not hit:
            return normal
        assert playing is not None
        return _faulty(playing.fault, normal)

    def _control(self, request: Recorded) -> tuple[Response, Fault | None]:
        """The control endpoint: what is played (GET), play a fault (POST), stop it (DELETE)."""
        if request.method == "DELETE":
            self._end(None)
            return Response(200, {"fault": None}), None
        if request.method == "POST":
            try:
                fault = Fault.from_json(request_json(request) if request.body.strip() else {})
            except FaultError as exc:
                return Response(400, {"error": str(exc)}), None
            if not fault.active:
                self._end(None)
                return Response(200, {"fault": None}), None
            return Response(200, {"fault": fault.to_json(), "playing": fault.describe()}), fault
        if request.method != "GET":
            return Response(405, {"error": "GET, POST or DELETE"}), None
        with self._lock:
            playing = self._playing
        if playing is None:
            return Response(200, {"fault": None}), None
        return Response(200, {"fault": playing.fault.to_json(), "playing":
                              playing.fault.describe(), "requests": playing.requests}), None


def _faulty(fault: Fault, normal: Response) -> Response:
    """The answer under `fault`: its error status instead of the normal one, and/or late."""
    if fault.fail is None:
        return replace(normal, delay=fault.delay)
    headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
    return Response(fault.fail, f"injected fault: HTTP {fault.fail} {phrase(fault.fail)}",
                    headers, delay=fault.delay)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return method, target, headers
