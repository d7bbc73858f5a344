"""Formatting both simulation reports share (text and HTML): counts, shares, and the lines
about profiles, so the two say the same thing the same way."""

from __future__ import annotations

from typing import Any


def number(value: float | None, digits: int = 0) -> str:
    """A count or an amount with thousands separators; – for none (both reports use it)."""
    return "–" if value is None else f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    """A share as a percentage with one decimal; – for none."""
    return "–" if value is None else f"{value * 100:.1f}%"


def window_line(report: dict[str, Any]) -> str:
    """The report's window: a simulation's start and until; a live report's window as asked
    (all of the counts without one)."""
    window = report["window"]
    if report.get("source") == "live":
        return f"live counts, from {window['start'] or 'the first'} → {window['until'] or 'now'}"
    return f"{window['start'] or '?'} → {window['until'] or '?'}"


def profiles_read(report: dict[str, Any]) -> str:
    """`, 120 profiles read (2 rejected)` for the headline; nothing without a profile file."""
    profiles = report["profiles"]
    if not profiles["read"]:
        return ""
    return f", {profiles['read']:,} profiles read ({profiles['rejected']:,} rejected)"


def undeclared_line(report: dict[str, Any]) -> str:
    """Profile attributes the catalog does not declare: kept, but no condition or template
    may use them (both reports say so)."""
    undeclared = report["profiles"]["undeclared"]
    names = ", ".join(f"{name} ({n:,})" for name, n in undeclared["attributes"].items())
    lines = undeclared["lines"]
    return (f"{lines:,} profile line{'s' * (lines != 1)} with attributes the catalog does not "
            f"declare (kept; declare them under `profile:` to use them): {names}")


HOLDOUT_HEAD = ["scope", "group", "users", "conv.", "conv./user", "revenue", "revenue/user",
                "conv. lift (95% CI)", "revenue lift (95% CI)"]


def holdout_title(report: dict[str, Any]) -> str:
    block = report["holdout"]
    return (f"global control group: {block['percent']:g}% of users (salt {block['salt']!r}) get "
            "no promotional message; lift: treated over control, per user")


def holdout_rows(report: dict[str, Any]) -> list[list[str]]:
    """Two rows per scope (all journeys, then each journey): control, then treated with its
    lift over control (both reports show this table; the JSON also has the increments)."""
    block = report["holdout"]
    rows = []
    for name, scope in [("all journeys", block), *block["journeys"].items()]:
        for group in ("control", "treated"):
            arm = scope[group]
            lifts = [_lift(scope["lift"][metric]) if group == "treated" else ""
                     for metric in ("conversions", "revenue")]
            rows.append([name if group == "control" else "", group, number(arm["users"]),
                         number(arm["conversions"]), number(arm["conversions_per_user"], 4),
                         number(arm["revenue"]), number(arm["revenue_per_user"], 1), *lifts])
    return rows


def _lift(lift: dict[str, Any]) -> str:
    """`+2.5% (-10.6…+17.4)`: the relative lift and its interval, in percent."""
    if lift["relative"] is None:
        return "–"
    low_high = lift["relative_ci95"]
    interval = f" ({low_high[0] * 100:+.1f}…{low_high[1] * 100:+.1f})" if low_high else ""
    return f"{lift['relative'] * 100:+.1f}%{interval}"
