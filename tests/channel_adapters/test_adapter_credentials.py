"""Credentials come from the environment variables channels.yaml names; a missing one is a clear
error naming it, and no secret ever shows in an outcome, an error or a repr."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace

import pytest

from channel_adapters import Adapter, adapter_for
from channel_adapters.factory import check_http_url
from channel_adapters.fake import FakeProvider, Response
from channel_adapters.transport import fast_client
from journeyctl.diagnostics import JourneyctlError
from tests.support.adapters import (
    ENV,
    SECRETS,
    TWILIO_SID,
    fake_provider,
    make_channel,
    make_message,
    send,
)

fake = pytest.fixture(fake_provider)


def build(channel_adapter: str, env: dict[str, str]) -> Adapter:
    async def go() -> Adapter:
        async with fast_client() as client:
            return adapter_for(make_channel(channel_adapter, "https://api.example"), client, env)

    return asyncio.run(go())


def test_a_missing_variable_is_named_and_located() -> None:
    with pytest.raises(JourneyctlError) as caught:
        build("sendgrid", {})
    [problem] = caught.value.diagnostics
    assert problem.code == "JC970"
    assert problem.message == ("channel 'my-sendgrid': credential `api_key` reads the "
                               "environment variable SG_KEY, which is not set")
    assert str(problem.loc) == "channels.yaml:3:3"
    assert problem.hint and "export SG_KEY=" in problem.hint


def test_every_missing_variable_is_reported_at_once_and_empty_counts_as_missing() -> None:
    with pytest.raises(JourneyctlError) as caught:
        build("twilio", {"TW_SID": "  "})
    messages = [d.message for d in caught.value.diagnostics]
    assert [d.code for d in caught.value.diagnostics] == ["JC970", "JC970"]
    assert "TW_SID, which is empty" in messages[0]
    assert "TW_TOKEN, which is not set" in messages[1]


def test_a_slack_webhook_variable_that_is_not_a_url_is_refused_without_showing_it() -> None:
    with pytest.raises(JourneyctlError) as caught:
        build("slack", {"SLACK_URL": "xoxb-secret-token-value"})
    [problem] = caught.value.diagnostics
    assert problem.code == "JC977"
    assert "SLACK_URL" in problem.message
    assert "xoxb-secret-token-value" not in f"{problem.message} {problem.hint}"


@pytest.mark.parametrize("value", ["http://", "https://hooks.slack.com:99999/x",
                                   "https://hooks slack.com/secret-path-value"])
def test_a_slack_webhook_url_the_client_cannot_use_is_refused(value: str) -> None:
    with pytest.raises(JourneyctlError) as caught:
        build("slack", {"SLACK_URL": value})
    [problem] = caught.value.diagnostics
    assert problem.code == "JC977" and "usable http(s) URL: it" in problem.message
    assert value not in f"{problem.message} {problem.hint}"


def test_check_http_url() -> None:
    assert check_http_url("https://api.example:8443/v1") is None
    assert check_http_url("HTTP://127.0.0.1") is None
    assert check_http_url("ftp://x") == "it does not start with http:// or https://"
    assert check_http_url("http://") == "it names no host"
    assert check_http_url("http://h:x") == "its port is not a number from 1 to 65535"
    assert check_http_url("http://[::1").startswith("it cannot be parsed")  # type: ignore[union-attr]


def test_an_unknown_adapter_is_refused() -> None:
    channel = replace(make_channel("webhook", "https://x.example"), adapter="pigeon")

    async def go() -> None:
        async with fast_client() as client:
            adapter_for(channel, client, ENV)

    with pytest.raises(JourneyctlError) as caught:
        asyncio.run(go())
    assert caught.value.diagnostics[0].code == "JC702"


@pytest.mark.parametrize("adapter", ["sendgrid", "twilio", "fcm", "slack", "webhook"])
def test_no_secret_in_reprs(adapter: str) -> None:
    built = build(adapter, ENV)
    provider = built.provider  # type: ignore[attr-defined]
    shown = f"{built!r} {provider!r} {provider.config!r}"  # what a log line's %r would show
    for secret in SECRETS:
        assert secret not in shown


def test_a_provider_echoing_the_credentials_does_not_leak_them(fake: FakeProvider) -> None:
    basic = base64.b64encode(f"{TWILIO_SID}:tw-secret-0002".encode()).decode()
    fake.queue("/v3/mail/send", Response(401, {"errors": [
        {"message": "bad key Bearer sg-secret-0001 (sg-secret-0001)"}]}))
    fake.queue(f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json", Response(
        401, {"code": 20003, "message": f"Authenticate: Basic {basic} tw-secret-0002"}))
    sendgrid = make_channel("sendgrid", fake.url)
    twilio = make_channel("twilio", fake.url)
    first = send(sendgrid, make_message(sendgrid, {"subject": "s", "text": "t"}, to="a@b.c"))
    second = send(twilio, make_message(twilio, {"text": "t"}, to="+15551234567"))

    assert first.error == "bad key Bearer *** (***)"
    assert second.error == "20003: Authenticate: Basic *** ***"
    for outcome in (first, second):
        for secret in [*SECRETS, basic]:
            assert secret not in repr(outcome)
