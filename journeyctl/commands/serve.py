"""`journeyctl serve PROJECT`: run the applied journeys as a daemon (see journeyctl.daemon)."""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from journeyctl.boundary import EXIT_OK
from journeyctl.commands.common import valid_project
from journeyctl.commands.state_common import Given, state_ref
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic, option
from journeyctl.hints import command

if TYPE_CHECKING:
    from journeyctl.daemon.unsubscribe import Links, Signer
    from journeyctl.model import Project

TOKEN_VARIABLE = "JOURNEYCTL_API_TOKEN"


def run(project_path: Path, state_url: str | None, host: str, port: int, log_format: str,
        base_urls: list[str], lease: float = 10.0, public_url: str | None = None) -> int:
    from journeyctl.daemon import logs
    from journeyctl.daemon.api import ApiOptions
    from journeyctl.daemon.server import ServeOptions, bind, serve
    from journeyctl.state import open_runtime

    loaded = valid_project(project_path, "the daemon was not started")
    project = loaded.project
    assert project is not None
    given = Given(project_path, state_url)
    ref = state_ref(loaded, given)
    shown = ref.shown
    token = os.environ.get(TOKEN_VARIABLE, "").strip() or None
    _check_host(host, token)
    urls = _base_urls(base_urls, set(project.channels))
    signer, links = _unsubscribe(public_url)
    store = ref.open()  # migrates an older state; refuses a newer one
    try:
        if not store.exists or not store.snapshot().settings:
            raise JourneyctlError([diagnostic(
                "JC980", f"nothing is applied to {shown}: the daemon runs applied journeys",
                Loc(shown),
                f"apply first: {command('apply', *given.args())}")])
        store.check_writable(time.time())  # else every event would be refused: say so now
    finally:
        store.close()
    logs.setup(log_format)
    unsubscribe_warning(project, links)
    try:
        sock = bind(host, port)
    except (OSError, OverflowError) as exc:
        raise JourneyctlError([diagnostic(
            "JC982", f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}",
            option("--port"), "choose another --port (0 takes a free one) or stop what uses it")
        ]) from exc
    options = ServeOptions(base_urls=urls, api=ApiOptions(token=token, unsubscribe=signer),
                           lease=lease, links=links)
    # the daemon opens the state again, on its core thread
    serve(functools.partial(open_runtime, ref.location, lease=lease), options, sock)
    return EXIT_OK


def _check_host(host: str, token: str | None) -> None:
    """Without a token the API is open to whoever can connect: loopback only."""
    if token is not None or _loopback(host):
        return
    raise JourneyctlError([diagnostic(
        "JC981", f"--host {host} accepts connections from other machines, and "
        f"{TOKEN_VARIABLE} is not set: the API would be open to anyone who can reach it",
        option("--host"), f"export {TOKEN_VARIABLE}=<a long random token> (clients send it as "
        "`Authorization: Bearer <token>`), or listen on 127.0.0.1")])


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback
                       for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return False


def _base_urls(values: list[str], channels: set[str]) -> dict[str, str]:
    """`--base-url URL` (every channel) or `--base-url CHANNEL=URL` (one), repeatable."""
    from channel_adapters.factory import check_http_url

    urls: dict[str, str] = {}
    for value in values:
        name, _, url = value.rpartition("=") if "=" in value.split("://")[0] else ("", "", value)
        if name and name not in channels:
            raise JourneyctlError([diagnostic(
                "JC983", f"--base-url {value!r} names no channel of the project",
                option("--base-url"), f"channels: {', '.join(sorted(channels))}")])
        problem = check_http_url(url)
        if problem is not None:
            raise JourneyctlError([diagnostic(
                "JC983", f"--base-url {value!r} is not an http(s) URL to send to: {problem}",
                option("--base-url"),
                "e.g. http://127.0.0.1:8025 (where `journeyctl fake-provider` listens), or "
                "CHANNEL=URL for one channel")])
        urls[name or "*"] = url
    return urls


def _unsubscribe(public_url: str | None) -> tuple[Signer | None, Links | None]:
    """The one-click unsubscribe signer (JOURNEYCTL_UNSUBSCRIBE_SECRET) and, with a public URL,
    the links promotional email carries. A public URL without a usable secret is refused: the
    daemon would send email whose unsubscribe link cannot work."""
    from channel_adapters.factory import check_http_url
    from journeyctl.daemon.unsubscribe import (
        MIN_SECRET,
        PUBLIC_URL_VARIABLE,
        SECRET_VARIABLE,
        Links,
        Signer,
    )

    secret = os.environ.get(SECRET_VARIABLE, "").strip()
    url = (public_url or "").strip() or None
    if url is not None:
        problem = check_http_url(url)
        if problem is not None:
            raise JourneyctlError([diagnostic(
                "JC984", f"--public-url {url!r} is not an http(s) URL: {problem}",
                option("--public-url"), "the address the daemon is reached at from the "
                "internet, e.g. https://journeys.example.com")])
        if len(secret) < MIN_SECRET:
            what = "is not set" if not secret else f"is shorter than {MIN_SECRET} characters"
            raise JourneyctlError([diagnostic(
                "JC984", f"--public-url (or {PUBLIC_URL_VARIABLE}) is set but {SECRET_VARIABLE} "
                f"{what}: the one-click unsubscribe links could not be signed safely",
                option("--public-url"), f"export {SECRET_VARIABLE}=$(openssl rand -hex 32) "
                "(the same value on every daemon of the state, kept secret), or leave the "
                "public URL out")])
    signer = Signer(secret.encode()) if len(secret) >= MIN_SECRET else None
    links = Links(signer, url) if signer is not None and url is not None else None
    return signer, links


def unsubscribe_warning(project: Project, links: Links | None) -> None:
    """One line at start when promotional SendGrid email would go out with no one-click
    unsubscribe header (Gmail and Yahoo require it of bulk senders since 2024)."""
    import logging

    from journeyctl.daemon.unsubscribe import promotional_header_channels

    channels = promotional_header_channels(project)
    if links is None and channels:
        logging.getLogger("journeyctl.serve").warning(
            "promotional email on %s goes out without a one-click unsubscribe header (Gmail "
            "and Yahoo require one of bulk senders since 2024): set --public-url and "
            "JOURNEYCTL_UNSUBSCRIBE_SECRET (docs/daemon.md, \"One-click unsubscribe\")",
            ", ".join(channels), extra={"fields": {"channels": channels}})
