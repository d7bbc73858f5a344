"""KakaoTalk AlimTalk: Kakao approves each template's text in advance, and sends only
informational messages on it.

- A template for an AlimTalk channel names its `template_code` and `approved` text (JC617).
- Its `text` can only render the approved text: the fixed text equal, one Liquid output
  (`{{ ... }}`) where each `#{slot}` is, and no tag that could change the fixed text (JC616).
- No promotional send uses an AlimTalk channel, as its channel or a fallback (JC618).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from journeyctl import model as m
from journeyctl.checks.context import CheckContext
from journeyctl.diagnostics import Loc

ALIMTALK = "sens_alimtalk"
SLOT = re.compile(r"#\{[^{}]*\}")
_LIQUID = re.compile(r"\{\{(-?)(.*?)(-?)\}\}|\{%(-?)\s*(\w*)(.*?)(-?)%\}", re.DOTALL)
_HARMLESS_TAGS = frozenset({"assign"})  # they write nothing
_SHOWN = 24  # characters of each text shown around the first difference


@dataclass(frozen=True)
class _Unit:
    """One character of fixed text (`slot` False), or one slot / Liquid output."""

    text: str  # the character, or the slot / output as written
    slot: bool
    offset: int = 0  # in the template source


def check(ctx: CheckContext) -> None:
    alimtalk = {name for name, channel in ctx.project.channels.items()
                if channel.adapter == ALIMTALK}
    if not alimtalk:
        return
    for template in ctx.project.templates.values():
        if template.channel in alimtalk and "channel" not in template.broken:
            _check_template(ctx, template)
    for journey in ctx.project.journeys:
        for step in journey.steps:
            if isinstance(step.action, m.Send) and step.action.category == "promotional":
                _check_promotional(ctx, step, step.action, alimtalk)


def _check_promotional(ctx: CheckContext, step: m.Step, send: m.Send,
                       alimtalk: set[str]) -> None:
    for index, option in enumerate(send.options):
        if option.channel in alimtalk:
            where = "its channel" if index == 0 else f"fallback {index}"
            ctx.add("JC618", f"step '{step.id}' is promotional, but {where} '{option.channel}' "
                    "is AlimTalk, which Kakao allows for informational messages only",
                    step.loc, "send it on the brand-message channel (adapter "
                    "sens_friendtalk), or make it transactional: category: transactional")


def _check_template(ctx: CheckContext, template: m.Template) -> None:
    missing = [name for name in ("template_code", "approved")
               if not _text(template, name) and name not in template.broken]
    if missing:
        ctx.add("JC617", f"AlimTalk template '{template.name}' needs "
                f"{' and '.join(f'`{name}`' for name in missing)}", template.loc,
                "copy them from the template Kakao approved: template_code: <its code>, "
                'approved: "#{이름}님, 주문 #{주문번호}이 ..." (the text with its #{slots})')
        return
    text = template.fields.get("text")
    approved = _text(template, "approved")
    if text is None or not isinstance(text.value, str) or approved is None:
        return  # a missing or broken `text` is reported by the template checks
    _compare(ctx, template, text.value, approved)


def _text(template: m.Template, name: str) -> str | None:
    field = template.fields.get(name)
    return field.value if field is not None and isinstance(field.value, str) \
        and field.value.strip() else None


def _compare(ctx: CheckContext, template: m.Template, source: str, approved: str) -> None:
    units, tag = _template_units(source)
    if tag is not None:
        offset, name = tag
        ctx.add("JC616", f"AlimTalk template '{template.name}': `{{% {name} %}}` can change the "
                "approved text", _loc(ctx, template, offset, len(name) + 4),
                "Kakao sends only the approved text: write it as approved, with one "
                "{{ ... }} where each #{slot} is (choose between texts in the journey instead)")
        return
    wanted = _approved_units(approved)
    index = next((i for i, (a, b) in enumerate(zip(units, wanted, strict=False))
                  if a.slot != b.slot or (not a.slot and a.text != b.text)),
                 min(len(units), len(wanted)))
    if index == len(units) == len(wanted):
        return
    offset = units[index].offset if index < len(units) else len(source)
    ctx.add("JC616", f"AlimTalk template '{template.name}': `text` does not match the approved "
            f"text: here the approved text has {_show(wanted[index:])}, the template "
            f"{_show(units[index:])}", _loc(ctx, template, offset, 1),
            "write the approved text exactly (spaces and line breaks too), with one "
            "{{ ... }} where each #{slot} is and nowhere else")


def _template_units(source: str) -> tuple[list[_Unit], tuple[int, str] | None]:
    """The template as fixed characters and outputs; or the first tag that may write text."""
    units: list[_Unit] = []
    position = 0
    strip_next = False  # the last tag ended with `-}}` / `-%}`: it eats the whitespace after it
    for match in _LIQUID.finditer(source):
        units += _fixed(source, position, match.start(), strip_next, bool(match[1] or match[4]))
        if match.group(0).startswith("{{"):
            units.append(_Unit(match.group(0), True, match.start()))
            strip_next = bool(match[3])
        elif (match[5] or "") in _HARMLESS_TAGS:
            strip_next = bool(match[7])
        else:
            return units, (match.start(), match[5] or "")
        position = match.end()
    units += _fixed(source, position, len(source), strip_next, False)
    return units, None


def _fixed(source: str, start: int, end: int, lstrip: bool, rstrip: bool) -> list[_Unit]:
    """The characters of source[start:end] as fixed text, less what whitespace control eats."""
    piece = source[start:end]
    if lstrip:
        start += len(piece) - len(piece.lstrip())
    if rstrip:
        end = start + len(source[start:end].rstrip())
    return [_Unit(source[i], False, i) for i in range(start, end)]


def _approved_units(approved: str) -> list[_Unit]:
    units: list[_Unit] = []
    position = 0
    for match in SLOT.finditer(approved):
        units += [_Unit(char, False) for char in approved[position:match.start()]]
        units.append(_Unit(match.group(0), True))
        position = match.end()
    return units + [_Unit(char, False) for char in approved[position:]]


def _show(units: list[_Unit]) -> str:
    if not units:
        return "nothing more"
    text = "".join(unit.text for unit in units[:_SHOWN])
    return repr(text + ("…" if len(units) > _SHOWN else ""))


def _loc(ctx: CheckContext, template: m.Template, offset: int, length: int) -> Loc:
    doc = ctx.docs.get(template.loc.file)
    field = template.fields["text"]
    return doc.loc_in_scalar(("text",), offset, length) if doc else field.loc
