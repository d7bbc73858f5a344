"""Identity merge on SQLite (see `journeyctl.state.base.Merges`): the merged users' aliases, a
user's state taken out, events forwarded to the user they merged into."""

from __future__ import annotations

from typing import Any

from journeyctl.state.sqlite_inbox import InboxTable


class MergesTable(InboxTable):
    def alias_of(self, user_id: str) -> str | None:
        row = self.db.execute("SELECT known_id FROM aliases WHERE user_id = ?",
                              [user_id]).fetchone()
        return row[0] if row else None

    def take_out(self, user_id: str, into: str, now: float) -> None:
        db = self.db
        with self._transaction():
            for table in ("user_state", "profiles", "timers"):
                db.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id])
            db.execute("DELETE FROM instances WHERE user_id = ? AND status = 'active'",
                       [user_id])
            db.execute("INSERT INTO aliases (user_id, known_id, at) VALUES (?, ?, ?) "
                       "ON CONFLICT (user_id) DO UPDATE SET known_id = excluded.known_id, "
                       "at = excluded.at", [user_id, into, now])

    def drop_alias(self, user_id: str) -> None:
        with self._transaction():
            self.db.execute("DELETE FROM aliases WHERE user_id = ?", [user_id])

    def forward(self, inbox_seq: int, events: list[dict[str, Any]], now: float) -> None:
        with self._transaction():
            self.db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?", [now, inbox_seq])
            self._insert_events(events, now)
