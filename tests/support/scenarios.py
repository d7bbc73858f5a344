"""A small project to run conformance scenarios against, built on disk for each test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from journeyctl.model import Project
from journeyctl.project import validate
from journeyctl.testing.scenario import Outcome, ScenarioEvent, run_scenario

EVENTS = """\
events:
  signup: {properties: {plan: string}}
  purchase: {properties: {amount: number}}
  click: {properties: {kind: string}}
  view: {}
  ping: {}
  unsubscribe: {}
profile:
  email: string
  phone: string
  push_token: string
  timezone: string
  tier: string
  score: number
  consent:
    type: object
    properties: {email: boolean, sms: boolean, push: boolean, night: boolean}
"""
CHANNELS = """\
channels:
  email:
    adapter: sendgrid
    credentials: {api_key: env:K}
    from: {email: a@example.com}
    address: email
    consent: consent.email
  sms:
    adapter: twilio
    credentials: {account_sid: env:S, auth_token: env:T}
    from: "+15005550006"
    address: phone
    consent: consent.sms
  push:
    adapter: fcm
    project_id: p
    credentials: {access_token: env:F}
    address: push_token
    consent: consent.push
  hook:
    adapter: webhook
    base_url: https://hooks.example.com/x
    credentials: {secret: env:H}
  brand:
    adapter: sens_friendtalk
    service_id: "ncp:kkobizmsg:kr:1:acme"
    plus_friend_id: "@acme"
    credentials: {access_key: env:A, secret_key: env:B}
    address: phone
    consent: consent.sms
"""
TEMPLATES = {
    **{f"e{i}": "channel: email\nsubject: s\ntext: t\n" for i in range(1, 5)},
    **{f"s{i}": "channel: sms\ntext: t\n" for i in range(1, 3)},
    **{f"p{i}": "channel: push\ntitle: t\nbody: b\n" for i in range(1, 3)},
    "h1": "channel: hook\nbody: {a: b}\n",
    "k1": "channel: brand\ntext: \"(광고) 세일\\n무료수신거부 080-000-0000\"\n",
}
EVERYONE = {"email": "a@example.com", "phone": "+821000000000", "push_token": "tok",
            "consent": {"email": True, "sms": True, "push": True}}

UTC = ZoneInfo("UTC")
SEOUL = ZoneInfo("Asia/Seoul")


def at(text: str, tz: ZoneInfo = UTC) -> float:
    """'2024-03-04 09:00' in `tz` -> epoch seconds."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


def clock(t: float, tz: ZoneInfo = UTC) -> str:
    return dt.datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M")


def build(root: Path, journeys: dict[str, str], settings: str = "") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "journeyctl.yaml").write_text(
        f"project: conformance\ntimezone: UTC\n{settings}", encoding="utf-8")
    (root / "events.yaml").write_text(EVENTS, encoding="utf-8")
    (root / "channels.yaml").write_text(CHANNELS, encoding="utf-8")
    (root / "templates").mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (root / "templates" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (root / "journeys").mkdir(exist_ok=True)
    for name, text in journeys.items():
        (root / "journeys" / f"{name}.yaml").write_text(f"journey: {name}\n{text}",
                                                         encoding="utf-8")
    loaded = validate(root)
    errors = [d for d in loaded.diagnostics if d.is_error]
    assert not errors, errors
    assert loaded.project is not None
    return loaded.project


Runner = Callable[..., Outcome]


def scenario_runner(tmp_path: Path) -> Runner:
    """What the `scenario` fixture gives:
    scenario(journeys, events=[(time, user, name, props)], profiles=..., until=...)."""

    def run(journeys: dict[str, str], events: list[tuple[Any, ...]], until: str,
            profiles: dict[str, dict[str, Any]] | None = None, settings: str = "",
            tz: ZoneInfo = UTC) -> Outcome:
        project = build(tmp_path / "p", journeys, settings)
        scenario_events = [
            ScenarioEvent(user, name, at(when, tz), props[0] if props else {},
                          f"e{i}")
            for i, (when, user, name, *props) in enumerate(events)
        ]
        users = profiles if profiles is not None else {"u1": EVERYONE}
        return run_scenario(project, users, scenario_events, at(until, tz))

    return run


def sends(outcome: Outcome, tz: ZoneInfo = UTC) -> list[tuple[str, str, str, str]]:
    """(local time, user, step, channel:template) of every message, in time order."""
    return [(clock(e.time, tz), e.user_id, e.step, f"{e.channel}:{e.template}")
            for e in outcome.sends]


def suppressions(outcome: Outcome, tz: ZoneInfo = UTC) -> list[tuple[str, str, str, str]]:
    from journeyctl.engine.effects import Suppressed

    return [(clock(e.time, tz), e.user_id, e.step, e.reason) for e in outcome.of(Suppressed)]
