"""The global suppression list and user deletion on SQLite (see
`journeyctl.state.base.Privacy`)."""

from __future__ import annotations

from journeyctl.state.base import FORGOTTEN, Suppression
from journeyctl.state.sqlite_merges import MergesTable


class PrivacyTable(MergesTable):
    def suppress(self, users: list[str], reason: str | None, now: float) -> int:
        with self._transaction():
            return sum(self.db.execute(
                "INSERT OR IGNORE INTO suppressions (user_id, reason, at) VALUES (?, ?, ?)",
                [user, reason, now]).rowcount for user in users)

    def unsuppress(self, users: list[str]) -> int:
        with self._transaction():
            return sum(self.db.execute("DELETE FROM suppressions WHERE user_id = ?",
                                       [user]).rowcount for user in users)

    def suppressions(self, after: str, limit: int) -> list[Suppression]:
        return [Suppression(*row) for row in self.db.execute(
            "SELECT user_id, reason, at FROM suppressions WHERE user_id > ? ORDER BY user_id "
            "LIMIT ?", [after, limit])]

    def forget(self, user_id: str, inbox_seq: int, received_at: float) -> dict[str, int]:
        db = self.db
        counts: dict[str, int] = {}
        with self._transaction():
            for table in FORGOTTEN:
                counts[table] = db.execute(f"DELETE FROM {table} WHERE user_id = ?",
                                           [user_id]).rowcount
            counts["aliases"] = db.execute(
                "DELETE FROM aliases WHERE user_id = ? OR known_id = ?",
                [user_id, user_id]).rowcount
            # the events up to the deletion (all processed: the engine runs them in this
            # order), the deletion's own included; later ones are a new user's
            counts["inbox"] = db.execute(
                "DELETE FROM inbox WHERE user_id = ? AND (received_at < ? OR "
                "(received_at = ? AND seq <= ?))",
                [user_id, received_at, received_at, inbox_seq]).rowcount
        return counts
