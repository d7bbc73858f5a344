"""Kakao's night window for brand messages (FriendTalk): promotional ones wait from 20:00 to
08:00 local time, even with the kr pack's night consent; other channels do not."""

from __future__ import annotations

from journeyctl.engine import effects as fx
from tests.support.scenarios import EVERYONE, SEOUL, Runner, clock, sends

BRAND = """trigger: {event: signup}
steps:
  - {id: ad, send: {channel: brand, template: k1}}
  - {id: info, send: {channel: brand, template: k1, category: transactional}}
  - {id: mail, send: {channel: email, template: e1}}
"""
NIGHT_OK = {**EVERYONE, "timezone": "Asia/Seoul",
            "consent": {**EVERYONE["consent"], "night": True}}


def test_a_promotional_brand_message_waits_for_8_even_with_night_consent(
        scenario: Runner) -> None:
    # 11:30 UTC = 20:30 KST: inside Kakao's window, outside the Act's (21:00).
    out = scenario({"j": BRAND}, [("2024-03-04 11:30", "u1", "signup")],
                   profiles={"u1": NIGHT_OK}, settings="compliance: [kr]\n",
                   until="2024-03-06 00:00")
    assert [(s[2], clock(out.sends[i].time, SEOUL)) for i, s in enumerate(sends(out))] == [
        ("ad", "2024-03-05 08:00"), ("info", "2024-03-05 08:00"), ("mail", "2024-03-05 08:00")]
    assert [(h.step, h.reason) for h in out.of(fx.Held)] == [("ad", "kakao_night")]


def test_other_channels_and_daytime_are_not_held(scenario: Runner) -> None:
    journey = BRAND.replace("channel: brand, template: k1}", "channel: email, template: e2}", 1)
    night = scenario({"j": journey}, [("2024-03-04 11:30", "u1", "signup")],
                     profiles={"u1": NIGHT_OK}, until="2024-03-06 00:00")
    assert [clock(e.time, SEOUL) for e in night.sends] == ["2024-03-04 20:30"] * 3
    day = scenario({"j": BRAND}, [("2024-03-04 10:59", "u1", "signup")],  # 19:59 KST
                   profiles={"u1": NIGHT_OK}, until="2024-03-06 00:00")
    assert [clock(e.time, SEOUL) for e in day.sends] == ["2024-03-04 19:59"] * 3
    assert day.of(fx.Held) == []
