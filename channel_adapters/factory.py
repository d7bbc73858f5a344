"""`adapter_for`: a channel from channels.yaml plus the environment -> a ready adapter.

Credentials are read here, once, from the variables channels.yaml names. A missing variable is
a located error naming it; the values themselves never reach a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from channel_adapters.base import Adapter, Config
from channel_adapters.registry import PROVIDERS, REGISTRY
from journeyctl.diagnostics import Diagnostic, JourneyctlError, diagnostic
from journeyctl.model import Channel

if TYPE_CHECKING:
    import httpx


def adapter_for(channel: Channel, client: httpx.AsyncClient,
                env: Mapping[str, str] = os.environ) -> Adapter:
    """The adapter for `channel`, sending with `client`; raises JourneyctlError (JC702, JC970,
    JC977) when the channel cannot send from this environment."""
    # httpx loads when something is sent, not whenever `validate` loads the registry.
    from channel_adapters.http_adapter import HttpAdapter

    spec = REGISTRY.get(channel.adapter)
    if spec is None:
        raise JourneyctlError([diagnostic("JC702", f"channel '{channel.name}': unknown adapter "
                                          f"'{channel.adapter}'", channel.at("adapter"))])
    credentials = _credentials(channel, spec.credentials, env)
    config = Config(channel, channel.base_url or spec.default_base_url or "", credentials)
    _check_urls(channel, config)
    provider = PROVIDERS[spec.name](config)
    return HttpAdapter(provider, client, credentials.values())


def check_http_url(text: str) -> str | None:
    """What makes `text` unusable as an http(s) URL to send to, or None when it is one: an
    http or https scheme, a host, and a port (when given) from 1 to 65535."""
    if any(char.isspace() for char in text):
        return "it contains a space"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # a port that is no number or too large, an unclosed [IPv6]
        if "port" in str(exc).lower():
            return "its port is not a number from 1 to 65535"
        return f"it cannot be parsed ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return "it does not start with http:// or https://"
    if not parts.hostname:
        return "it names no host"
    if port == 0:
        return "its port is not a number from 1 to 65535"
    return None


def redirected(channel: Channel, url: str) -> Channel:
    """`channel` sending to `url`'s host instead of its provider's (a fake provider, a proxy),
    keeping the path of a channel whose `base_url` has one (a webhook's endpoint)."""
    own = urlsplit(channel.base_url or "")
    rest = own.path.rstrip("/") + (f"?{own.query}" if own.query else "")
    return replace(channel, base_url=url.rstrip("/") + rest)


def _credentials(channel: Channel, names: tuple[str, ...],
                 env: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for name in names:
        variable = channel.credentials.get(name, "")
        value = env.get(variable, "") if variable else ""
        if value.strip():
            values[name] = value.strip()
            continue
        state = "is empty" if variable in env else "is not set"
        problems.append(diagnostic(
            "JC970", f"channel '{channel.name}': credential `{name}` reads the environment "
            f"variable {variable or '(none)'}, which {state}", channel.at("credentials"),
            f"export {variable or 'NAME'}=... where journeyctl runs (never in channels.yaml)"))
    if problems:
        raise JourneyctlError(problems)
    return values


def _check_urls(channel: Channel, config: Config) -> None:
    """A URL the client cannot use would only fail at send time with a vaguer message."""
    url = config.credentials.get("webhook_url")
    problem = check_http_url(url) if url is not None else None
    if problem is not None:
        variable = channel.credentials["webhook_url"]
        if "(" in problem:  # the parser's detail may quote the value: a secret
            problem = "it cannot be parsed"
        raise JourneyctlError([diagnostic(
            "JC977", f"channel '{channel.name}': the environment variable {variable} does not "
            f"hold a usable http(s) URL: {problem} (its value is not shown)",
            channel.at("credentials"),
            "set it to the incoming webhook URL Slack gave you: https://hooks.slack.com/...")])
