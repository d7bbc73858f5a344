"""Each adapter's request, field by field, against its provider's documented format — sent over a
real loopback socket to the fake provider, which answers the way the provider does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from channel_adapters.fake import FakeProvider
from tests.support.adapters import (
    ENV,
    TWILIO_SID,
    fake_provider,
    make_channel,
    make_message,
    send,
    send_once,
)

fake = pytest.fixture(fake_provider)

EMAIL = {"subject": "(광고) 김혜진님, 장바구니가 기다려요", "text": "안녕하세요\n장바구니 확인",
         "html": "<p>안녕하세요</p>"}


def test_sendgrid_mail_send(fake: FakeProvider) -> None:
    channel = make_channel("sendgrid", fake.url,
                           settings={"reply_to": {"email": "help@acme.example"}})
    outcome = send(channel, make_message(channel, EMAIL, to="kim@example.com"))

    [request] = fake.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["authorization"] == "Bearer sg-secret-0001"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "personalizations": [{"to": [{"email": "kim@example.com"}]}],
        "from": {"email": "no-reply@acme.example", "name": "ACME"},
        "reply_to": {"email": "help@acme.example"},
        "subject": "(광고) 김혜진님, 장바구니가 기다려요",
        "content": [{"type": "text/plain", "value": "안녕하세요\n장바구니 확인"},
                    {"type": "text/html", "value": "<p>안녕하세요</p>"}],
    }
    assert outcome.kind == "accepted" and outcome.status == 202
    assert outcome.provider_id and len(outcome.provider_id) == 22  # the X-Message-Id header
    assert (outcome.error, outcome.retry_after, outcome.attempts) == (None, None, 1)


def test_sendgrid_sends_only_the_parts_with_text(fake: FakeProvider) -> None:
    channel = make_channel("sendgrid", fake.url)
    send(channel, make_message(channel, {**EMAIL, "text": "  \n"}, to="kim@example.com"))
    send(channel, make_message(channel, {"subject": "s", "text": "t"}, to="kim@example.com"))

    first, second = (r.json() for r in fake.requests)
    assert first["content"] == [{"type": "text/html", "value": "<p>안녕하세요</p>"}]
    assert second["content"] == [{"type": "text/plain", "value": "t"}]
    assert "reply_to" not in second


def test_sendgrid_carries_the_one_click_unsubscribe_headers(fake: FakeProvider) -> None:
    """RFC 8058: a message with an unsubscribe URL (the daemon's promotional email) has both
    headers in the body's top-level `headers`; the fake accepts and records them."""
    from dataclasses import replace

    channel = make_channel("sendgrid", fake.url)
    url = "https://journeys.example.com/v1/unsubscribe/v1.abc.def"
    outcome = send(channel, replace(make_message(channel, EMAIL, to="kim@example.com"),
                                    unsubscribe_url=url))
    [request] = fake.requests
    assert request.json()["headers"] == {"List-Unsubscribe": f"<{url}>",
                                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert outcome.kind == "accepted"


def test_twilio_messages_with_a_sender_number(fake: FakeProvider) -> None:
    channel = make_channel("twilio", fake.url)
    outcome = send(channel, make_message(channel, {"text": "(광고)[ACME] 장바구니 무료수신거부"},
                                         to="+821000000001"))

    [request] = fake.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{TWILIO_SID}:tw-secret-0002"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"To": "+821000000001", "From": "+15005550006",
                              "Body": "(광고)[ACME] 장바구니 무료수신거부"}
    assert outcome.kind == "accepted" and outcome.status == 201
    assert outcome.provider_id and outcome.provider_id.startswith("SM")  # the `sid`


def test_twilio_messages_through_a_messaging_service(fake: FakeProvider) -> None:
    service = "MG" + "0" * 32
    channel = make_channel("twilio", fake.url, settings={"from": None,
                                                        "messaging_service_sid": service})
    assert send(channel, make_message(channel, {"text": "hi"}, to="+15551234567")).accepted
    assert fake.requests[0].form() == {"To": "+15551234567", "Body": "hi",
                                       "MessagingServiceSid": service}


def test_fcm_http_v1_send(fake: FakeProvider) -> None:
    channel = make_channel("fcm", fake.url)
    content = {"title": "(광고) ACME", "body": "장바구니 상품이 기다려요",
               "data": {"deep_link": "acme://cart", "product_id": "p-9"}}
    outcome = send(channel, make_message(channel, content, to="fcm-token-1"))

    [request] = fake.requests
    assert request.path == "/v1/projects/acme-test/messages:send"
    assert request.headers["authorization"] == "Bearer fcm-secret-0003"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"message": {
        "token": "fcm-token-1",
        "notification": {"title": "(광고) ACME", "body": "장바구니 상품이 기다려요"},
        "data": {"deep_link": "acme://cart", "product_id": "p-9"},
    }}
    assert outcome.kind == "accepted" and outcome.status == 200
    assert outcome.provider_id and outcome.provider_id.startswith("projects/acme-test/messages/")


def test_fcm_leaves_out_empty_data(fake: FakeProvider) -> None:
    channel = make_channel("fcm", fake.url)
    send(channel, make_message(channel, {"title": "t", "body": "b", "data": {}}, to="tok"))
    assert "data" not in fake.requests[0].json()["message"]


def test_slack_incoming_webhook(fake: FakeProvider) -> None:
    # base_url replaces the webhook URL's host and keeps its path (the webhook's identity).
    channel = make_channel("slack", fake.url)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*VIP* 김혜진"}}]
    outcome = send(channel, make_message(channel, {"text": ":crown: VIP", "blocks": blocks}))

    [request] = fake.requests
    assert request.path == "/services/T0/B0/slack-secret-0004"
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers
    assert request.json() == {"text": ":crown: VIP", "blocks": blocks}
    assert (outcome.kind, outcome.status, outcome.provider_id) == ("accepted", 200, None)


def test_slack_posts_to_the_webhook_url_itself(fake: FakeProvider) -> None:
    channel = make_channel("slack", None)
    env = {**ENV, "SLACK_URL": f"{fake.url}/services/T1/B1/other"}
    assert send(channel, make_message(channel, {"text": "hi", "blocks": []}), env).accepted
    assert fake.requests[0].path == "/services/T1/B1/other"
    assert fake.requests[0].json() == {"text": "hi"}


def test_webhook_posts_the_whole_message_signed(fake: FakeProvider) -> None:
    channel = make_channel("webhook", f"{fake.url}/hooks/crm")
    content = {"body": {"type": "vip", "total": "192400", "name": "김혜진"}}
    message = make_message(channel, content)
    before = int(time.time())
    outcome = send(channel, message)

    [request] = fake.requests
    assert request.path == "/hooks/crm"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["idempotency-key"] == "u-1:cart:1:email_reminder:1"
    assert request.json() == {
        "user_id": "u-1", "journey": "cart", "step": "email_reminder", "channel": "my-webhook",
        "template": "cart_email", "category": "promotional", "variant": "ab=coupon",
        "idempotency_key": "u-1:cart:1:email_reminder:1", "to": None, "content": content,
    }
    timestamp = request.headers["x-journeyctl-timestamp"]
    assert before <= int(timestamp) <= time.time()
    expected = hmac.new(b"hook-secret-0005", f"{timestamp}.".encode() + request.body,
                        hashlib.sha256).hexdigest()
    assert request.headers["x-journeyctl-signature"] == f"v1={expected}"
    assert outcome.kind == "accepted" and outcome.provider_id.startswith("wh_")


def test_webhook_signature_header_is_configurable(fake: FakeProvider) -> None:
    channel = make_channel("webhook", fake.url, settings={"signature_header": "X-Acme-Sig"})
    send(channel, make_message(channel, {"body": {"a": "b"}}))
    headers = fake.requests[0].headers
    assert headers["x-acme-sig"].startswith("v1=")
    assert "x-journeyctl-signature" not in headers


def test_a_receiver_that_checks_signatures_accepts_ours_and_rejects_a_wrong_secret() -> None:
    with FakeProvider(webhook_secret="hook-secret-0005") as checking:
        channel = make_channel("webhook", checking.url)
        assert send(channel, make_message(channel, {"body": {"a": "b"}})).accepted
        wrong = send(channel, make_message(channel, {"body": {"a": "b"}}),
                     {**ENV, "HOOK_SECRET": "another-secret"})
    assert (wrong.kind, wrong.status) == ("permanent", 401)


@pytest.mark.parametrize("adapter", ["sendgrid", "twilio", "fcm"])
def test_a_message_without_an_address_is_not_sent(fake: FakeProvider, adapter: str) -> None:
    channel = make_channel(adapter, fake.url)
    outcome = send_once(channel, make_message(channel, {"text": "x"}, to=None))
    assert (outcome.kind, outcome.error) == ("permanent", "the message has no address")
    assert fake.requests == []
