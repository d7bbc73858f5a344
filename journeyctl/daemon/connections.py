"""The daemon's HTTP connections, bounded: uvicorn's httptools protocol (the fast one) with the
limits it lacks.

uvicorn bounds the idle time of a kept-alive connection (`timeout_keep_alive`) but not how long
a client may take to send a request, nor the size of its head (httptools buffers a header of
any length; `h11_max_incomplete_event_size` applies to the slower h11 protocol only), nor the
number of connections (`limit_concurrency` answers 503 only once a request's head has arrived,
so connections that never finish one are not counted against it). Without these, a few clients
sending 32 MB headers, or thousands sending a byte now and then, hold the daemon's memory and
sockets. Here:

- at `connections` open connections, a new one takes the place of the one that has waited
  longest for a request head (a client that connects and sends nothing, or part of a head, or
  an idle kept-alive connection), which is answered 503 and closed; when every connection is
  busy with a request, the new one is answered 503 and closed instead. Slow clients cannot
  crowd out the others;
- a request head (request line and headers) over `head` bytes is answered 431;
- a request not read in full (head and body) within `read_timeout` seconds of its first byte,
  or of the connection opening, is answered 408; each of these closes the connection.

(`HttpToolsProtocol` is uvicorn's own class, not a documented extension point: the methods
overridden here are its parser callbacks and asyncio's protocol methods, stable across uvicorn
releases since 0.1x; tests/daemon/test_hostile.py holds each limit against a real `serve`.)
"""

from __future__ import annotations

import asyncio
import http
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

LINGER = 2.0  # seconds a refused connection's input is drained before it is closed


@dataclass(frozen=True)
class HttpLimits:
    connections: int = 1000  # open at once; the next one gets 503
    head: int = 16 * 1024  # bytes of request line and headers (431)
    read_timeout: float = 10.0  # seconds to send one request, head and body (408)
    keep_alive: int = 5  # seconds an idle connection is kept open between requests


def protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """The protocol class for uvicorn's `http=` setting, holding `limits` (one per server)."""
    return type("BoundedHttp", (BoundedHttp,), {"limits": limits, "waiting": {}})


class BoundedHttp(HttpToolsProtocol):
    limits = HttpLimits()
    # the connections waiting for a request head, longest first (a dict keeps insertion order)
    waiting: ClassVar[dict[BoundedHttp, None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head: int | None = 0  # bytes of the request head so far; None: head complete
        self._deadline: asyncio.TimerHandle | None = None
        self._closing = False  # answered with a refusal: what comes now is dropped
        self._head_too_big = False

    # uvicorn's base annotates BaseTransport; asyncio always hands a protocol a Transport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.connections:
            if not self.waiting:
                self.transport = transport  # for connection_lost
                self._close(503, self._full(), linger=False)
                return
            next(iter(self.waiting))._close(503, self._full(), linger=False)
        super().connection_made(transport)
        self._arm()
        self.waiting[self] = None

    def _full(self) -> str:
        return f"too many connections (the limit is {self.limits.connections}): try again later"

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.waiting.pop(self, None)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        # An unfinished head is counted before parsing (httptools keeps it in memory, unseen),
        # a finished one when it is complete (`on_headers_complete`).
        if self._head is not None:
            self._head += len(data)
        super().data_received(data)
        if self._head_too_big or (self._head is not None and self._head > self.limits.head):
            self._close(431, f"the request head (request line and headers) is over "
                             f"{self.limits.head} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()  # a kept-alive connection's next request: its own time to arrive

    def on_headers_complete(self) -> None:
        self._head = None
        self.waiting.pop(self, None)
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.head:  # refused once parsing stops (`data_received`)
            self._head_too_big = True
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._head_too_big:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._head_too_big:
            return
        super().on_message_complete()
        self._head = 0
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # idle until its next request (unless a pipelined one is running, or it is closing)
        if self.cycle.response_complete and not self.transport.is_closing():
            self.waiting[self] = None

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.limits.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        # the application may be waiting for the rest of the body: it hears of a disconnect
        self._close(408, f"the request was not sent in full within {self.limits.read_timeout:g}"
                         " seconds")

    def _close(self, status: int, message: str, linger: bool = True) -> None:
        """Answer `status` and close. A socket closed with input still unread sends a reset,
        which can destroy the answer before the client reads it: so end our side, read and
        drop what still comes, and close once the client does (or after LINGER seconds) —
        unless the connection limit is at stake (`linger` False)."""
        if self._closing or self.transport.is_closing():
            return
        self._closing = True
        self._disarm()
        self.waiting.pop(self, None)
        # on a kept-alive connection `cycle` is the last request, answered in full, until the
        # next head is read: only a response under way must not be interleaved with ours
        if self.cycle is not None and self.cycle.response_started \
                and not self.cycle.response_complete:
            self.transport.close()  # the application is answering: it hears of a disconnect
            return
        self.transport.write(_answer(status, message))
        if linger and self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()


def _answer(status: int, message: str) -> bytes:
    body = orjson.dumps({"error": message})
    head = (f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n")
    return head.encode() + body
