"""The two KakaoTalk adapters (NAVER Cloud SENS AlimTalk and FriendTalk), field by field, over a
real loopback socket to the fake provider, which checks their signature with the same keys."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from channel_adapters.fake import FakeProvider, Response
from channel_adapters.sens import recipient
from tests.support.adapters import ENV, SECRETS, Sleeps, make_channel, make_message, send

SERVICE = "ncp:kkobizmsg:kr:2751234:acme"
BUTTONS = [{"type": "WL", "name": "배송 조회", "linkMobile": "https://acme.example/o/1"}]
ALIMTALK = {"text": "김혜진님, 주문 A-1이 배송을 시작했습니다.", "template_code": "ship_start",
            "approved": "#{이름}님, 주문 #{주문번호}이 배송을 시작했습니다.", "buttons": BUTTONS}
BRAND = {"text": "(광고) 봄 세일 20%\n무료수신거부 080-000-0000"}
UNAUTHORIZED = {"error": {"errorCode": "200", "message": "Authentication Failed",
                          "details": "Invalid authentication information."}}


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(sens_keys={ENV["NCP_ACCESS"]: ENV["NCP_SECRET"]}) as server:
        yield server


def expected_signature(uri: str, timestamp: str) -> str:
    """Computed here from the documented recipe, not with the adapter's code."""
    text = "POST " + uri + "\n" + timestamp + "\n" + ENV["NCP_ACCESS"]
    mac = hmac.new(ENV["NCP_SECRET"].encode("utf-8"), text.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def test_alimtalk_request_field_by_field(fake: FakeProvider) -> None:
    channel = make_channel("sens_alimtalk", fake.url)
    before = int(time.time() * 1000)
    outcome = send(channel, replace(make_message(channel, ALIMTALK, to="+821012345678"),
                                    category="transactional"))
    after = int(time.time() * 1000)

    [request] = fake.requests
    path = f"/alimtalk/v2/services/{SERVICE}/messages"
    assert (request.method, request.path, request.query) == ("POST", path, "")
    headers = request.headers
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert before <= int(headers["x-ncp-apigw-timestamp"]) <= after  # milliseconds
    assert headers["x-ncp-iam-access-key"] == "ncp-access-0006"
    assert headers["x-ncp-apigw-signature-v2"] == expected_signature(
        path, headers["x-ncp-apigw-timestamp"])
    assert "authorization" not in headers
    assert request.json() == {
        "plusFriendId": "@acme", "templateCode": "ship_start",
        "messages": [{"countryCode": "82", "to": "01012345678",
                      "content": "김혜진님, 주문 A-1이 배송을 시작했습니다.", "buttons": BUTTONS}],
    }
    assert outcome.kind == "accepted" and outcome.status == 202
    assert outcome.provider_id is not None and outcome.provider_id.startswith("RSSA-")


def test_friendtalk_request_marks_advertising(fake: FakeProvider) -> None:
    channel = make_channel("sens_friendtalk", fake.url)
    promotional = send(channel, make_message(channel, BRAND, to="+821012345678"))
    informational = send(channel, replace(make_message(
        channel, {**BRAND, "buttons": BUTTONS}, to="01099998888"), category="transactional"))

    first, second = fake.requests
    path = f"/friendtalk/v2/services/{SERVICE}/messages"
    assert first.path == second.path == path
    assert first.headers["x-ncp-apigw-signature-v2"] == expected_signature(
        path, first.headers["x-ncp-apigw-timestamp"])
    assert first.json() == {"plusFriendId": "@acme", "messages": [
        {"isAd": "Y", "countryCode": "82", "to": "01012345678", "content": BRAND["text"]}]}
    assert second.json()["messages"] == [
        {"isAd": "N", "to": "01099998888", "content": BRAND["text"], "buttons": BUTTONS}]
    assert promotional.accepted and informational.accepted


def test_the_fake_answers_like_sens(fake: FakeProvider) -> None:
    channel = make_channel("sens_alimtalk", fake.url)
    send(channel, make_message(channel, ALIMTALK, to="+821012345678"))
    [request] = fake.requests
    answer = httpx.post(fake.url + request.path, content=request.body,
                        headers=dict(request.headers)).json()
    assert answer["statusCode"] == "202" and answer["statusName"] == "success"
    assert answer["messages"][0]["requestStatusCode"] == "A000"


def test_a_wrong_secret_is_refused_for_good(fake: FakeProvider) -> None:
    channel = make_channel("sens_friendtalk", fake.url)
    sleeps = Sleeps()
    outcome = send(channel, make_message(channel, BRAND, to="+821012345678"),
                   env={**ENV, "NCP_SECRET": "not-the-secret"}, sleep=sleeps)
    assert (outcome.kind, outcome.status, outcome.attempts) == ("permanent", 401, 1)
    assert outcome.error == "200: Authentication Failed (Invalid authentication information.)"
    assert fake.requests[0].status == 401 and sleeps.waits == []


@pytest.mark.parametrize("drop", ["x-ncp-apigw-signature-v2", "x-ncp-apigw-timestamp",
                                  "x-ncp-iam-access-key"])
def test_a_missing_signing_header_is_401(fake: FakeProvider, drop: str) -> None:
    channel = make_channel("sens_alimtalk", fake.url)
    send(channel, make_message(channel, ALIMTALK, to="+821012345678"))
    [signed] = fake.requests
    headers = {k: v for k, v in signed.headers.items() if k != drop}
    reply = httpx.post(fake.url + signed.path, content=signed.body, headers=headers)
    assert (reply.status_code, reply.json()) == (401, UNAUTHORIZED)


def test_without_keys_the_fake_checks_only_that_it_is_signed() -> None:
    with FakeProvider() as fake:
        channel = make_channel("sens_friendtalk", fake.url)
        assert send(channel, make_message(channel, BRAND, to="+821012345678")).accepted
        reply = httpx.post(fake.url + fake.requests[0].path, json={"plusFriendId": "@a"})
        assert reply.status_code == 401


def test_a_request_sens_would_refuse_is_400(fake: FakeProvider) -> None:
    channel = make_channel("sens_alimtalk", fake.url)
    outcome = send(channel, make_message(channel, {**ALIMTALK, "template_code": ""},
                                         to="+821012345678"))
    assert (outcome.kind, outcome.status) == ("permanent", 400)
    assert outcome.error == "400: templateCode is required"


@pytest.mark.parametrize(("status", "attempts", "kind"), [
    (500, 2, "accepted"), (503, 2, "accepted"), (429, 2, "accepted"),
    (400, 1, "permanent"), (403, 1, "permanent"), (404, 1, "permanent")])
def test_error_mapping(fake: FakeProvider, status: int, attempts: int, kind: str) -> None:
    channel = make_channel("sens_friendtalk", fake.url)
    fake.queue(f"/friendtalk/v2/services/{SERVICE}/messages",
               Response(status, {"error": {"errorCode": "x", "message": "no"}}))
    outcome = send(channel, make_message(channel, BRAND, to="+821012345678"), sleep=Sleeps())
    assert (outcome.kind, outcome.attempts) == (kind, attempts)
    assert len(fake.requests) == attempts


def test_no_credential_reaches_an_error(fake: FakeProvider) -> None:
    channel = make_channel("sens_alimtalk", fake.url)
    fake.queue(f"/alimtalk/v2/services/{SERVICE}/messages",
               Response(400, f"bad key {ENV['NCP_SECRET']}"))
    outcome = send(channel, make_message(channel, ALIMTALK, to="+821012345678"))
    assert outcome.error is not None
    assert all(secret not in outcome.error for secret in SECRETS)


def test_recipient_numbers() -> None:
    assert recipient("+821012345678") == {"countryCode": "82", "to": "01012345678"}
    assert recipient("01012345678") == {"to": "01012345678"}
    assert recipient("+15005550006") == {"to": "+15005550006"}
