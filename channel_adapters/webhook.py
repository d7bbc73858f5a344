"""Generic JSON webhook, signed with HMAC-SHA256 over the timestamp and the body."""

from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="webhook",
    kind="webhook",
    description="A signed JSON POST of the whole message to your own endpoint",
    credentials=("secret",),
    settings={
        "signature_header": {"type": "string", "default": "X-Journeyctl-Signature"},
    },
    required_settings=("base_url",),
    template_fields={"body": TemplateFieldSpec(required=True, kind="json",
                                               description="payload (Liquid strings)")},
)
