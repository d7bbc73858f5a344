"""A Slack webhook URL is itself a secret, and a provider or a proxy may echo a piece of it (the
path) in its error: no part of a credential longer than 8 characters is ever printed by
`journeyctl send-test`, whatever the provider answers. (The daemon's side, its state and
`GET /v1/users/{id}`, is tests/daemon/test_serve_secret_urls.py.)"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from channel_adapters import http_adapter  # looked up when called: collected on any version
from channel_adapters.fake import FakeProvider, Response
from tests.support import EXAMPLE, run_cli
from tests.support.adapters import fake_provider

fake = pytest.fixture(fake_provider)

# The segments a provider echoes, each longer than 8 characters, and none printed.
TEAM, HOOK, TOKEN = "T0LEAKY42", "B0LEAKY42", "xoxbLeakyWebhookSecret77"
PATH = f"/services/{TEAM}/{HOOK}/{TOKEN}"
WEBHOOK = f"https://hooks.slack.com{PATH}"


def echo(path: str) -> Response:
    """What a provider or proxy answers for a webhook it does not know: the path, plain and
    percent-encoded."""
    return Response(404, f"no_service for POST {path} ({quote(path, safe='')})",
                    {"Content-Type": "text/html"})


@pytest.mark.parametrize("output", ["text", "json"])
@pytest.mark.e2e
def test_send_test_never_prints_a_piece_of_the_webhook_url_a_provider_echoes(
        fake: FakeProvider, output: str) -> None:
    fake.queue(PATH, echo(PATH))
    result = run_cli("send-test", EXAMPLE, "--channel", "slack", "--template", "vip_slack_alert",
                     "--profile", json.dumps({"user_id": "u-1", "name": "Kim"}),
                     "--base-url", fake.url, *(["--json"] if output == "json" else []),
                     env={"SLACK_VIP_WEBHOOK_URL": WEBHOOK})
    printed = result.stdout + result.stderr
    assert result.returncode == 1, printed
    assert [r.path for r in fake.requests] == [PATH]  # it was sent there, and answered 404
    for part in (TEAM, HOOK, TOKEN):
        assert part not in printed
    assert "no_service for POST /services/***/***/***" in printed


# --- the core ------------------------------------------------------------------------------


def test_secret_parts_are_the_value_and_its_pieces_longer_than_8() -> None:
    parts = http_adapter.secret_parts
    found = parts([WEBHOOK])
    assert {WEBHOOK, TOKEN, HOOK, TEAM} <= set(found)
    assert found == sorted(found, key=lambda part: (-len(part), part))  # longest first
    assert {"SG.abcdefghij.klm", "abcdefghij"} <= set(parts(["SG.abcdefghij.klm"]))
    assert parts(["abc"]) == []  # 3 characters: not worth blanking


def test_a_secret_echoed_percent_encoded_or_in_base64_is_redacted() -> None:
    """Pieces of 8 characters or fewer between `/`, `+` and `=` survive the piece rule: the
    encoded forms of the whole secret are redacted as such."""
    secret = "Xk8vQ2mZ/Lp4nR7tW/Hq2jF9sB+Yc5dE3gA=="
    for echoed in (quote(secret, safe=""), quote_plus(secret),
                   base64.b64encode(secret.encode()).decode(),
                   base64.urlsafe_b64encode(secret.encode()).decode()):
        assert http_adapter.redact(f"bad token {echoed}!", [secret]) == "bad token ***!"


def test_redact_replaces_the_value_and_each_long_piece() -> None:
    text = f"at {WEBHOOK}; path {quote(PATH, safe='')}; team {TEAM.lower()}"
    assert http_adapter.redact(text, [WEBHOOK]) == (
        f"at ***; path %2Fservices%2F***%2F***%2F***; team {TEAM.lower()}")
    # `services` and `hooks.slack.com`'s labels are 8 characters or fewer: kept, to read
    kept = "hooks.slack.com/services"
    assert http_adapter.redact(kept, [WEBHOOK]) == kept
