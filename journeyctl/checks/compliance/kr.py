"""Korea's Information and Communications Network Act, art. 50, for advertising messages.

- Promotional SMS and push text must start with `(광고)` (variants such as `[광고]` are not
  accepted) and carry a free opt-out instruction. `validate` checks the templates, as they
  read with their snippets rendered (a footer snippet may hold the opt-out).
- Promotional email subjects should also start with `(광고)` (a warning: SPEC §7 names SMS and
  push; the statute covers email too).
- Promotional sends between 21:00 and 08:00 local time need `consent.night`; the engine applies
  that rule with the rest of the send policy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from channel_adapters import REGISTRY
from journeyctl import model as m
from journeyctl.checks.context import CheckContext
from journeyctl.liquid_env import reach, static_text

AD_PREFIX = "(광고)"
TEXT_KINDS = {"sms": ("text",), "push": ("title", "body"), "kakao": ("text",)}
OPT_OUT = re.compile(r"수신\s*거부|수신\s*철회|무료\s*거부|opt[- ]?out|unsubscribe", re.IGNORECASE)
_WRONG_PREFIX = re.compile(r"^\s*[\[<{（［]\s*광고\s*[\]>}）］]")


def check(ctx: CheckContext) -> None:
    for template, kind in _promotional_templates(ctx):
        if kind in TEXT_KINDS:
            _check_text(ctx, template, TEXT_KINDS[kind])
        elif kind == "email" and "subject" in template.fields:
            field = template.fields["subject"]
            if isinstance(field.value, str) and _known(ctx, [field.value]) and not _text(
                    ctx, field.value).lstrip().startswith(AD_PREFIX):
                ctx.add("JC812", f"promotional email template '{template.name}': the subject "
                        f"should start with {AD_PREFIX}", field.loc)


def _promotional_templates(ctx: CheckContext) -> list[tuple[m.Template, str]]:
    found: dict[str, tuple[m.Template, str]] = {}
    for journey in ctx.project.journeys:
        for step in journey.steps:
            send = step.action
            if not isinstance(send, m.Send) or send.category != "promotional":
                continue
            for option in send.options:
                template = ctx.project.templates.get(option.template)
                channel = ctx.project.channels.get(option.channel)
                spec = REGISTRY.get(channel.adapter) if channel else None
                if template and spec:
                    found[template.name] = (template, spec.kind)
    return list(found.values())


def _check_text(ctx: CheckContext, template: m.Template, fields: tuple[str, ...]) -> None:
    texts = {f: template.fields[f] for f in fields if f in template.fields}
    sources = {f: field.value for f, field in texts.items() if isinstance(field.value, str)}
    if not sources or not _known(ctx, sources.values()):
        return
    values = {f: _text(ctx, source) for f, source in sources.items()}
    first = next(iter(texts.values()))
    if not any(v.lstrip().startswith(AD_PREFIX) for v in values.values()):
        wrong = any(_WRONG_PREFIX.match(v) for v in values.values())
        hint = (f"write exactly {AD_PREFIX} with round brackets; [광고] and similar are not "
                "accepted" if wrong else f"begin the {' or '.join(values)} with {AD_PREFIX}")
        ctx.add("JC810", f"promotional template '{template.name}' must start with {AD_PREFIX}",
                first.loc, hint)
    if not any(OPT_OUT.search(v) for v in values.values()):
        ctx.add("JC811", f"promotional template '{template.name}' has no opt-out instruction",
                first.loc, "add e.g. 무료수신거부 080-000-0000 (SMS) or "
                "수신거부: 설정 > 알림 (push)")


def _text(ctx: CheckContext, source: str) -> str:
    return static_text(source, ctx.project.snippet_sources)


def _known(ctx: CheckContext, sources: Iterable[str]) -> bool:
    """Whether the text can be judged: every snippet it renders is there and parses. Else the
    wording may be in the snippet that is missing, broken or misnamed (reported on its own)."""
    return reach(sources, ctx.project.snippet_sources).complete
