"""The one-click unsubscribe tokens (journeyctl.daemon.unsubscribe): signed per user and channel,
URL-safe, and every forged or damaged token refused the same way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import orjson
import pytest

from journeyctl import model as m
from journeyctl.daemon.unsubscribe import Links, Signer, event_id, promotional_header_channels

SECRET = b"s" * 40
SIGNER = Signer(SECRET)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_a_token_round_trips_and_is_url_safe() -> None:
    for user, channel in [("u1", "email"), ("고객/7?&=#", "email"), ("x" * 256, "sms")]:
        token = SIGNER.token(user, channel)
        assert re.fullmatch(r"v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", token)
        assert "=" not in token
        assert SIGNER.verify(token) == (user, channel)
    assert SIGNER.token("u1", "email") == SIGNER.token("u1", "email")  # deterministic


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1:]


def test_every_forgery_gets_the_same_none() -> None:
    token = SIGNER.token("u1", "email")
    version, payload, mac = token.split(".")
    other_user = _b64(orjson.dumps(["u2", "email"]))
    other_channel = _b64(orjson.dumps(["u1", "sms"]))
    forged = [
        *(_flip(token, i) for i in range(len(token)) if token[i] != "."),  # every character
        f"{version}.{other_user}.{mac}",  # another user with u1's signature
        f"{version}.{other_channel}.{mac}",  # another channel
        Signer(b"t" * 40).token("u1", "email"),  # another secret
        f"v2.{payload}.{mac}",  # an unknown version
        f"{version}.{payload}.{mac}==",  # padded
        f"{version}.{payload}",  # no signature
        f"{version}.{payload}.{mac}.x",
        "", ".", "v1..", "v1.%%%.%%%", token[:-1], token + "A", "v1." + "A" * 5000,
        f"{version}.{_b64(b'not json')}.{_b64(b'x' * 32)}",
    ]
    for bad in forged:
        assert SIGNER.verify(bad) is None, bad
    # a payload validly signed but of the wrong shape is refused too
    for value in ([], ["u1"], ["u1", ""], ["u1", 3], {"u": 1}, ["a", "b", "c"]):
        body = _b64(orjson.dumps(value))
        mac = _b64(hmac.new(SECRET, f"v1.{body}".encode(), hashlib.sha256).digest())
        assert SIGNER.verify(f"v1.{body}.{mac}") is None, value


def test_the_secret_is_never_shown() -> None:
    assert "sss" not in repr(SIGNER)
    assert "sss" not in repr(Links(SIGNER, "https://j.example.com"))


def test_links_only_for_promotional_sendgrid() -> None:
    links = Links(SIGNER, "https://j.example.com/")
    email = m.Channel(m.Loc(""), name="email", adapter="sendgrid")
    sms = m.Channel(m.Loc(""), name="sms", adapter="twilio")
    url = links.for_message(email, "promotional", "u1")
    assert url is not None and url.startswith("https://j.example.com/v1/unsubscribe/v1.")
    assert SIGNER.verify(url.rsplit("/", 1)[1]) == ("u1", "email")
    assert links.for_message(email, "transactional", "u1") is None
    assert links.for_message(sms, "promotional", "u1") is None


@pytest.mark.parametrize("day", ["2026-12-04", "2026-12-05"])
def test_event_ids_hide_the_token_and_change_by_day(day: str) -> None:
    token = SIGNER.token("u1", "email")
    found = event_id(token, day)
    assert token not in found and found.endswith(day)
    assert found == event_id(token, day) != event_id(SIGNER.token("u2", "email"), day)


def test_promotional_header_channels() -> None:
    loc = m.Loc("")
    channels = {"email": m.Channel(loc, name="email", adapter="sendgrid"),
                "sms": m.Channel(loc, name="sms", adapter="twilio")}

    def journey(category: m.Category) -> m.Journey:
        send = m.Send(loc, primary=m.SendOption(loc, channel="sms"), category=category,
                      fallback=(m.SendOption(loc, channel="email"),))
        return m.Journey(loc, id=category, steps=(m.Step(loc, id="s", action=send),))

    assert promotional_header_channels(m.Project(loc, channels=channels, journeys=(
        journey("promotional"),))) == ["email"]
    assert promotional_header_channels(m.Project(loc, channels=channels, journeys=(
        journey("transactional"),))) == []
