"""The global control group in the report (SPEC §10, docs/cli.md "The holdout block"): users,
conversions and revenue of control and treated users, over all journeys and per journey, and
the incremental lift of the treated with a 95% confidence interval.

Only sums are kept, and every one adds up (shards, and the daemon's persisted rows): a user is
counted at their first entry (`Entered.first` over all journeys, instance 1 per journey), and
the variances come from sums too — a conversion count is taken as Poisson (its variance is the
count) and revenue as compound Poisson (its variance is the sum of squared conversion values).
The interval is the normal approximation of the difference (and, for the relative lift, of the
log of the ratio, by the delta method). Per-user sums of squares would need each user's totals,
which cannot be added up; for 0/1 outcomes the Poisson variance (p) is above the binomial one
(p(1 − p)), so the interval errs on the wide side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from journeyctl import model as m
from journeyctl.engine import effects as fx
from journeyctl.engine.split import in_holdout

ALL = "*"  # the scope of the counts over all journeys (no journey id holds a `*`)
GROUPS = ("control", "treated")
Z95 = 1.959964  # the two-sided 95% quantile of the normal distribution
INTERVAL = ("95% normal approximation; conversions as Poisson counts, revenue as compound "
            "Poisson (variance: the sum of squared conversion values)")


@dataclass
class Arm:
    """One group's sums in one scope (all journeys, or one journey)."""

    users: int = 0
    conversions: int = 0
    revenue: float = 0.0
    revenue_squares: float = 0.0  # the sum of squared conversion values, for the variance

    def add(self, other: Arm) -> None:
        self.users += other.users
        self.conversions += other.conversions
        self.revenue += other.revenue
        self.revenue_squares += other.revenue_squares

    def as_dict(self) -> dict[str, Any]:
        n = self.users
        return {"users": n, "conversions": self.conversions, "revenue": _round(self.revenue),
                "conversions_per_user": _round(self.conversions / n) if n else None,
                "revenue_per_user": _round(self.revenue / n) if n else None}


Arms = dict[tuple[str, str], Arm]  # (journey id or ALL, group) -> sums


def group(holdout: m.Holdout, user_id: str) -> str:
    return "control" if in_holdout(holdout, user_id) else "treated"


def count_entry(arms: Arms, holdout: m.Holdout, e: fx.Entered) -> None:
    """A user counts once over all journeys (their first entry) and once per journey."""
    if e.first:
        arms[(ALL, group(holdout, e.user_id))].users += 1
    if e.instance == 1:
        arms[(e.journey, group(holdout, e.user_id))].users += 1


def count_conversion(arms: Arms, holdout: m.Holdout, e: fx.Converted) -> None:
    side = group(holdout, e.user_id)
    for scope in (ALL, e.journey):
        arm = arms[(scope, side)]
        arm.conversions += 1
        arm.revenue += e.value
        arm.revenue_squares += e.value * e.value


def report(holdout: m.Holdout, arms: Arms,
           journeys: list[str]) -> dict[str, Any]:
    """The report's `holdout` block, from the sums keyed (scope, group)."""
    return {"percent": holdout.percent, "salt": holdout.salt, "interval": INTERVAL,
            **_scope(arms, ALL),
            "journeys": {journey: _scope(arms, journey) for journey in sorted(journeys)}}


def _scope(arms: Arms, scope: str) -> dict[str, Any]:
    control, treated = (arms.get((scope, group), Arm()) for group in GROUPS)
    return {"control": control.as_dict(), "treated": treated.as_dict(), "lift": {
        "conversions": lift(control.users, control.conversions, control.conversions,
                            treated.users, treated.conversions, treated.conversions),
        "revenue": lift(control.users, control.revenue, control.revenue_squares,
                        treated.users, treated.revenue, treated.revenue_squares)}}


def lift(n_c: int, x_c: float, v_c: float, n_t: int, x_t: float, v_t: float) -> dict[str, Any]:
    """The treated's increment over control, per user and in total (over the treated users),
    and relative, each with its 95% interval: `x` a group's sum, `v` the variance of that sum."""
    if not n_c or not n_t:
        return {"per_user": None, "per_user_ci95": None, "total": None, "total_ci95": None,
                "relative": None, "relative_ci95": None}
    diff = x_t / n_t - x_c / n_c
    margin = Z95 * math.sqrt(v_t / n_t**2 + v_c / n_c**2)
    out: dict[str, Any] = {
        "per_user": _round(diff), "per_user_ci95": _interval(diff - margin, diff + margin),
        "total": _round(diff * n_t),
        "total_ci95": _interval((diff - margin) * n_t, (diff + margin) * n_t),
        "relative": None, "relative_ci95": None}
    if x_c > 0:
        ratio = (x_t / n_t) / (x_c / n_c)
        out["relative"] = _round(ratio - 1)
        if x_t > 0:
            spread = Z95 * math.sqrt(v_t / x_t**2 + v_c / x_c**2)
            out["relative_ci95"] = _interval(ratio * math.exp(-spread) - 1,
                                             ratio * math.exp(spread) - 1)
    return out


def _interval(low: float, high: float) -> list[float | None]:
    return [_round(low), _round(high)]


def _round(value: float) -> float:
    return round(value, 4)
