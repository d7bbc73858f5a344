"""Rendering templates for one user (journeyctl.messages): every field kind, strict variables,
content that renders empty, and the address lookup."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from journeyctl.diagnostics import JourneyctlError, Loc
from journeyctl.messages import address, render
from journeyctl.model import Channel, FrozenMap, Project, Template, TemplateField
from journeyctl.project import validate
from tests.support import EXAMPLE

KIM = {"user_id": "u-0001", "name": "김혜진", "email": "kim@example.com", "locale": "ko",
       "push_token": "fcm-a815", "consent": {"email": True}, "total_spent": 192400}
JOURNEY = {"id": "vip-campaign", "version": 3, "entered_at": "2024-03-13T01:00:00Z"}


@cache
def example() -> Project:
    loaded = validate(EXAMPLE)
    assert loaded.project is not None
    return loaded.project


def tiny(adapter: str, fields: dict[str, Any], address_attr: str = "phone") -> Project:
    """A project with one channel and one template `t` of the given fields."""
    loc = Loc("templates/t.yaml", 2, 1)
    channel = Channel(loc=Loc("channels.yaml"), name="ch", adapter=adapter, address=address_attr)
    template = Template(loc=loc, name="t", channel="ch", fields=FrozenMap(
        {name: TemplateField(loc=Loc("templates/t.yaml", 3 + i, 1), name=name, value=value)
         for i, (name, value) in enumerate(fields.items())}))
    return Project(loc=Loc("journeyctl.yaml"), channels=FrozenMap({"ch": channel}),
                   templates=FrozenMap({"t": template}))


def test_text_fields_render_with_the_profile_and_entry() -> None:
    content = render(example(), "cart_email", KIM, entry={"product_name": "운동화", "price": 89000},
                     journey=JOURNEY)
    assert content["subject"] == "(광고) 김혜진님, 장바구니에 담은 상품이 기다리고 있어요"
    assert "운동화 - 89000원" in content["text"]
    assert "utm_campaign=vip-campaign" in content["html"]


def test_map_fields_render_value_by_value() -> None:
    content = render(example(), "cart_push", KIM, entry={"product_id": "p-9"}, journey=JOURNEY)
    assert content["data"] == {"deep_link": "acme://cart", "product_id": "p-9",
                               "campaign": "vip-campaign"}


def test_json_fields_render_every_string_leaf_and_keep_the_shape() -> None:
    content = render(example(), "vip_slack_alert", KIM, journey=JOURNEY,
                     message={"variant": "vip_coupon=points"})
    blocks = content["blocks"]
    assert isinstance(blocks, list) and blocks[0] == {
        "type": "header", "text": {"type": "plain_text", "text": ":crown: VIP 주간 캠페인 발송"}}
    assert blocks[1]["fields"][2]["text"] == "*오퍼 (A/B)*\nvip_coupon=points"
    assert blocks[2]["elements"][0]["text"].endswith("journey vip-campaign v3")


def test_non_string_leaves_are_kept_as_they_are() -> None:
    body = FrozenMap({"n": 3, "ok": True, "list": ("{{ profile.user_id }}", 1),
                      "who": "{{ profile.name }}"})
    project = tiny("webhook", {"body": body}, "")
    assert render(project, "t", KIM)["body"] == {"n": 3, "ok": True, "list": ["u-0001", 1],
                                                 "who": "김혜진"}


def test_the_message_variable_knows_its_channel_and_template() -> None:
    project = tiny("twilio", {"text": "{{ message.channel }}/{{ message.template }}/"
                                      "{{ message.step }}"})
    assert render(project, "t", KIM, message={"step": "s1"})["text"] == "ch/t/s1"


def test_a_missing_variable_is_a_located_error_naming_it() -> None:
    with pytest.raises(JourneyctlError) as caught:
        render(example(), "cart_push", KIM, journey=JOURNEY)  # no entry event
    [problem] = caught.value.diagnostics
    assert problem.code == "JC971"
    assert problem.message == ("template 'cart_push': `data.product_id` cannot be rendered for "
                               "user 'u-0001': 'entry' is undefined")
    assert problem.loc.file.endswith("templates/cart_push.yaml") and problem.loc.line == 10


def test_a_missing_profile_attribute_is_named() -> None:
    project = tiny("twilio", {"text": "{{ profile.nickname }}님"})
    with pytest.raises(JourneyctlError) as caught:
        render(project, "t", KIM)
    assert "profile.nickname is undefined" in caught.value.diagnostics[0].message


def test_required_content_that_renders_blank_is_refused() -> None:
    project = tiny("twilio", {"text": "{% if profile.vip %}VIP 혜택{% endif %}  \n"})
    with pytest.raises(JourneyctlError) as caught:
        render(project, "t", KIM)
    [problem] = caught.value.diagnostics
    assert problem.code == "JC972"
    assert problem.message == "template 't' renders an empty `text` for user 'u-0001'"
    assert str(problem.loc) == "templates/t.yaml:3:1"
    assert render(project, "t", {**KIM, "vip": True})["text"].strip() == "VIP 혜택"


def test_email_needs_text_or_html_to_render_non_blank() -> None:
    project = tiny("sendgrid", {"subject": "hi", "text": "{{ profile.bio | default: '' }}",
                                "html": " "})
    with pytest.raises(JourneyctlError) as caught:
        render(project, "t", KIM)
    assert caught.value.diagnostics[0].message.endswith("renders an empty `text` or `html` for "
                                                        "user 'u-0001'")
    assert render(project, "t", {**KIM, "bio": "b"})["text"] == "b"


def test_a_webhook_body_with_only_blank_leaves_is_empty() -> None:
    project = tiny("webhook", {"body": FrozenMap({"a": "{{ profile.x | default: '' }}",
                                                  "b": ("", " ")})}, "")
    with pytest.raises(JourneyctlError) as caught:
        render(project, "t", KIM)
    assert caught.value.diagnostics[0].code == "JC972"


def test_an_unknown_template_is_an_error() -> None:
    with pytest.raises(JourneyctlError) as caught:
        render(example(), "nope", KIM)
    assert caught.value.diagnostics[0].code == "JC975"


@pytest.mark.parametrize(("attribute", "profile", "expected"), [
    ("email", {"email": "kim@example.com"}, "kim@example.com"),
    ("contact.phone", {"contact": {"phone": "+8210"}}, "+8210"),
    ("phone", {"phone": 821012345678}, "821012345678"),
    ("email", {}, None),
    ("email", {"email": None}, None),
    ("email", {"email": ""}, None),
    ("contact.phone", {"contact": "n/a"}, None),
    ("", {"email": "kim@example.com"}, None),  # slack and webhook channels have no address
])
def test_address_reads_the_channel_attribute(attribute: str, profile: dict[str, Any],
                                             expected: str | None) -> None:
    channel = Channel(loc=Loc("channels.yaml"), name="ch", adapter="sendgrid", address=attribute)
    assert address(channel, profile) == expected
