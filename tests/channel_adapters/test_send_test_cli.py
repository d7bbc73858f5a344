"""`journeyctl send-test`, end to end: the real command in a subprocess, against the fake provider
on a loopback port, for every channel of the example project — and every way it can go wrong."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from channel_adapters.fake import FakeProvider, Response
from channel_adapters.webhook import signature
from tests.support import EXAMPLE, run_cli
from tests.support.adapters import closed_port, fake_provider

pytestmark = pytest.mark.e2e  # every test here starts a process

fake = pytest.fixture(fake_provider)

SID = "AC" + "f" * 32
ENV = {
    "SENDGRID_API_KEY": "sg-example-secret-1",
    "TWILIO_ACCOUNT_SID": SID,
    "TWILIO_AUTH_TOKEN": "tw-example-secret-2",
    "FCM_ACCESS_TOKEN": "fcm-example-secret-3",
    "SLACK_VIP_WEBHOOK_URL": "https://hooks.slack.com/services/T9/B9/slack-example-secret-4",
    "CRM_WEBHOOK_SECRET": "crm-example-secret-5",
}
SECRETS = [value for name, value in ENV.items() if name != "TWILIO_ACCOUNT_SID"]
KIM = {"user_id": "u-0001", "name": "김혜진", "email": "kim@example.com", "phone": "+821000000001",
       "push_token": "fcm-a815", "locale": "ko", "total_spent": 192400, "order_count": 2}
TRACEBACK = "Traceback (most recent call last)"


def send_test(fake_url: str | None, channel: str, template: str, profile: Any = KIM,
              *extra: str, project: Path = EXAMPLE,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = ["send-test", project, "--channel", channel, "--template", template,
            "--profile", profile if isinstance(profile, str) else json.dumps(profile), *extra]
    if fake_url is not None:
        args += ["--base-url", fake_url]
    result = run_cli(*args, env={**ENV, **(env or {})})
    output = result.stdout + result.stderr
    assert TRACEBACK not in output
    for secret in SECRETS:
        assert secret not in output
    return result


def test_email_through_sendgrid(fake: FakeProvider) -> None:
    result = send_test(fake.url, "email", "cart_email", KIM, "--entry",
                       '{"product_name": "운동화", "price": 89000}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sending 'cart_email' on channel 'email' (sendgrid) to kim@example.com" in result.stdout
    assert "✓ accepted: HTTP 202, id " in result.stdout
    [request] = fake.requests
    body = request.json()
    assert request.path == "/v3/mail/send"
    assert request.headers["authorization"] == "Bearer sg-example-secret-1"
    assert body["personalizations"] == [{"to": [{"email": "kim@example.com"}]}]
    assert body["from"] == {"email": "no-reply@acme.example", "name": "ACME"}
    assert body["subject"] == "(광고) 김혜진님, 장바구니에 담은 상품이 기다리고 있어요"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    assert "운동화 - 89000원" in body["content"][0]["value"]
    assert "utm_campaign=cart-abandonment" in body["content"][0]["value"]  # its journey


def test_sms_through_twilio(fake: FakeProvider) -> None:
    result = send_test(fake.url, "sms", "cart_sms")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ accepted: HTTP 201, id SM" in result.stdout
    [request] = fake.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = request.form()
    assert (form["To"], form["From"]) == ("+821000000001", "+15005550006")
    assert form["Body"].startswith("(광고)[ACME] 김혜진님, 장바구니 상품이")


def test_push_through_fcm(fake: FakeProvider) -> None:
    result = send_test(fake.url, "push", "cart_push", KIM, "--entry", '{"product_id": "p-9"}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ accepted: HTTP 200, id projects/acme-shop-prod/messages/" in result.stdout
    [request] = fake.requests
    message = request.json()["message"]
    assert request.path == "/v1/projects/acme-shop-prod/messages:send"
    assert message["token"] == "fcm-a815"
    assert message["notification"]["title"].startswith("(광고) ACME")
    assert message["data"] == {"deep_link": "acme://cart", "product_id": "p-9",
                               "campaign": "cart-abandonment"}


def test_slack_through_its_webhook(fake: FakeProvider) -> None:
    result = send_test(fake.url, "slack", "vip_slack_alert")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✓ accepted: HTTP 200, no id given" in result.stdout
    [request] = fake.requests
    assert request.path == "/services/T9/B9/slack-example-secret-4"  # the path, not printed
    body = request.json()
    assert "김혜진 (u-0001)" in body["text"]
    assert body["blocks"][0]["type"] == "header"


def test_crm_through_the_signed_webhook(fake: FakeProvider) -> None:
    result = send_test(fake.url, "crm", "vip_crm_event", KIM, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["kind"] == "accepted" and report["provider_id"].startswith("wh_")
    assert (report["channel"], report["adapter"], report["status"], report["attempts"]) == \
        ("crm", "webhook", 200, 1)
    [request] = fake.requests
    body = request.json()
    assert (body["user_id"], body["journey"], body["channel"]) == ("u-0001", "vip-campaign", "crm")
    assert body["content"]["body"]["user_id"] == "u-0001"
    assert body["idempotency_key"].startswith("send-test:")
    assert request.headers["idempotency-key"] == body["idempotency_key"]
    timestamp = request.headers["x-journeyctl-timestamp"]
    assert request.headers["x-journeyctl-signature"] == signature(
        "crm-example-secret-5", timestamp, request.body)


def test_a_provider_refusal_is_printed_and_fails(fake: FakeProvider) -> None:
    fake.queue("/v3/mail/send", Response(400, {"errors": [{
        "message": "The from address does not match a verified Sender Identity",
        "field": "from"}]}))
    result = send_test(fake.url, "email", "cart_email")
    assert result.returncode == 1
    assert ("✗ permanent failure: HTTP 400: from: The from address does not match a verified "
            "Sender Identity (1 attempt)") in result.stdout
    assert len(fake.requests) == 1


def test_a_missing_credential_names_the_variable() -> None:
    result = send_test("http://127.0.0.1:9", "email", "cart_email",
                       env={"SENDGRID_API_KEY": ""})
    assert result.returncode == 1
    assert "error[JC970]: channel 'email': credential `api_key` reads the environment " \
           "variable SENDGRID_API_KEY, which is empty" in result.stderr
    assert "channels.yaml:7:18: error[JC970]" in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("nope", "cart_email"), "error[JC975]: no channel 'nope' in the project"),
    (("emial", "cart_email"), "did you mean 'email'?"),
    (("email", "cart_emial"), "error[JC975]: no template 'cart_emial' in the project"),
    (("sms", "cart_email"), "template 'cart_email' is written for channel 'email', not 'sms'"),
])
def test_unknown_or_mismatched_names(args: tuple[str, str], message: str) -> None:
    result = send_test(None, *args)
    assert result.returncode == 1
    assert message in result.stderr


@pytest.mark.parametrize(("profile", "message"), [
    ("{not json", "error[JC974]: --profile is not valid JSON"),
    ("[1, 2]", "error[JC974]: --profile must be a JSON object, not list"),
    ('{"a": 1', "error[JC974]: --profile is not valid JSON"),
    ("missing.json", "error[JC974]: --profile is neither inline JSON nor a readable file"),
])
def test_a_bad_profile_is_refused(profile: str, message: str) -> None:
    result = send_test(None, "email", "cart_email", profile)
    assert result.returncode == 1
    assert message in result.stderr


def test_a_profile_file_works_and_must_hold_an_object(fake: FakeProvider, tmp_path: Path) -> None:
    good = tmp_path / "kim.json"
    good.write_text(json.dumps(KIM, ensure_ascii=False), encoding="utf-8")
    assert send_test(fake.url, "sms", "cart_sms", str(good)).returncode == 0
    listed = tmp_path / "list.json"
    listed.write_text("[1]", encoding="utf-8")
    result = send_test(fake.url, "sms", "cart_sms", str(listed))
    assert "error[JC974]: --profile must be a JSON object, not list" in result.stderr


def test_a_profile_without_the_channel_address_is_refused() -> None:
    result = send_test(None, "sms", "cart_sms", {"user_id": "u-2", "email": "x@y.z"})
    assert result.returncode == 1
    assert "error[JC973]: the profile has no `phone`, the address channel 'sms' sends to" \
        in result.stderr


def test_a_template_needing_the_entry_event_says_so() -> None:
    result = send_test(None, "push", "cart_push")
    assert result.returncode == 1
    assert "cart_push.yaml:11:19: error[JC971]: template 'cart_push': `data.product_id` cannot " \
           "be rendered for user 'u-0001': 'entry' is undefined" in result.stderr


def test_a_bad_base_url_is_refused() -> None:
    result = send_test("ftp://example.com", "sms", "cart_sms")
    assert "error[JC974]: --base-url 'ftp://example.com' is not an http(s) URL" in result.stderr


@pytest.mark.parametrize(("url", "problem"), [
    ("http://", "it names no host"),
    ("http://127.0.0.1:99999", "its port is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "its port is not a number from 1 to 65535"),
])
def test_a_base_url_the_client_cannot_use_is_refused_before_sending(url: str,
                                                                    problem: str) -> None:
    result = send_test(url, "sms", "cart_sms")
    assert result.returncode == 1 and result.stdout == ""
    assert f"--base-url: error[JC974]: --base-url '{url}' is not an http(s) URL to send to: " \
        f"{problem}" in result.stderr


def test_nothing_is_announced_before_the_credentials_are_checked() -> None:
    result = send_test("http://127.0.0.1:9", "email", "cart_email", env={"SENDGRID_API_KEY": ""})
    assert result.returncode == 1 and "error[JC970]" in result.stderr
    assert "sending" not in result.stdout


def test_journey_entered_at_renders_as_the_daemon_renders_it(fake: FakeProvider) -> None:
    """A datetime, as CEL and the daemon give it (Liquid prints it `2024-03-13 01:00:00+00:00`),
    not an ISO string with a Z."""
    result = send_test(fake.url, "crm", "vip_crm_event", KIM, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    [request] = fake.requests
    entered_at = request.json()["content"]["body"]["entered_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00:00", entered_at), entered_at


def small_retries(project: Path) -> None:
    path = project / "channels.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("retry: {attempts: 5, backoff: 1s, max_backoff: 5m}",
                                 "retry: {attempts: 2, backoff: 1s, max_backoff: 1s}"),
                    encoding="utf-8")


def test_a_template_rendering_empty_for_the_profile_is_refused(new_project: Path) -> None:
    path = new_project / "templates/nudge_email.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        '"Anything we can help with?"', "\"{{ profile.name | default: '' }}\""),
        encoding="utf-8")
    result = send_test(None, "email", "nudge_email", {"email": "a@b.c"}, project=new_project)
    assert result.returncode == 1
    assert "error[JC972]: template 'nudge_email' renders an empty `subject` for user " \
           "'send-test'" in result.stderr


def test_connection_refused_is_retried_then_reported(new_project: Path) -> None:
    small_retries(new_project)
    result = send_test(f"http://127.0.0.1:{closed_port()}", "email", "welcome_email",
                       {"email": "a@b.c"},
                       project=new_project)
    assert result.returncode == 1
    assert "✗ retryable failure: no response: ConnectError" in result.stdout
    assert "(2 attempts)" in result.stdout


def test_an_invalid_project_is_reported_first(new_project: Path) -> None:
    path = new_project / "journeys/welcome.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("on_timeout: send_nudge",
                                                             "on_timeout: send_nuge"),
                    encoding="utf-8")
    result = send_test(None, "email", "welcome_email", project=new_project)
    assert result.returncode == 1
    assert "error[JC203]" in result.stderr
    assert "the project is invalid" in result.stderr
