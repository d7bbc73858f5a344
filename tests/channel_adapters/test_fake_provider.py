"""The fake provider itself: it answers like the providers do, plays queued faults in order, and
runs as `journeyctl fake-provider`."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess

import httpx
import pytest

from channel_adapters.fake import FakeProvider, Response
from tests.support import journeyctl_command, run_cli
from tests.support.adapters import TWILIO_SID, fake_provider

fake = pytest.fixture(fake_provider)

BEARER = {"Authorization": "Bearer token"}
TWILIO = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
FCM = "/v1/projects/p/messages:send"


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}


@pytest.mark.parametrize(("path", "kwargs", "status", "body"), [
    ("/v3/mail/send", {"json": {}}, 401, "authorization grant is invalid"),
    ("/v3/mail/send", {"json": {"personalizations": [{"to": [{"email": "a@b.c"}]}],
                                "from": {"email": "x@y.z"}, "content": [{"type": "text/plain",
                                                                         "value": "t"}]},
                       "headers": BEARER}, 400, '"field":"subject"'),
    (TWILIO, {"data": {"To": "+1", "Body": "b", "From": "+2"}, "headers": basic("ACother")},
     401, '"code":20003'),
    (TWILIO, {"data": {"To": "+1", "From": "+2"}, "headers": basic(TWILIO_SID)}, 400,
     '"code":21602'),
    (TWILIO, {"data": {"To": "+1", "Body": "b"}, "headers": basic(TWILIO_SID)}, 400,
     '"code":21603'),
    (FCM, {"json": {"message": {}}, "headers": BEARER}, 400, "INVALID_ARGUMENT"),
    (FCM, {"json": {"message": {"token": "t", "data": {"n": 1}}}, "headers": BEARER}, 400,
     "values must be strings"),
    (FCM, {"json": {"message": {"token": "t"}}}, 401, "UNAUTHENTICATED"),
    ("/services/T/B/X", {"json": {}}, 400, "invalid_payload"),
    ("/anything", {"content": b"not json"}, 400, "not a JSON object"),
])
def test_it_refuses_what_the_provider_would(fake: FakeProvider, path: str, kwargs: dict,
                                             status: int, body: str) -> None:
    response = httpx.post(fake.url + path, **kwargs)
    assert response.status_code == status
    assert body in response.text


def test_it_answers_other_methods_with_405(fake: FakeProvider) -> None:
    assert httpx.get(fake.url + "/v3/mail/send").status_code == 405


def test_queued_responses_play_in_order_then_it_answers_normally(fake: FakeProvider) -> None:
    fake.queue("/hook", Response(500, "a"), Response(429, "b", {"Retry-After": "3"}))
    with httpx.Client(base_url=fake.url) as client:  # one keep-alive connection for all three
        answers = [client.post("/hook", json={"n": i}) for i in range(3)]
    assert [a.status_code for a in answers] == [500, 429, 200]
    assert answers[1].headers["retry-after"] == "3"
    assert answers[2].json()["id"].startswith("wh_")
    assert [r.json() for r in fake.received("/hook")] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert fake.received("/other") == []


@pytest.mark.e2e
def test_the_command_prints_its_url_serves_and_logs() -> None:
    process = subprocess.Popen([*journeyctl_command(), "fake-provider"], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert match, first
        response = httpx.post(match[0] + "/services/T/B/X", json={"text": "hi"})
        assert (response.status_code, response.text) == (200, "ok")
        lines = iter(process.stdout.readline, "")
        assert next(line for line in lines if line.startswith("POST")) == \
            "POST /services/T/B/X -> 200  text='hi'\n"
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.e2e
def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("fake-provider", "--port", str(port))
        with pytest.raises(OSError), FakeProvider(port):
            pass
    assert result.returncode == 1
    assert f"error[JC976]: cannot listen on 127.0.0.1:{port}" in result.stderr
