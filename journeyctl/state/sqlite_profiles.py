"""Profiles: what the API's upserts and the engine's `identify` say about each user (see
`journeyctl.state.base.Profiles`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journeyctl.engine.state import merge_profile
from journeyctl.state import codec
from journeyctl.state.sqlite_tables import SqliteTables


class ProfilesTable(SqliteTables):
    def upsert_profiles(self, profiles: list[dict[str, Any]], now: float) -> int:
        with self._store.transaction():
            for profile in profiles:
                attrs = {k: v for k, v in profile.items() if k != "user_id"}
                current = self.profile(profile["user_id"]) or {}
                merge_profile(current, attrs)
                self._save_profile(profile["user_id"], current, now)
        return len(profiles)

    def _save_profile(self, user_id: str, profile: Mapping[str, Any], now: float) -> None:
        data = {k: v for k, v in profile.items() if k != "user_id"}
        self.db.execute("INSERT INTO profiles (user_id, data, updated_at) VALUES (?, ?, ?) "
                        "ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, "
                        "updated_at = excluded.updated_at",
                        [user_id, codec.dumps(data), now])

    def profile(self, user_id: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT data FROM profiles WHERE user_id = ?",
                              [user_id]).fetchone()
        return codec.loads(row[0]) if row else None

    def known_users(self, after: str, limit: int, part: int | None = None) -> list[str]:
        """Users with a profile or a state, in id order (schedule ticks page through them).
        One daemon runs an SQLite state: its one partition holds every user."""
        rows = self.db.execute(
            "SELECT user_id FROM profiles WHERE user_id > ? UNION "
            "SELECT user_id FROM user_state WHERE user_id > ? ORDER BY 1 LIMIT ?",
            [after, after, limit])
        return [r[0] for r in rows]
