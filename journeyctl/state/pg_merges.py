"""Identity merge on PostgreSQL (see `journeyctl.state.base.Merges`). The two users may be in
partitions two daemons hold: the anonymous user's holder takes their state out and forwards it
through the inbox (any daemon may add to any partition's inbox), the known user's holder folds
it in. An alias is written and read only by the holder of its user's partition."""

from __future__ import annotations

from typing import Any

from journeyctl.state.pg_inbox import InboxTable


class MergesTable(InboxTable):
    def alias_of(self, user_id: str) -> str | None:
        row = self._conn().execute("SELECT known_id FROM aliases WHERE user_id = %s",
                                   [user_id]).fetchone()
        return row[0] if row else None

    def take_out(self, user_id: str, into: str, now: float) -> None:
        self._fenced(user_id)
        conn = self._conn()
        with self._transaction():
            for table in ("user_state", "profiles", "timers"):
                conn.execute(f"DELETE FROM {table} WHERE user_id = %s", [user_id])
            conn.execute("DELETE FROM instances WHERE user_id = %s AND status = 'active'",
                         [user_id])
            conn.execute("INSERT INTO aliases (user_id, known_id, at) VALUES (%s, %s, %s) "
                         "ON CONFLICT (user_id) DO UPDATE SET known_id = excluded.known_id, "
                         "at = excluded.at", [user_id, into, now])

    def drop_alias(self, user_id: str) -> None:
        self._fenced(user_id)
        with self._transaction():
            self._conn().execute("DELETE FROM aliases WHERE user_id = %s", [user_id])

    def forward(self, inbox_seq: int, events: list[dict[str, Any]], now: float) -> None:
        with self._transaction():
            if self._batched:  # marked processed as the batch ends (`_flush`)
                self._cache.processed[inbox_seq] = now
            else:
                self._conn().execute("UPDATE inbox SET processed_at = %s WHERE seq = %s",
                                     [now, inbox_seq])
            self._insert(events, now)
        self._cache.done.add(inbox_seq)
