"""Rendering a template for one user, and finding the user's address on a channel.

Templates render with the shared Liquid environment (strict: a missing variable is an error, never
an empty hole in a message), with the snippets they were loaded or applied with. A message whose
required content renders blank for this user is an error too: better no message than an empty
one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from channel_adapters import REGISTRY
from journeyctl import liquid_env
from journeyctl.diagnostics import JourneyctlError, Loc, diagnostic
from journeyctl.model import Channel, Project, Template, TemplateField, lookup

if TYPE_CHECKING:
    from journeyctl.liquid_limits import Budget
    from journeyctl.yamlload import Doc


def render(project: Project, template_name: str, profile: Mapping[str, Any],
           entry: Mapping[str, Any] | None = None, event: Mapping[str, Any] | None = None,
           journey: Mapping[str, Any] | None = None,
           message: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every field of the project's template `template_name` rendered for this user (see
    `render_template`); JC975 for an unknown template."""
    return render_template(project, _template(project, template_name), profile, entry, event,
                           journey, message)


def render_template(project: Project, template: Template, profile: Mapping[str, Any],
                    entry: Mapping[str, Any] | None = None,
                    event: Mapping[str, Any] | None = None,
                    journey: Mapping[str, Any] | None = None,
                    message: Mapping[str, Any] | None = None,
                    docs: Mapping[str, Doc] | None = None,
                    snippets: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every field of `template` rendered for this user: text fields as strings, `map` and
    `json` fields with each string leaf rendered (keys and other values kept). The daemon
    passes the template and the snippets (name -> source, a `FrozenMap`) of the journey
    version that sends it, which may be older than the project's; by default the project's
    snippets.

    Variables left as None are undefined in the template. The fields of the message spend
    one budget of the render limits (`journeyctl.liquid_limits`); an HTML field escapes the
    values it outputs. Raises JourneyctlError: JC971 when Liquid fails (a missing variable, a
    limit broken), JC972 when the content the channel needs renders empty. With the project's
    `docs`, JC971 points at the failing variable in the template file (or in the snippet
    file); without, at the field.
    """
    from journeyctl.liquid_limits import Budget

    context: dict[str, Any] = {
        "profile": profile,
        "message": {"channel": template.channel, "template": template.name, **(message or {})},
    }
    for name, value in (("entry", entry), ("event", event), ("journey", journey)):
        if value is not None:
            context[name] = value
    user = str(profile.get("user_id", "?"))
    render = _Render(project, project.snippet_sources if snippets is None else snippets,
                     context, user, docs, Budget())
    content = {name: render.field(template, field) for name, field in template.fields.items()}
    _check_content(project, template, content, user)
    return content


def address(channel: Channel, profile: Mapping[str, Any]) -> str | None:
    """The user's address on `channel` (its `address` attribute, a dotted path), or None when
    the channel has none or the profile's value is missing, null or empty."""
    if not channel.address:
        return None
    value = lookup(profile, channel.address)  # the path the send policy checks (reachable)
    return None if value is None or value == "" else str(value)


def _template(project: Project, name: str) -> Template:
    template = project.templates.get(name)
    if template is None:
        known = ", ".join(sorted(project.templates)) or "none"
        raise JourneyctlError([diagnostic("JC975", f"no template '{name}' in the project",
                                          project.loc, f"templates: {known}")])
    return template


class _Failed(Exception):
    """A string of a field failed to render: where in the field, and Liquid's error."""

    def __init__(self, path: tuple[str | int, ...], error: Exception) -> None:
        super().__init__(path, error)
        self.path, self.error = path, error


@dataclass(frozen=True)
class _Render:
    """One user's context and the snippets: renders a template's fields, locating failures.
    All the fields of the message spend one budget (liquid_limits)."""

    project: Project
    snippets: Mapping[str, str]
    context: dict[str, Any]
    user: str
    docs: Mapping[str, Doc] | None
    budget: Budget

    def field(self, template: Template, field: TemplateField) -> Any:
        from liquid.exceptions import TemplateNotFoundError

        try:
            html = field.name in liquid_env.html_fields(self.project, template)
            return self._value(field.value, (), html)
        except _Failed as failed:
            path, error = failed.path, failed.error
            reason = getattr(error, "message", None) or str(error).splitlines()[0]
            if isinstance(error, TemplateNotFoundError):
                reason = f"no snippet '{reason}'"
            shown = ".".join(map(str, (field.name, *path)))
            snippet = self._snippet(error, field, path)
            inside = f" (in snippet '{snippet}')" if snippet else ""
            raise JourneyctlError([diagnostic(
                "JC971", f"template '{template.name}': `{shown}` cannot be rendered for user "
                f"'{self.user}': {reason}{inside}",
                self._loc(template, field, path, error, snippet),
                _failure_hint(error, self.project.snippets_dir))]) from error

    def _value(self, value: Any, path: tuple[str | int, ...], html: bool) -> Any:
        from liquid.exceptions import LiquidError

        if isinstance(value, str):
            try:
                return liquid_env.render(value, self.context, self.budget, self.snippets, html)
            except LiquidError as exc:
                raise _Failed(path, exc) from exc
        if isinstance(value, Mapping):
            return {key: self._value(item, (*path, key), html) for key, item in value.items()}
        if isinstance(value, tuple | list):
            return [self._value(item, (*path, index), html) for index, item in enumerate(value)]
        return value

    def _snippet(self, error: Exception, field: TemplateField,
                 path: tuple[str | int, ...]) -> str | None:
        """The snippet the error is in: the one whose source the failing token is from."""
        source = getattr(getattr(error, "token", None), "source", None)
        if source is None or source == dict(field.strings()).get(path):
            return None
        return next((name for name, text in self.snippets.items() if text == source), None)

    def _loc(self, template: Template, field: TemplateField, path: tuple[str | int, ...],
             error: Exception, snippet: str | None) -> Loc:
        doc = self.docs.get(template.loc.file) if self.docs else None
        if doc is None:
            return field.loc
        token = getattr(error, "token", None)
        offset = getattr(token, "start_index", -1)
        length = len(str(getattr(token, "value", "")) or "x")
        if snippet is not None:
            found = self.project.snippets.get(snippet)
            return found.at_offset(offset, length) if found and offset >= 0 else field.loc
        where = (field.name, *path)
        if offset is None or offset < 0:
            return doc.loc(where)
        return doc.loc_in_scalar(where, offset, length)


def _failure_hint(error: Exception, snippets_dir: str) -> str:
    """How to fix what made Liquid fail, by the kind of failure."""
    from liquid.exceptions import (
        ContextDepthError,
        FilterArgumentError,
        FilterError,
        FilterItemTypeError,
        FilterValueError,
        LiquidTypeError,
        ResourceLimitError,
        TemplateNotFoundError,
        UndefinedError,
    )

    from journeyctl.liquid_limits import RenderFailure

    if isinstance(error, UndefinedError):
        return 'give the variable a fallback (`| default: "..."`) or supply it'
    if isinstance(error, TemplateNotFoundError):
        name = getattr(error, "message", None) or str(error).splitlines()[0]
        return (f"the journey's version has no such snippet: create "
                f"{snippets_dir.rstrip('/')}/{name}.liquid, then validate and apply")
    if isinstance(error, ContextDepthError):
        return ("a snippet renders itself, directly or through other snippets: remove the loop "
                "(validate reports it as JC612)")
    if isinstance(error, ResourceLimitError | RenderFailure):
        return _limit_hint(error)
    if isinstance(error, FilterError | FilterArgumentError | FilterValueError |
                  FilterItemTypeError | LiquidTypeError):
        return ("a filter cannot take this value: check its arguments, or guard it with "
                "{% if %} for users whose value does not fit")
    return "fix the template so that it renders for this profile"


def _limit_hint(error: Exception) -> str:
    """How to keep a template within the render limits (docs/language.md, "Limits")."""
    from liquid.exceptions import (
        LocalNamespaceLimitError,
        LoopIterationLimitError,
        OutputStreamLimitError,
    )

    from journeyctl.liquid_limits import (
        LOCALS_BYTES,
        LOOP_ITERATIONS,
        OUTPUT_BYTES,
        RENDER_SECONDS,
        RenderTimeError,
    )

    if isinstance(error, LoopIterationLimitError):
        return (f"a message runs at most {LOOP_ITERATIONS:,} loop iterations in all: bound "
                "loops over the profile's lists with `limit:` (`{% for item in profile.items "
                "limit: 20 %}`)")
    if isinstance(error, OutputStreamLimitError):
        return (f"a message renders at most {OUTPUT_BYTES:,} bytes: shorten a long value with "
                "`| truncate: 200` or bound the loop that repeats it with `limit:`")
    if isinstance(error, LocalNamespaceLimitError):
        return (f"what a template `assign`s holds at most {LOCALS_BYTES:,} bytes: do not grow "
                "a value in a loop")
    if isinstance(error, RenderTimeError):
        return (f"a message renders within {RENDER_SECONDS:g} s: do less in loops over the "
                "profile's values (bound them with `limit:`)")
    return ("a value is too large for the template (limits are in docs/language.md): shorten "
            "it with `| truncate: 200` or guard it with {% if %}")


def _check_content(project: Project, template: Template, content: dict[str, Any],
                   user: str) -> None:
    channel = project.channels.get(template.channel)
    spec = REGISTRY.get(channel.adapter) if channel else None
    if spec is None:
        return  # validate reports the channel; there is nothing to check against
    required = [name for name, field in spec.template_fields.items()
                if field.required and name in content]
    blank = [name for name in required if _blank(content[name])]
    if spec.one_of_fields and all(_blank(content.get(name)) for name in spec.one_of_fields):
        blank.append(" or ".join(f"`{name}`" for name in spec.one_of_fields))
    if blank:
        name = blank[0]
        field = template.fields.get(name)
        shown = name if name.startswith("`") else f"`{name}`"
        raise JourneyctlError([diagnostic(
            "JC972", f"template '{template.name}' renders an empty {shown} for user '{user}'",
            field.loc if field else template.loc,
            "the message would go out blank: add a fallback or a condition on the profile")])


def _blank(value: Any) -> bool:
    """Empty for a reader: only whitespace, or a structure with nothing but such text."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping):
        return all(_blank(item) for item in value.values())
    if isinstance(value, list):
        return all(_blank(item) for item in value)
    return False
