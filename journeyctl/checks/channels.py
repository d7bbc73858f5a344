"""Channels: the profile attributes they read must exist in the catalog."""

from __future__ import annotations

from journeyctl.checks.context import CheckContext
from journeyctl.scope import Scope, check_path


def check(ctx: CheckContext) -> None:
    scope = Scope(ctx.project.catalog, frozenset({"profile"}), None, (), "in channels.yaml")
    for channel in ctx.project.channels.values():
        for field in ("address", "consent"):
            attribute = getattr(channel, field)
            if not attribute:
                continue
            problem = check_path(scope, "profile", attribute.split("."))
            if problem:
                ctx.add("JC705", f"channel '{channel.name}': {field} attribute "
                        f"'{attribute}' is not in the profile catalog", channel.at(field),
                        problem.hint)
