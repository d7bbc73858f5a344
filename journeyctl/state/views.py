"""The user view the API shows (`Views.user_view`), the same from every store: what each
store selects (these columns, in this order) and how it is put together."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from journeyctl.timefmt import rfc3339

INSTANCE_COLUMNS = "journey, number, version, step, status, entered_at"
MESSAGE_COLUMNS = ("journey, step, channel, template, category, status, attempts, provider_id, "
                   "error, created_at, updated_at")
_INSTANCE_KEYS = ["journey", "instance", "version", "step", "status", "entered_at"]
_MESSAGE_KEYS = [key.strip() for key in MESSAGE_COLUMNS.split(",")]


def user_view(user_id: str, profile: dict[str, Any] | None, instances: Sequence[Sequence[Any]],
              sent: Sequence[Sequence[Any]]) -> dict[str, Any] | None:
    """A user's profile, instances and latest messages (rows of the columns above); None for
    a user the state does not know."""
    if profile is None and not instances and not sent:
        return None
    return {"user_id": user_id, "profile": profile or {},
            "instances": [_stamped(dict(zip(_INSTANCE_KEYS, r, strict=True)))
                          for r in instances],
            "messages": [_stamped(dict(zip(_MESSAGE_KEYS, r, strict=True))) for r in sent]}


def _stamped(row: dict[str, Any]) -> dict[str, Any]:
    """Epoch seconds as RFC 3339 (UTC) for people reading the API."""
    for key in ("entered_at", "created_at", "updated_at"):
        if row.get(key) is not None:
            row[key] = rfc3339(row[key])
    return row
