"""Templates: they exist, match their channel's adapter, parse as Liquid, use known variables."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from channel_adapters import REGISTRY
from channel_adapters.spec import AdapterSpec
from journeyctl import model as m
from journeyctl.checks.context import CheckContext, did_you_mean
from journeyctl.checks.expressions import matched_events, trigger_events, unknown_roots
from journeyctl.checks.snippets import parse_source
from journeyctl.diagnostics import Loc
from journeyctl.liquid_env import Cost, cost, html_fields
from journeyctl.scope import Problem, Scope, check_path

if TYPE_CHECKING:
    from liquid import BoundTemplate

LIQUID_ROOTS = frozenset({"profile", "entry", "event", "journey", "message"})


def send_options(journey: m.Journey) -> Iterator[tuple[m.Step, m.Send, m.SendOption]]:
    for step in journey.steps:
        if isinstance(step.action, m.Send):
            for option in step.action.options:
                yield step, step.action, option


def check(ctx: CheckContext) -> None:
    usages: dict[str, dict[str, m.Journey]] = defaultdict(dict)  # template -> journeys by id
    for journey in ctx.project.journeys:
        for _, _, option in send_options(journey):
            if _check_option(ctx, option):
                usages[option.template][journey.id] = journey
    in_snippets = _InSnippets()
    for template in ctx.project.templates.values():
        _check_template(ctx, template, list(usages.get(template.name, {}).values()),
                        in_snippets)
    in_snippets.report(ctx)


@dataclass
class _InSnippets:
    """Problems located in snippet files: each is reported once, saying which template (and
    journey) renders the snippet so, and how many more do."""

    found: dict[tuple[Loc, str, str | None], list[str]] = dataclasses.field(
        default_factory=dict)

    def add(self, problem: Problem, loc: Loc, hint: str | None, renderer: str) -> None:
        renderers = self.found.setdefault((loc, problem.message, hint), [])
        if renderer not in renderers:
            renderers.append(renderer)

    def report(self, ctx: CheckContext) -> None:
        for (loc, message, hint), renderers in self.found.items():
            more = f", and by {len(renderers) - 1} more" if len(renderers) > 1 else ""
            ctx.add("JC604", f"{message} (rendered by {renderers[0]}{more})", loc, hint)


def _check_option(ctx: CheckContext, option: m.SendOption) -> bool:
    """Channel and template exist and agree; True when the template can be checked further."""
    project = ctx.project
    if option.channel not in project.channels and project.loaded("channel", option.channel):
        ctx.add("JC701", f"unknown channel '{option.channel}'", option.at("channel"),
                did_you_mean(option.channel, project.channels, "channels in channels.yaml"))
    template = project.templates.get(option.template)
    if template is None and not project.loaded("template", option.template):
        return False
    if template is None:
        ctx.add("JC601", f"template '{option.template}' not found", option.at("template"),
                did_you_mean(option.template, project.templates,
                             f"templates in {project.templates_dir}") or
                f"create {project.templates_dir.rstrip('/')}/{option.template}.yaml")
        return False
    if template.channel != option.channel and "channel" not in template.broken:
        ctx.add("JC603", f"template '{template.name}' is for channel '{template.channel}', but "
                f"this step sends on '{option.channel}'", option.at("template"),
                f"use a template written for '{option.channel}'")
    return True


def _check_template(ctx: CheckContext, template: m.Template, used_by: list[m.Journey],
                    in_snippets: _InSnippets) -> None:
    if "channel" not in template.broken:
        _check_channel(ctx, template)
    if not used_by and _all_sends_loaded(ctx.project):
        ctx.add("JC608", f"template '{template.name}' is not used by any journey", template.loc)
    costs: list[tuple[tuple[str | int, ...], Cost]] = []
    html = html_fields(ctx.project, template)
    for path, source in _strings(template):
        parsed = _parse(ctx, template, path, source, html=path[0] in html)
        if parsed is None:
            continue
        readers: list[m.Journey | None] = [*used_by] or [None]  # None: as no journey
        for journey in readers:
            _check_variables(ctx, template, path, parsed, journey, in_snippets)
        found = cost(source, ctx.project.snippet_sources)
        if found is not None:
            costs.append((path, found))
    _check_cost(ctx, template, costs)


def _check_cost(ctx: CheckContext, template: m.Template,
                costs: list[tuple[tuple[str | int, ...], Cost]]) -> None:
    """The fields of one message share its limits (liquid_limits): what validate can count
    without the data must fit them, or every message would fail (JC613, JC614)."""
    from journeyctl.liquid_limits import LOOP_ITERATIONS, OUTPUT_BYTES

    if not costs:
        return
    iterations = sum(found.iterations for _, found in costs)
    if iterations > LOOP_ITERATIONS:
        path, heaviest = max(costs, key=lambda item: item[1].heaviest_iterations)
        ctx.add("JC613", f"template '{template.name}' can run {iterations:,} loop iterations "
                f"in one message; a message may run at most {LOOP_ITERATIONS:,}",
                _doc_loc(ctx, template, path, *heaviest.heaviest),
                "Liquid would stop it and fail the message: loop over fewer items (a smaller "
                "range, `limit: 100`); a loop inside a loop counts each of its runs")
    output = sum(found.output for _, found in costs)
    if output > OUTPUT_BYTES:
        path, _ = max(costs, key=lambda item: item[1].output)
        ctx.add("JC614", f"template '{template.name}' writes at least {output:,} bytes in one "
                f"message; a message may write at most {OUTPUT_BYTES:,}",
                _doc_loc(ctx, template, path, 0),
                "Liquid would stop it and fail the message: shorten the text, or repeat it "
                "fewer times")


def _check_channel(ctx: CheckContext, template: m.Template) -> None:
    channel = ctx.project.channels.get(template.channel)
    if channel is None and ctx.project.loaded("channel", template.channel):
        ctx.add("JC701", f"template '{template.name}' is for unknown channel '{template.channel}'",
                template.at("channel"), did_you_mean(template.channel, ctx.project.channels,
                                                     "channels"))
    elif channel is not None and (spec := REGISTRY.get(channel.adapter)) is not None:
        _check_fields(ctx, template, spec)


def _all_sends_loaded(project: m.Project) -> bool:
    """No journey file or step was left out: a template no send uses is really unused."""
    return (not any(b.startswith("journey:") for b in project.broken)
            and all(journey.steps_complete for journey in project.journeys))


def _strings(template: m.Template) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for field in template.fields.values():
        for sub, source in field.strings():
            yield (field.name, *sub), source


def _check_fields(ctx: CheckContext, template: m.Template, spec: AdapterSpec) -> None:
    present = {*template.fields, *template.broken}  # a broken field is there, and reported
    for name, wanted in spec.template_fields.items():
        if wanted.required and name not in present:
            ctx.add("JC605", f"template '{template.name}' needs `{name}` for a {spec.name} "
                    f"channel", template.loc, wanted.description or None)
    if spec.one_of_fields and not any(f in present for f in spec.one_of_fields):
        ctx.add("JC605", f"template '{template.name}' needs one of: "
                f"{', '.join(spec.one_of_fields)}", template.loc)
    for name, field in template.fields.items():
        field_spec = spec.template_fields.get(name)
        if field_spec is None:
            ctx.add("JC606", f"`{name}` is not a field of {spec.name} templates", field.loc,
                    did_you_mean(name, spec.template_fields, "fields"))
        elif field_spec.kind == "text" and not isinstance(field.value, str):
            ctx.add("JC103", f"`{name}` must be text", field.loc)
        elif field_spec.kind == "map" and not (
            isinstance(field.value, Mapping)
            and all(isinstance(v, str) for v in field.value.values())
        ):
            ctx.add("JC103", f"`{name}` must be a mapping of text values", field.loc)


def _doc_loc(ctx: CheckContext, template: m.Template, path: tuple[str | int, ...],
             offset: int, length: int = 1) -> Loc:
    doc = ctx.docs.get(template.loc.file)
    return doc.loc_in_scalar(path, offset, length) if doc else template.loc


def _parse(ctx: CheckContext, template: m.Template, path: tuple[str | int, ...],
           source: str, *, html: bool) -> BoundTemplate | None:
    def locate(offset: int, length: int) -> Loc:
        return _doc_loc(ctx, template, path, offset, length)

    return parse_source(ctx, source, f"`{'.'.join(map(str, path))}`", locate, html=html)


@cache
def _globals(parsed: BoundTemplate) -> dict[str, list[Any]]:
    """The template's global variables, with those of the snippets it renders (their spans
    name the snippet); one analysis per template, however many journeys. A snippet that is
    missing or broken leaves the template's own variables, and a snippet name that is not a
    quoted string none (both are reported on their own)."""
    from liquid.exceptions import LiquidError

    for include_partials in (True, False):
        try:
            return dict(parsed.analyze(include_partials=include_partials).globals)
        except LiquidError:
            continue
    return {}


def _check_variables(ctx: CheckContext, template: m.Template, path: tuple[str | int, ...],
                     parsed: BoundTemplate, journey: m.Journey | None,
                     in_snippets: _InSnippets) -> None:
    catalog = ctx.project.catalog
    renderer = f"template '{template.name}'" + (f", used by journey '{journey.id}'"
                                                if journey else "")
    if journey is None:  # unused template: only what does not depend on a journey
        scope = Scope(catalog, LIQUID_ROOTS, (), (), f"in template '{template.name}'")
    else:
        scope = Scope(catalog, LIQUID_ROOTS, matched_events(journey), trigger_events(journey),
                      f"in template '{template.name}' (used by journey '{journey.id}')",
                      unknown_roots(journey, "mid"))
    for root, variables in _globals(parsed).items():
        for variable in variables:
            fields = tuple(variable.segments[1:])
            if journey is None and root in ("event", "entry"):
                continue
            length = len(".".join(str(s) for s in variable.segments))
            snippet = ctx.project.snippets.get(variable.span.template_name)
            if snippet is None:
                problem = check_path(scope, root, fields)
                loc = _doc_loc(ctx, template, path, variable.span.index, length)
                if problem:
                    ctx.add("JC604", problem.message, loc, problem.hint)
                continue
            problem = check_path(replace(scope, where=f"in snippet '{snippet.name}'"), root,
                                 fields)
            if problem:
                in_snippets.add(problem, snippet.at_offset(variable.span.index, length),
                                _hint(problem, snippet, root), renderer)


def _hint(problem: Problem, snippet: m.Snippet, root: str) -> str | None:
    if problem.code != "JC402":
        return problem.hint
    # `render` gives a snippet a scope of its own: the template's `assign`s stay outside.
    return (f"{problem.hint}; a snippet sees other values only when they are passed: "
            f"{{% render '{snippet.name}', {root}: ... %}}")
