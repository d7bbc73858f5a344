"""Reads for the API and /metrics (see `journeyctl.state.base.Views`)."""

from __future__ import annotations

from typing import Any

from journeyctl.state.sqlite_profiles import ProfilesTable
from journeyctl.state.views import INSTANCE_COLUMNS, MESSAGE_COLUMNS, user_view


class ViewsTable(ProfilesTable):
    def user_view(self, user_id: str, messages: int = 50) -> dict[str, Any] | None:
        instances = self.db.execute(
            f"SELECT {INSTANCE_COLUMNS} FROM instances WHERE user_id = ? "
            "ORDER BY entered_at, journey, number", [user_id]).fetchall()
        sent = self.db.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM outbox WHERE user_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?", [user_id, messages]).fetchall()
        return user_view(user_id, self.profile(user_id), instances, sent)

    def live_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """journey -> version -> step -> active instances."""
        counts: dict[str, dict[str, dict[str, int]]] = {}
        for journey, version, step, count in self.db.execute(
                "SELECT journey, version, step, COUNT(*) FROM instances WHERE status = 'active' "
                "GROUP BY journey, version, step"):
            counts.setdefault(journey, {}).setdefault(f"v{version}", {})[step or ""] = count
        return counts

    def journey_counts(self, journey: str) -> dict[str, dict[str, int]]:
        """One journey's part of `live_counts`, counting only its own instances (the index on
        (journey, version, step) serves it), not every journey's."""
        counts: dict[str, dict[str, int]] = {}
        for version, step, count in self.db.execute(
                "SELECT version, step, COUNT(*) FROM instances WHERE status = 'active' AND "
                "journey = ? GROUP BY version, step", [journey]):
            counts.setdefault(f"v{version}", {})[step or ""] = count
        return counts

    def pending(self, now: float) -> dict[str, int]:
        """Work waiting in the store, for /metrics and the health check."""
        def count(sql: str, *args: Any) -> int:
            return int(self.db.execute(sql, args).fetchone()[0])

        return {
            "events": count("SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL"),
            "timers": count("SELECT COUNT(*) FROM timers"),
            "timers_due": count("SELECT COUNT(*) FROM timers WHERE due <= ?", now),
            "messages": count("SELECT COUNT(*) FROM outbox WHERE status = 'pending'"),
            "set_aside": count("SELECT COUNT(*) FROM set_aside"),
        }
