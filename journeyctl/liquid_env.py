"""The Liquid environment templates are parsed and rendered with (shared by validate and sends).

Strict undefined: a variable missing at render time is an error, not an empty string, so a
message never goes out with a hole in it; `| default: "..."` still supplies a fallback, and
a missing variable is simply false in `{% if %}` (so `{% if profile.locale == "en" %}` works for
users without a locale).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liquid import BoundTemplate, Environment


@cache
def environment() -> Environment:
    from liquid import Environment, FalsyStrictUndefined

    return Environment(undefined=FalsyStrictUndefined)


@cache
def parse(source: str) -> BoundTemplate:
    """Parse once per distinct source; raises liquid.exceptions.LiquidError."""
    return environment().from_string(source)
