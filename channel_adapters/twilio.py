"""Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json, Basic auth."""

from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="twilio",
    kind="sms",
    description="SMS through Twilio's Messages API",
    credentials=("account_sid", "auth_token"),
    default_base_url="https://api.twilio.com",
    settings={
        "from": {"type": "string", "pattern": r"^\+[1-9][0-9]{6,14}$",
                 "description": "sender number in E.164 form"},
        "messaging_service_sid": {"type": "string", "pattern": "^MG[0-9a-fA-F]{32}$"},
    },
    one_of_settings=("from", "messaging_service_sid"),
    template_fields={"text": TemplateFieldSpec(required=True, description="message body")},
)
