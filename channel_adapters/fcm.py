"""Firebase Cloud Messaging HTTP v1: POST /v1/projects/{project_id}/messages:send, Bearer."""

from channel_adapters.spec import AdapterSpec, TemplateFieldSpec

SPEC = AdapterSpec(
    name="fcm",
    kind="push",
    description="Push notifications through Firebase Cloud Messaging (HTTP v1)",
    credentials=("access_token",),
    default_base_url="https://fcm.googleapis.com",
    settings={"project_id": {"type": "string", "minLength": 1}},
    required_settings=("project_id",),
    template_fields={
        "title": TemplateFieldSpec(required=True, description="notification title"),
        "body": TemplateFieldSpec(required=True, description="notification body"),
        "data": TemplateFieldSpec(kind="map", description="string key/value payload"),
    },
)
