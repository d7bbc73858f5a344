"""`journeyctl fake-provider`: the local fake of the providers, in the foreground.

Point a channel at it with `journeyctl send-test ... --base-url URL`; each request is logged.
SENS (KakaoTalk) signatures are checked against the keys in NCP_ACCESS_KEY and NCP_SECRET_KEY
when both are set (the variables the example channels read), else only their presence.
`--fail`, `--delay`, `--every`, `--refuse` and `--for` play a fault from the start, and
`POST /_fake/fault` changes it while it runs, to rehearse an outage.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from channel_adapters.fake import CONTROL, FakeProvider
from channel_adapters.fake_faults import Fault, seconds
from journeyctl.boundary import EXIT_OK
from journeyctl.diagnostics import Diagnostic, JourneyctlError, diagnostic, option

ROUTES = (
    ("sendgrid", "POST /v3/mail/send"),
    ("twilio", "POST /2010-04-01/Accounts/{sid}/Messages.json"),
    ("fcm", "POST /v1/projects/{project_id}/messages:send"),
    ("slack", "POST /services/..."),
    ("sens", "POST /{alimtalk|friendtalk}/v2/services/{serviceId}/messages"),
    ("webhook", "POST any other path"),
)
NCP_KEYS = ("NCP_ACCESS_KEY", "NCP_SECRET_KEY")
EXAMPLE = '{"fail": 503, "for": "30s"}'


@dataclass(frozen=True)
class FaultOptions:
    """The fault options as given on the command line."""

    fail: int | None = None
    retry_after: float | None = None
    delay: str | None = None
    every: int = 1
    refuse: bool = False
    duration: str | None = None  # --for


def run(port: int, quiet: bool, options: FaultOptions = FaultOptions(),
        env: Mapping[str, str] = os.environ) -> int:
    fault = fault_from(options)  # checked before listening: nothing starts on a bad option
    keys = sens_keys(env)
    fake = FakeProvider(port, record=False, log=None if quiet else _print, note=_print,
                        fault=fault if fault.active else None, sens_keys=keys)
    try:
        asyncio.run(fake.serve(partial(_ready, checked=keys is not None)))
    except OSError as exc:
        raise JourneyctlError([diagnostic(
            "JC976", f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", option("--port"),
            "choose another port, or leave --port out to take a free one")]) from exc
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return EXIT_OK


def fault_from(options: FaultOptions) -> Fault:
    """The fault the options ask for (Fault() for none); JC978 when they cannot be played."""
    problems: list[Diagnostic] = []

    def duration(name: str, text: str | None) -> float | None:
        if text is None:
            return None
        value = seconds(text)
        if value is None:
            problems.append(diagnostic(
                "JC978", f"{name} {text!r} is not a duration", option(name),
                f"write a duration such as {name} 30s, {name} 5m, or seconds: {name} 0.5"))
        return value

    fault = Fault(fail=options.fail, retry_after=options.retry_after,
                  delay=duration("--delay", options.delay) or 0.0, every=options.every,
                  refuse=options.refuse, duration=duration("--for", options.duration))
    for problem in fault.problems(_option_name):
        problems.append(diagnostic("JC978", problem.message, option(_option_name(problem.field)),
                                   problem.fix))
    if problems:
        raise JourneyctlError(problems)
    return fault


def _option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def sens_keys(env: Mapping[str, str]) -> dict[str, str] | None:
    """The NCP keys SENS signatures are checked against, when both variables are set."""
    access, secret = (env.get(name, "").strip() for name in NCP_KEYS)
    return {access: secret} if access and secret else None


def _ready(url: str, checked: bool = False) -> None:
    control = f"curl -X POST {url}{CONTROL} -d {shlex.quote(EXAMPLE)}"
    sens = ("SENS signatures are checked against NCP_ACCESS_KEY and NCP_SECRET_KEY" if checked
            else "SENS signatures are not checked: export NCP_ACCESS_KEY and NCP_SECRET_KEY "
                 "before starting it to check them")
    lines = [f"fake provider listening on {url}", *(f"  {name:<9} {route}"
                                                   for name, route in ROUTES), sens,
             f"send to it: add --base-url {url} to journeyctl send-test or journeyctl serve",
             f"rehearse an outage (503 for 30s): {control}"]
    print("\n".join(lines), flush=True)


def _print(line: str) -> None:
    print(line, flush=True)
