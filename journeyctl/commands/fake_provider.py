"""`journeyctl fake-provider`: the local fake of the five providers, in the foreground.

Point a channel at it with `journeyctl send-test ... --base-url URL`; each request is logged.
"""

from __future__ import annotations

import asyncio

from channel_adapters.fake import FakeProvider
from journeyctl.diagnostics import JourneyctlError, diagnostic, option
from journeyctl.errors import EXIT_OK

ROUTES = (
    ("sendgrid", "POST /v3/mail/send"),
    ("twilio", "POST /2010-04-01/Accounts/{sid}/Messages.json"),
    ("fcm", "POST /v1/projects/{project_id}/messages:send"),
    ("slack", "POST /services/..."),
    ("webhook", "POST any other path"),
)


def run(port: int, quiet: bool) -> int:
    fake = FakeProvider(port, record=False, log=None if quiet else _print)
    try:
        asyncio.run(fake.serve(_ready))
    except OSError as exc:
        raise JourneyctlError([diagnostic(
            "JC976", f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", option("--port"),
            "choose another port, or leave --port out to take a free one")]) from exc
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return EXIT_OK


def _ready(url: str) -> None:
    lines = [f"fake provider listening on {url}", *(f"  {name:<9} {route}"
                                                   for name, route in ROUTES),
             f"send to it: add --base-url {url} to journeyctl send-test or journeyctl serve"]
    print("\n".join(lines), flush=True)


def _print(line: str) -> None:
    print(line, flush=True)
