"""KakaoTalk channels end to end, with the real CLI: `validate` holds AlimTalk templates to their
approved text and to informational sends, `send-test` sends both SENS formats to the fake
provider, and `simulate` holds promotional brand messages during Kakao's night window."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from channel_adapters.fake import FakeProvider
from journeyctl.project import validate
from tests.channel_adapters.test_fake_faults import Running
from tests.support import run_cli
from tests.support.scenarios import EVENTS

pytestmark = pytest.mark.e2e

NCP = {"NCP_ACCESS_KEY": "ncp-access-e2e", "NCP_SECRET_KEY": "ncp-secret-e2e"}
CHANNELS = """\
channels:
  alimtalk:
    adapter: sens_alimtalk
    service_id: "ncp:kkobizmsg:kr:2751234:acme"
    plus_friend_id: "@acme"
    credentials: {access_key: env:NCP_ACCESS_KEY, secret_key: env:NCP_SECRET_KEY}
    address: phone
  brand:
    adapter: sens_friendtalk
    service_id: "ncp:kkobizmsg:kr:2751234:acme"
    plus_friend_id: "@acme"
    credentials: {access_key: env:NCP_ACCESS_KEY, secret_key: env:NCP_SECRET_KEY}
    address: phone
    consent: consent.sms
  sms:
    adapter: twilio
    credentials: {account_sid: env:S, auth_token: env:T}
    from: "+15005550006"
    address: phone
"""
SHIPPED = """\
channel: alimtalk
template_code: ship_start
approved: "#{이름}님, 주문 #{주문번호}이 배송을 시작했습니다."
text: "{{ profile.tier }}님, 주문 {{ event.plan | upcase }}이 배송을 시작했습니다."
"""
SALE = 'channel: brand\ntext: "(광고) 봄 세일 20%\\n무료수신거부 080-000-0000"\n'
SMS = 'channel: sms\ntext: "주문이 배송을 시작했습니다."\n'
JOURNEY = """\
journey: kakao
trigger: {event: signup}
steps:
  - id: shipped
    send: {channel: alimtalk, template: shipped, category: transactional,
           fallback: [{channel: sms, template: shipped_sms}]}
  - {id: sale, send: {channel: brand, template: sale}}
"""
PROFILE = {"user_id": "u-1", "phone": "+821012345678", "tier": "김혜진",
           "consent": {"sms": True, "night": True}, "timezone": "Asia/Seoul"}


def write_project(root: Path, templates: dict[str, str] | None = None,
                  journey: str = JOURNEY) -> Path:
    (root / "templates").mkdir(parents=True)
    (root / "journeys").mkdir()
    (root / "journeyctl.yaml").write_text(
        "project: kakao\ntimezone: Asia/Seoul\ncompliance: [kr]\n", encoding="utf-8")
    (root / "events.yaml").write_text(EVENTS, encoding="utf-8")
    (root / "channels.yaml").write_text(CHANNELS, encoding="utf-8")
    every = {"shipped": SHIPPED, "sale": SALE, "shipped_sms": SMS, **(templates or {})}
    for name, text in every.items():
        (root / "templates" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (root / "journeys" / "kakao.yaml").write_text(journey, encoding="utf-8")
    return root


def codes(root: Path) -> list[tuple[str, str, int, int]]:
    """(code, file name, line, column) of every error `validate` finds, core only."""
    return [(d.code, Path(d.loc.file).name, d.loc.line, d.loc.col)
            for d in validate(root).diagnostics if d.is_error]


def test_a_valid_kakao_project_is_clean(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    assert codes(root) == []
    result = run_cli("validate", root)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("text", "col", "shown"), [
    # a fixed character differs: located there, both texts shown from there
    ('"{{ profile.tier }}님, 주문 {{ event.plan }}가 배송을 시작했습니다."', 48,
     "the approved text has '이 배송을"),
    # an output where the approved text has fixed text
    ('"{{ profile.tier }}님, {{ event.plan }} 주문 {{ event.plan }}이 배송을 시작했습니다."', 29,
     "the template '{{ event.plan }} 주문"),
    # two outputs for one slot
    ('"{{ profile.tier }}{{ event.plan }}님, 주문 {{ event.plan }}이 배송을 시작했습니다."', 26,
     "the approved text has '님, 주문"),
    # the text stops early
    ('"{{ profile.tier }}님, 주문 {{ event.plan }}이"', 49, "the template nothing more"),
])
def test_alimtalk_text_must_render_the_approved_text(tmp_path: Path, text: str, col: int,
                                                      shown: str) -> None:
    wrong = SHIPPED.replace(SHIPPED.splitlines()[3], f"text: {text}")
    root = write_project(tmp_path / "p", {"shipped": wrong})
    assert codes(root) == [("JC616", "shipped.yaml", 4, col)]
    result = run_cli("validate", root)
    assert result.returncode == 1
    assert f"shipped.yaml:4:{col}" in result.stdout and "JC616" in result.stdout
    assert shown in result.stdout
    assert "with one {{ ... }} where each #{slot} is" in result.stdout


def test_a_tag_that_changes_the_fixed_text_is_refused(tmp_path: Path) -> None:
    text = ('"{% if profile.tier %}{{ profile.tier }}{% endif %}님, 주문 {{ event.plan }}'
            '이 배송을 시작했습니다."')
    root = write_project(tmp_path / "p", {"shipped": SHIPPED.replace(
        SHIPPED.splitlines()[3], f"text: {text}")})
    assert codes(root) == [("JC616", "shipped.yaml", 4, 8)]
    result = run_cli("validate", root)
    assert "`{% if %}` can change the approved text" in result.stdout
    # `assign` writes nothing: allowed
    text = ('"{% assign n = profile.tier %}{{ n }}님, 주문 {{ event.plan }}'
            '이 배송을 시작했습니다."')
    (root / "templates/shipped.yaml").write_text(
        SHIPPED.replace(SHIPPED.splitlines()[3], f"text: {text}"), encoding="utf-8")
    assert codes(root) == []


def test_an_alimtalk_template_needs_its_code_and_approved_text(tmp_path: Path) -> None:
    bare = "\n".join(line for line in SHIPPED.splitlines()
                     if not line.startswith(("template_code", "approved"))) + "\n"
    root = write_project(tmp_path / "p", {"shipped": bare})
    assert codes(root) == [("JC617", "shipped.yaml", 1, 1)]
    result = run_cli("validate", root)
    assert result.returncode == 1
    assert "AlimTalk template 'shipped' needs `template_code` and `approved`" in result.stdout


def test_a_promotional_send_on_alimtalk_is_refused(tmp_path: Path) -> None:
    journey = JOURNEY.replace("category: transactional,", "")  # promotional by default
    journey += ("  - id: later\n    send: {channel: brand, template: sale,"
                " fallback: [{channel: alimtalk, template: shipped}]}\n")
    root = write_project(tmp_path / "p", journey=journey)
    # (the SMS fallback, promotional now, misses its (광고) too: JC810, JC811)
    assert [c[0] for c in codes(root) if c[0] == "JC618"] == ["JC618", "JC618"]
    result = run_cli("validate", root)
    assert result.returncode == 1
    assert re.search(r"kakao\.yaml:4:\d+.*JC618", result.stdout)
    assert "step 'shipped' is promotional, but its channel 'alimtalk' is AlimTalk" \
        in result.stdout
    assert "step 'later' is promotional, but fallback 1 'alimtalk' is AlimTalk" in result.stdout
    assert "make it transactional: category: transactional" in result.stdout


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider(sens_keys={NCP["NCP_ACCESS_KEY"]: NCP["NCP_SECRET_KEY"]}) as server:
        yield server


@pytest.mark.parametrize(("channel", "template", "path"), [
    ("alimtalk", "shipped", "/alimtalk/v2/services/ncp:kkobizmsg:kr:2751234:acme/messages"),
    ("brand", "sale", "/friendtalk/v2/services/ncp:kkobizmsg:kr:2751234:acme/messages")])
def test_send_test_through_sens(tmp_path: Path, fake: FakeProvider, channel: str,
                                template: str, path: str) -> None:
    root = write_project(tmp_path / "p")
    result = run_cli("send-test", root, "--channel", channel, "--template", template,
                     "--profile", json.dumps(PROFILE), "--entry", '{"plan": "a-1"}',
                     "--base-url", fake.url, env=NCP)
    assert result.returncode == 0, result.stdout + result.stderr
    assert NCP["NCP_SECRET_KEY"] not in result.stdout + result.stderr
    [request] = fake.requests
    assert (request.path, request.status) == (path, 202)
    content = request.json()["messages"][0]["content"]
    assert content.startswith("김혜진님, 주문 A-1이" if channel == "alimtalk" else "(광고)")
    wrong = run_cli("send-test", root, "--channel", channel, "--template", template,
                    "--profile", json.dumps(PROFILE), "--entry", '{"plan": "a-1"}',
                    "--base-url", fake.url, env={**NCP, "NCP_SECRET_KEY": "wrong"})
    assert wrong.returncode != 0 and "Authentication Failed" in wrong.stdout + wrong.stderr


@pytest.mark.e2e
def test_the_fake_provider_command_checks_sens_signatures_with_the_ncp_keys(
        tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    fake = Running("--quiet", env=NCP)
    try:
        fake.line(lambda line: "signatures are checked against NCP_ACCESS_KEY" in line)
        sent = [run_cli("send-test", root, "--channel", "alimtalk", "--template", "shipped",
                        "--profile", json.dumps(PROFILE), "--entry", '{"plan": "a-1"}',
                        "--base-url", fake.url, env={**NCP, **keys})
                for keys in ({}, {"NCP_SECRET_KEY": "wrong"})]
    finally:
        fake.stop()
    assert sent[0].returncode == 0, sent[0].stdout + sent[0].stderr
    assert sent[1].returncode != 0 and "Authentication Failed" in sent[1].stdout + sent[1].stderr


def test_simulate_holds_brand_messages_in_kakaos_night(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"user_id": "u-1", "event": "signup",
                                  "timestamp": "2024-03-04T20:30:00+09:00",
                                  "properties": {"plan": "a-1"}}) + "\n", encoding="utf-8")
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text(json.dumps(PROFILE) + "\n", encoding="utf-8")
    messages = tmp_path / "messages.jsonl"
    result = run_cli("simulate", root, "--events", events, "--profiles", profiles,
                     "--until", "2024-03-06T00:00:00Z", "--messages", messages, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    sent = [json.loads(line) for line in messages.read_text().splitlines()]
    assert [(m["step"], m["time"]) for m in sent] == [
        ("shipped", "2024-03-04T11:30:00Z"),  # AlimTalk at 20:30 KST: informational
        ("sale", "2024-03-04T23:00:00Z")]     # the brand message at 08:00 KST
