"""The send policy of SPEC §5, shared by every host: reachable → consent → the global
suppression list → the global control group (`holdout`, SPEC §10) → quiet hours (and the kr
night rule) → caps; fallbacks for the first two; promotional vs transactional."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from journeyctl import model as m
from journeyctl.engine.compiled import Compiled, CompiledJourney
from journeyctl.engine.effects import HoldReason
from journeyctl.engine.localtime import in_window, user_zone, window_end
from journeyctl.engine.split import in_holdout
from journeyctl.engine.state import UserState

KR_NIGHT = (dt.time(21), dt.time(8))  # the kr pack: advertising at night needs consent.night
# Kakao sends no advertising brand message (FriendTalk) from 20:00 to 08:00, whatever the
# user consented to (docs/compliance.md). The adapter names of channel_adapters/sens.py: the
# engine reads no adapter registry.
KAKAO_NIGHT = (dt.time(20), dt.time(8))
KAKAO_AD_ADAPTERS = frozenset({"sens_friendtalk"})


class SendTo(NamedTuple):
    """Send on the option at this index (0: the primary channel; n: the n-th fallback)."""

    option: int


class Suppress(NamedTuple):
    # unreachable | no_consent | suppressed_list | holdout | quiet_hours | a cap's `reason`
    reason: str


class Hold(NamedTuple):
    """Wait until `until`, then decide again."""

    reason: HoldReason
    until: float


Decision = SendTo | Suppress | Hold


def refusal(channel: m.Channel, profile: dict[str, Any], promotional: bool) -> str | None:
    """Checks 1 and 2 of SPEC §5 for one option: None when it may be used, else why not."""
    if channel.address:  # without one, a channel-level destination (Slack, a webhook)
        value = m.lookup(profile, channel.address)
        if value is None or value == "":
            return "unreachable"
    if promotional and channel.consent and m.lookup(profile, channel.consent) is not True:
        return "no_consent"
    return None


def decide(c: Compiled, cj: CompiledJourney, state: UserState, send: m.Send,
           now: float) -> Decision:
    promotional = send.category == "promotional"
    reason = "unreachable"
    chosen = None
    for index, option in enumerate(send.options):
        refused = refusal(c.project.channels[option.channel], state.profile, promotional)
        if refused is None:
            chosen = index
            break
        reason = refused
    if chosen is None:
        return Suppress(reason)
    if not promotional:
        return SendTo(chosen)
    if state.suppressed:
        return Suppress("suppressed_list")  # the user asked for none: no fallback either
    if in_holdout(c.project.holdout, state.user_id):
        return Suppress("holdout")  # measured, never promoted to: no fallback either
    channel_name = send.options[chosen].channel
    held = _quiet(c, state, now) or _kakao_night(c, state, channel_name, now)
    if held is not None:
        return held
    exceeded = _exceeded_cap(c, cj, state, channel_name, now)
    if exceeded:
        return Suppress(exceeded)
    return SendTo(chosen)


def _quiet(c: Compiled, state: UserState, now: float) -> Suppress | Hold | None:
    tz = user_zone(state.profile, c.tz)
    quiet = c.project.quiet_hours
    if quiet and in_window(now, quiet.start, quiet.end, tz):
        if quiet.action == "skip":
            return Suppress("quiet_hours")
        return Hold("quiet_hours", window_end(now, quiet.end, tz))
    if (c.kr and in_window(now, KR_NIGHT[0], KR_NIGHT[1], tz)
            and m.lookup(state.profile, "consent.night") is not True):
        return Hold("kr_night", window_end(now, KR_NIGHT[1], tz))
    return None


def _kakao_night(c: Compiled, state: UserState, channel: str, now: float) -> Hold | None:
    """A promotional brand message in Kakao's night window waits for its end."""
    if c.project.channels[channel].adapter not in KAKAO_AD_ADAPTERS:
        return None
    tz = user_zone(state.profile, c.tz)
    if in_window(now, KAKAO_NIGHT[0], KAKAO_NIGHT[1], tz):
        return Hold("kakao_night", window_end(now, KAKAO_NIGHT[1], tz))
    return None


def _exceeded_cap(c: Compiled, cj: CompiledJourney, state: UserState, channel: str,
                  now: float) -> str | None:
    """The first cap (project caps in file order, then the journey's) this send would exceed."""
    sent = state.promotional
    for cap, only_journey in [*((cap, None) for cap in c.project.caps),
                              *((cap, cj.id) for cap in cj.journey.caps)]:
        since = now - cap.per.seconds
        count = sum(1 for t, ch, journey in sent
                    if t > since and (cap.channel == "any" or cap.channel == ch)
                    and (only_journey is None or journey == only_journey))
        if count + 1 > cap.max:
            return cap.reason
    return None


def record(c: Compiled, state: UserState, channel: str, journey: str, now: float) -> None:
    """A promotional message was emitted: it counts for caps from this instant."""
    sent = state.own("promotional")
    sent.append((now, channel, journey))
    horizon = now - c.cap_window
    stale = 0
    while stale < len(sent) and sent[stale][0] <= horizon:
        stale += 1
    del sent[:stale]
