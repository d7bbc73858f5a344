"""Slack incoming webhooks: POST {"text": ..., "blocks": [...]} to the webhook URL."""

from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="slack",
    kind="chat",
    description="Messages to a Slack channel through an incoming webhook",
    credentials=("webhook_url",),
    template_fields={
        "text": TemplateFieldSpec(required=True, description="message text (mrkdwn)"),
        "blocks": TemplateFieldSpec(kind="json", description="Block Kit blocks"),
    },
)
