"""The adapter registry: adapter name -> its declaration, and adapter name -> its class."""

from __future__ import annotations

from channel_adapters import fcm, sendgrid, sens, slack, twilio, webhook
from channel_adapters.base import Provider
from channel_adapters.spec import AdapterSpec

REGISTRY: dict[str, AdapterSpec] = {
    **{module.SPEC.name: module.SPEC for module in (sendgrid, twilio, fcm, slack, webhook)},
    sens.ALIMTALK.name: sens.ALIMTALK,
    sens.FRIENDTALK.name: sens.FRIENDTALK,
}

PROVIDERS: dict[str, type[Provider]] = {
    "sendgrid": sendgrid.SendGrid,
    "twilio": twilio.Twilio,
    "fcm": fcm.Fcm,
    "slack": slack.Slack,
    "webhook": webhook.Webhook,
    "sens_alimtalk": sens.AlimTalk,
    "sens_friendtalk": sens.FriendTalk,
}
