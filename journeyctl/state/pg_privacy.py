"""The global suppression list and user deletion on PostgreSQL (see
`journeyctl.state.base.Privacy`). Any daemon edits the list (the API's writes); a user's
deletion runs on the daemon holding their partition, in the order of their events."""

from __future__ import annotations

from journeyctl.state.base import FORGOTTEN, Suppression
from journeyctl.state.pg_merges import MergesTable


class PrivacyTable(MergesTable):
    def suppress(self, users: list[str], reason: str | None, now: float) -> int:
        with self._transaction():
            return len(self._conn().execute(
                "INSERT INTO suppressions (user_id, reason, at) SELECT u, %s, %s FROM "
                "unnest(%s::text[]) AS u ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
                [reason, now, users]).fetchall())

    def unsuppress(self, users: list[str]) -> int:
        with self._transaction():
            return len(self._conn().execute(
                "DELETE FROM suppressions WHERE user_id = ANY(%s::text[]) RETURNING user_id",
                [users]).fetchall())

    def suppressions(self, after: str, limit: int) -> list[Suppression]:
        return [Suppression(*row) for row in self._conn().execute(
            "SELECT user_id, reason, at FROM suppressions WHERE user_id > %s ORDER BY user_id "
            "LIMIT %s", [after, limit])]

    def forget(self, user_id: str, inbox_seq: int, received_at: float) -> dict[str, int]:
        self._fenced(user_id)
        conn = self._conn()
        counts: dict[str, int] = {}
        with self._transaction():
            for table in FORGOTTEN:
                counts[table] = conn.execute(f"DELETE FROM {table} WHERE user_id = %s",
                                             [user_id]).rowcount
            counts["aliases"] = conn.execute(
                "DELETE FROM aliases WHERE user_id = %s OR known_id = %s",
                [user_id, user_id]).rowcount
            # as on SQLite: the events up to the deletion, its own row included
            counts["inbox"] = conn.execute(
                "DELETE FROM inbox WHERE user_id = %s AND (received_at < %s OR "
                "(received_at = %s AND seq <= %s))",
                [user_id, received_at, received_at, inbox_seq]).rowcount
        self._cache.done.add(inbox_seq)
        self._cache.processed.pop(inbox_seq, None)
        return counts
