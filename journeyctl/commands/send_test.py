"""`journeyctl send-test`: render one template for one profile and send it for real.

It checks a channel's setup end to end (credentials, sender, endpoint, template) with the same
adapter and delivery policy the daemon uses. Consent, caps and quiet hours are not applied: the
person running it chose the recipient.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from channel_adapters import Message, Outcome, RateLimiter, adapter_for, deliver
from channel_adapters.factory import check_http_url, redirected
from channel_adapters.transport import fast_client
from journeyctl import model as m
from journeyctl.boundary import EXIT_OK, EXIT_USER
from journeyctl.checks.context import did_you_mean
from journeyctl.commands.common import valid_project
from journeyctl.diagnostics import JourneyctlError, diagnostic, option
from journeyctl.messages import address, render_template
from journeyctl.paths import input_problem

if TYPE_CHECKING:
    from journeyctl.yamlload import Doc


@dataclass(frozen=True)
class Request:
    project: Path
    channel: str
    template: str
    profile: str  # inline JSON or a JSON file
    entry: str | None = None
    base_url: str | None = None
    as_json: bool = False


def run(request: Request) -> int:
    loaded = valid_project(request.project)
    project = loaded.project
    assert project is not None  # valid_project stops before a project that did not load
    channel, template = resolve(project, request.channel, request.template)
    if request.base_url is not None:
        channel = redirected(channel, _base_url(request.base_url))
    message = build_message(project, channel, template, request, loaded.docs)

    def announce() -> None:  # once the adapter is built: its credentials are there
        if not request.as_json:
            to = f" to {message.to}" if message.to else ""
            print(f"sending '{template.name}' on channel '{channel.name}' ({channel.adapter})"
                  f"{to}", flush=True)

    outcome = asyncio.run(_send(channel, message, announce))
    _print(outcome, channel, message, request.as_json)
    return EXIT_OK if outcome.accepted else EXIT_USER


def build_message(project: m.Project, channel: m.Channel, template: m.Template,
                  request: Request, docs: Mapping[str, Doc] | None = None) -> Message:
    """The message a journey would send, rendered with the given profile and entry event;
    `journey` is what CEL and the daemon give templates (`entered_at` a datetime: now)."""
    from journeyctl.engine.interpreter import journey_variable

    profile = {"user_id": "send-test", **json_object(request.profile, "--profile",
                                                     project.root)}
    entry = json_object(request.entry, "--entry", project.root) \
        if request.entry is not None else None
    journey_id, step, category = _first_use(project, template.name)
    context_message: dict[str, Any] = {"step": step, "category": category, "variant": None,
                                       "variants": {}}
    content = render_template(project, template, profile, entry, entry,
                              journey_variable(journey_id, None, time.time()), context_message,
                              docs)
    to = address(channel, profile)
    if channel.address and to is None:
        raise JourneyctlError([diagnostic(
            "JC973", f"the profile has no `{channel.address}`, the address channel "
                     f"'{channel.name}' sends to", option("--profile"),
            f"add \"{channel.address}\" to the profile")])
    return Message(
        user_id=str(profile["user_id"]), journey=journey_id, step=step, channel=channel.name,
        template=template.name, category=category,
        idempotency_key=f"send-test:{uuid.uuid4().hex}", to=to, content=content)


def _first_use(project: m.Project, template: str) -> tuple[str, str, m.Category]:
    """(journey, step, category) of the first send of `template`, so that `journey.id` and
    `message.step` render as they will in production; placeholders when no journey uses it."""
    for journey in project.journeys:
        for step in journey.steps:
            action = step.action
            if isinstance(action, m.Send) and any(o.template == template
                                                  for o in action.options):
                return journey.id, step.id, action.category
    return "send-test", "send-test", "promotional"


def resolve(project: m.Project, channel_name: str,
            template_name: str) -> tuple[m.Channel, m.Template]:
    """The channel and template named on the command line, which must belong together."""
    channel = project.channels.get(channel_name)
    if channel is None:
        raise JourneyctlError([diagnostic("JC975", f"no channel '{channel_name}' in the project",
                                          option("--channel"),
                                          did_you_mean(channel_name, project.channels,
                                                       "channels"))])
    template = project.templates.get(template_name)
    if template is None:
        raise JourneyctlError([diagnostic("JC975", f"no template '{template_name}' in the "
                                          "project", option("--template"),
                                          did_you_mean(template_name, project.templates,
                                                       "templates"))])
    if template.channel != channel.name:
        raise JourneyctlError([diagnostic(
            "JC975", f"template '{template.name}' is written for channel '{template.channel}', "
            f"not '{channel.name}'", option("--template"),
            f"use --channel {template.channel}, or a template for '{channel.name}'")])
    return channel, template


def json_object(text: str, flag: str, root: Path) -> dict[str, Any]:
    """`text` as a JSON object: inline JSON, or the path of a file holding one (not one that
    leads out of the project or the working folder through a link: its values would be sent)."""
    source = text
    if not text.lstrip().startswith(("{", "[")):
        path = Path(text)
        if (linked := input_problem(root, path)) is not None:
            raise JourneyctlError([linked])
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise JourneyctlError([diagnostic(
                "JC974", f"{flag} is neither inline JSON nor a readable file: {text}",
                option(flag), "give a JSON object inline, or the path of a .json file")]) from exc
    try:
        value = json.loads(source)
    except json.JSONDecodeError as exc:
        raise JourneyctlError([diagnostic("JC974", f"{flag} is not valid JSON: {exc}",
                                          option(flag))]) from exc
    if not isinstance(value, dict):
        raise JourneyctlError([diagnostic("JC974", f"{flag} must be a JSON object, not "
                                          f"{type(value).__name__}", option(flag))])
    return value


def _base_url(text: str) -> str:
    problem = check_http_url(text)
    if problem is not None:
        raise JourneyctlError([diagnostic(
            "JC974", f"--base-url {text!r} is not an http(s) URL to send to: {problem}",
            option("--base-url"), "e.g. http://127.0.0.1:8025 (where `journeyctl fake-provider` "
            "listens)")])
    return text


async def _send(channel: m.Channel, message: Message, announce: Callable[[], None]) -> Outcome:
    async with fast_client() as client:
        adapter = adapter_for(channel, client)  # JC970 for missing credentials comes first
        announce()
        return await deliver(adapter, message, channel, limiter=RateLimiter.for_channel(channel))


def _print(outcome: Outcome, channel: m.Channel, message: Message, as_json: bool) -> None:
    if as_json:
        report: dict[str, Any] = {
            "channel": channel.name, "adapter": channel.adapter, "template": message.template,
            "to": message.to, "kind": outcome.kind, "status": outcome.status,
            "provider_id": outcome.provider_id, "error": outcome.error,
            "retry_after": outcome.retry_after, "attempts": outcome.attempts,
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    status = f"HTTP {outcome.status}" if outcome.status is not None else "no response"
    attempts = f"{outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}"
    if outcome.accepted:
        ident = f", id {outcome.provider_id}" if outcome.provider_id else ", no id given"
        print(f"✓ accepted: {status}{ident} ({attempts})")
        return
    wait = f"; the provider asks to retry after {outcome.retry_after:g}s" \
        if outcome.retry_after is not None else ""
    print(f"✗ {outcome.kind} failure: {status}: {outcome.error} ({attempts}){wait}")
