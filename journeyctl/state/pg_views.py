"""Reads for the API and /metrics on PostgreSQL (see `journeyctl.state.base.Views`): of the
whole state, every partition, whichever daemon is asked."""

from __future__ import annotations

from typing import Any

from journeyctl.state.pg_profiles import ProfilesTable
from journeyctl.state.views import INSTANCE_COLUMNS, MESSAGE_COLUMNS, user_view


class ViewsTable(ProfilesTable):
    def user_view(self, user_id: str, messages: int = 50) -> dict[str, Any] | None:
        conn = self._conn()
        instances = conn.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE user_id = %s "
            "ORDER BY entered_at, journey, number", [user_id]).fetchall()
        sent = conn.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM outbox WHERE user_id = %s "
            "ORDER BY created_at DESC, id DESC LIMIT %s", [user_id, messages]).fetchall()
        return user_view(user_id, self.profile(user_id), instances, sent)

    def live_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """journey -> version -> step -> active instances."""
        counts: dict[str, dict[str, dict[str, int]]] = {}
        for journey, version, step, count in self._conn().execute(
                "SELECT journey, version, step, COUNT(*) FROM instances WHERE status = 'active' "
                "GROUP BY journey, version, step"):
            counts.setdefault(journey, {}).setdefault(f"v{version}", {})[step or ""] = count
        return counts

    def journey_counts(self, journey: str) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for version, step, count in self._conn().execute(
                "SELECT version, step, COUNT(*) FROM instances WHERE status = 'active' AND "
                "journey = %s GROUP BY version, step", [journey]):
            counts.setdefault(f"v{version}", {})[step or ""] = count
        return counts

    def pending(self, now: float) -> dict[str, int]:
        """Work waiting in the whole state (every partition), for /metrics and the health
        check: one query."""
        row = self._conn().execute(
            "SELECT (SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL), "
            "(SELECT COUNT(*) FROM timers), (SELECT COUNT(*) FROM timers WHERE due <= %s), "
            "(SELECT COUNT(*) FROM outbox WHERE status = 'pending'), "
            "(SELECT COUNT(*) FROM set_aside)", [now]).fetchone()
        assert row is not None
        return dict(zip(("events", "timers", "timers_due", "messages", "set_aside"),
                        (int(n) for n in row), strict=True))
