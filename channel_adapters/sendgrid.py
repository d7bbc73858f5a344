"""SendGrid v3 Mail Send: POST {base_url}/v3/mail/send with a Bearer API key."""

from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

_EMAIL = {"type": "string", "format": "email", "minLength": 3}

SPEC = AdapterSpec(
    name="sendgrid",
    kind="email",
    description="Email through SendGrid's v3 Mail Send API",
    credentials=("api_key",),
    default_base_url="https://api.sendgrid.com",
    settings={
        "from": {
            "type": "object",
            "required": ["email"],
            "additionalProperties": False,
            "properties": {"email": _EMAIL, "name": {"type": "string"}},
        },
        "reply_to": {
            "type": "object",
            "required": ["email"],
            "additionalProperties": False,
            "properties": {"email": _EMAIL, "name": {"type": "string"}},
        },
    },
    required_settings=("from",),
    template_fields={
        "subject": TemplateFieldSpec(required=True, description="subject line"),
        "text": TemplateFieldSpec(description="text/plain body"),
        "html": TemplateFieldSpec(description="text/html body"),
    },
    one_of_fields=("text", "html"),
)
