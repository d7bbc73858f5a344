"""A small HTTP load generator for the daemon's ingest API, run as its own process.

Raw HTTP/1.1 over asyncio streams with keep-alive: a few microseconds of client CPU per request,
so on a 2-core machine the generator takes as little as possible from the daemon it measures.

Closed loop (`--rate 0`): each connection sends its next request as soon as the last is answered
— the maximum throughput. Open loop (`--rate R`): requests are due at a fixed rate whatever the
answers, and latency is measured from when a request was due (not when it could be sent), so
a stalled server shows up in the percentiles instead of slowing the generator down.

`--url` given several times (several daemons on one shared state): each connection sends its
requests round-robin over the daemons, as a load balancer in front of them would, one request
in flight at a time (so `--concurrency` is still the number of requests in flight).

    python bench/loadgen.py --url http://127.0.0.1:8787 --token T --batch 1 --seconds 10

prints one JSON object: requests, events, seconds, requests_per_s, events_per_s, p50_ms,
p99_ms, max_ms, errors, cpu_s (the generator's own CPU time).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
from typing import Any
from urllib.parse import urlsplit

EVENTS = [("product_view", 60), ("app_open", 20), ("add_to_cart", 15), ("purchase", 5)]
CATEGORIES = ["beauty", "electronics", "fashion", "home", "food"]


class Bodies:
    """Unique events (their own event_id) for `users` users, the example catalog's mix."""

    def __init__(self, batch: int, users: int, seed: int) -> None:
        self.batch = batch
        self.users = users
        self.rng = random.Random(seed)
        self.prefix = f"lg{os.getpid()}-"
        self.counter = itertools.count()
        self.names = [name for name, weight in EVENTS for _ in range(weight)]

    def event(self) -> dict[str, Any]:
        name = self.rng.choice(self.names)
        props: dict[str, Any] = {}
        if name == "product_view":
            props = {"product_id": f"p-{self.rng.randrange(200):03}",
                     "category": self.rng.choice(CATEGORIES)}
        elif name == "add_to_cart":
            props = {"product_id": f"p-{self.rng.randrange(200):03}",
                     "price": self.rng.randrange(5, 60) * 1000}
        elif name == "purchase":
            props = {"order_id": f"o-{next(self.counter)}",
                     "amount": self.rng.randrange(10, 200) * 1000}
        return {"event_id": f"{self.prefix}{next(self.counter)}",
                "user_id": f"u-{self.rng.randrange(self.users):06}", "event": name,
                "timestamp": time.time(), "properties": props}

    def next(self) -> bytes:
        if self.batch == 1:
            return json.dumps(self.event()).encode()
        return json.dumps({"events": [self.event() for _ in range(self.batch)]}).encode()


class Connection:
    def __init__(self, host: str, port: int, path: str, token: str | None) -> None:
        self.host, self.port = host, port
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                     "Content-Type: application/json\r\n").encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status


async def run(args: argparse.Namespace) -> dict[str, Any]:
    urls = [urlsplit(url) for url in args.url]
    bodies = Bodies(args.batch, args.users, args.seed)
    latencies: list[float] = []
    errors = 0
    sent = 0
    start = time.perf_counter()
    stop = start + args.seconds
    interval = args.concurrency / args.rate if args.rate else 0.0

    async def worker(index: int) -> None:
        nonlocal errors, sent
        # one keep-alive connection per daemon, used in turn (starting at a different daemon
        # for each worker, so that the first requests spread too)
        conns = [Connection(url.hostname or "127.0.0.1", url.port or 80, args.path, args.token)
                 for url in urls]
        turn = itertools.cycle(conns[index % len(conns):] + conns[:index % len(conns)])
        due = start + index * interval / args.concurrency
        while True:
            if interval:
                now = time.perf_counter()
                if due > now:
                    await asyncio.sleep(due - now)
            began = time.perf_counter()
            if began >= stop:
                return
            measured_from = due if interval else began
            conn = next(turn)
            try:
                status = await conn.post(bodies.next())
            except (OSError, asyncio.IncompleteReadError):
                errors += 1
                conn.writer = None
                await asyncio.sleep(0.01)
                continue
            latencies.append(time.perf_counter() - measured_from)
            sent += 1
            if status >= 300:
                errors += 1
            due += interval

    await asyncio.gather(*(worker(i) for i in range(args.concurrency)))
    seconds = time.perf_counter() - start
    latencies.sort()

    def pct(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) \
            if latencies else float("nan")

    return {"requests": sent, "events": sent * args.batch, "seconds": round(seconds, 2),
            "requests_per_s": round(sent / seconds), "events_per_s": round(sent * args.batch /
                                                                           seconds),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0), "errors": errors,
            "cpu_s": round(time.process_time(), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, action="append",
                        help="a daemon's base URL; several: round-robin over them")
    parser.add_argument("--path", default="/v1/events")
    parser.add_argument("--token")
    parser.add_argument("--batch", type=int, default=1, help="events per request")
    parser.add_argument("--concurrency", type=int, default=32, help="connections")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0, help="requests/s (0: closed loop)")
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
