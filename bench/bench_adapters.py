"""Benchmark: messages/s through one channel adapter against the local fake provider.

The fake provider runs as `journeyctl fake-provider` in its own process (so it does not share
this interpreter's GIL). For concurrency 1, 10 and 100, the same messages go out two ways over
the same kind of client: through the adapter layer (`deliver` + the adapter: rendering the
provider's request, signing, timeout, classifying the answer) and as a bare
`httpx.AsyncClient.post` of a prepared payload. The difference is the adapter layer's cost per
message; it is also measured without the network (httpx.MockTransport), where nothing hides it.

    python bench/bench_adapters.py [--adapter webhook|sendgrid] [--messages 3000] [--rounds 3]
                                   [--transport httpx|aiohttp]

`--transport aiohttp` sends over `channel_adapters.transport.AiohttpTransport` (what the daemon
and send-test use) instead of httpx's own connection pool; compare the two runs.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

from channel_adapters import Adapter, Message, adapter_for, deliver
from channel_adapters.transport import AiohttpTransport
from journeyctl.diagnostics import Loc
from journeyctl.model import Channel, Duration, FrozenMap

ENV = {"BENCH_SECRET": "bench-secret-value", "BENCH_KEY": "bench-api-key"}
CHANNELS = {
    "webhook": ("/bench/hook", {"secret": "BENCH_SECRET"}, {}),
    "sendgrid": ("", {"api_key": "BENCH_KEY"}, {"from": {"email": "bench@example.com"}}),
}
CONTENT = {
    "webhook": {"body": {"type": "vip_campaign_offer", "user_id": "u-0001",
                         "segment": "vip_rfm", "total_spent": "192400",
                         "note": "장바구니에 담은 상품이 기다리고 있어요"}},
    "sendgrid": {"subject": "(광고) 김혜진님, 장바구니에 담은 상품이 기다리고 있어요",
                 "text": "안녕하세요. ACME입니다.\n" * 20, "html": "<p>안녕하세요</p>" * 20},
}

Send = Callable[[int], Awaitable[bool]]


def make_channel(adapter: str, url: str) -> Channel:
    path, credentials, settings = CHANNELS[adapter]
    return Channel(loc=Loc("bench"), name="bench", adapter=adapter, address="email",
                   base_url=url + path, credentials=FrozenMap(credentials),
                   timeout=Duration(10, "10s"), settings=FrozenMap(settings))


def make_message(adapter: str, n: int) -> Message:
    return Message(user_id=f"u-{n}", journey="bench", step="send", channel="bench",
                   template="bench", category="promotional", idempotency_key=f"bench:{n}",
                   to="kim@example.com", content=CONTENT[adapter])


async def run(send: Send, count: int, concurrency: int) -> float:
    """Seconds to send `count` messages with `concurrency` workers; every one must succeed."""
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            if not await send(n):
                raise SystemExit(f"message {n} was not accepted")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def senders(adapter_name: str, channel: Channel, client: httpx.AsyncClient) -> tuple[Send, Send]:
    adapter: Adapter = adapter_for(channel, client, ENV)
    # The bare client posts the very request the adapter builds (headers, body), made once.
    request = adapter.provider.request(make_message(adapter_name, 0))  # type: ignore[attr-defined]
    headers = dict(request.headers)

    async def through_adapter(n: int) -> bool:
        outcome = await deliver(adapter, make_message(adapter_name, n), channel)
        return outcome.accepted

    async def bare(n: int) -> bool:
        response = await client.post(request.url, content=request.body, headers=headers)
        return response.is_success

    return through_adapter, bare


async def measure(adapter_name: str, channel: Channel, count: int, concurrency: int,
                  rounds: int, transport: httpx.AsyncBaseTransport | str | None
                  ) -> tuple[float, float]:
    """Best seconds over `rounds` for (adapter, bare), alternating so drift hits both alike."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if transport == "aiohttp":
        transport = AiohttpTransport(concurrency)
    async with httpx.AsyncClient(limits=limits, transport=transport) as client:
        through_adapter, bare = senders(adapter_name, channel, client)
        await run(through_adapter, min(count, 200), concurrency)  # warm connections and caches
        await run(bare, min(count, 200), concurrency)
        best = [float("inf"), float("inf")]
        for _ in range(rounds):
            best[0] = min(best[0], await run(through_adapter, count, concurrency))
            best[1] = min(best[1], await run(bare, count, concurrency))
    return best[0], best[1]


def start_fake() -> tuple[subprocess.Popen[str], str]:
    journeyctl = shutil.which("journeyctl") or sys.exit("journeyctl is not installed")
    process = subprocess.Popen([journeyctl, "fake-provider", "--quiet"], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    if not match:
        process.terminate()
        sys.exit("the fake provider did not start")
    return process, match[0]


def report(label: str, count: int, seconds: tuple[float, float]) -> None:
    adapter, bare = seconds
    overhead = (adapter - bare) / count * 1e6
    print(f"{label:<26} adapter {count / adapter:8,.0f} msg/s   bare client {count / bare:8,.0f} "
          f"msg/s   adapter layer {overhead:+7.1f} µs/msg ({adapter / bare - 1:+.0%})")


def mock_transport(adapter_name: str) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        if adapter_name == "sendgrid":
            return httpx.Response(202, headers={"X-Message-Id": "bench"})
        return httpx.Response(200, json={"id": "wh_bench"})

    return httpx.MockTransport(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", choices=sorted(CHANNELS), default="webhook")
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--transport", choices=["httpx", "aiohttp"], default="httpx")
    args = parser.parse_args()
    process, url = start_fake()
    try:
        channel = make_channel(args.adapter, url)
        print(f"adapter: {args.adapter}; transport: {args.transport}; {args.messages:,} "
              f"messages per run, best of {args.rounds}; fake provider {url} (its own process)")
        for concurrency in (1, 10, 100):
            transport = "aiohttp" if args.transport == "aiohttp" else None
            seconds = asyncio.run(measure(args.adapter, channel, args.messages, concurrency,
                                          args.rounds, transport))
            report(f"loopback, concurrency {concurrency}", args.messages, seconds)
        seconds = asyncio.run(measure(args.adapter, channel, args.messages * 3, 1, args.rounds,
                                      mock_transport(args.adapter)))
        report("no network (MockTransport)", args.messages * 3, seconds)
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


if __name__ == "__main__":
    main()
