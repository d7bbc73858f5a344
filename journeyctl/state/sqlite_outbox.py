"""The outbox: messages the engine produced, committed with the transition that sent them,
and what became of each delivery (see `journeyctl.state.base.Outbox`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from journeyctl.state import codec
from journeyctl.state.base import Delivery, OutboxRow
from journeyctl.state.sqlite_tables import SqliteTables


class OutboxTable(SqliteTables):
    def due_messages(self, now: float, room: Mapping[str, int], busy: Iterable[int]
                     ) -> list[OutboxRow]:
        """Pending messages due by `now`, oldest first: up to `room[channel]` per channel,
        leaving out the ids in `busy` (being delivered). One indexed query per channel, so a
        channel with a backlog costs the others nothing."""
        busy_ids = codec.dumps(sorted(busy))
        found: list[OutboxRow] = []
        for channel, limit in room.items():
            if limit <= 0:
                continue
            rows = self.db.execute(
                "SELECT id, idempotency_key, user_id, journey, step, channel, template, "
                "category, payload, status, attempts, created_at FROM outbox WHERE status = "
                "'pending' AND channel = ? AND next_attempt_at <= ? AND id NOT IN (SELECT "
                "value FROM json_each(?)) ORDER BY next_attempt_at, id LIMIT ?",
                [channel, now, busy_ids, limit])
            found += [OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], codec.loads(r[8]),
                                r[9], r[10], r[11]) for r in rows]
        return found

    def record_deliveries(self, deliveries: list[Delivery], now: float) -> list[None]:
        """Delivery outcomes, in one transaction: each row's new status (sent, failed or
        expired — or pending again with a later `retry_at`, when a provider asked to wait
        longer than to retry at once), and the fallback message replacing a failed one."""
        with self._transaction():
            for d in deliveries:
                cursor = self.db.execute(
                    "UPDATE outbox SET status = ?, attempts = attempts + ?, provider_id = ?, "
                    "error = ?, updated_at = ?, next_attempt_at = COALESCE(?, "
                    "next_attempt_at) WHERE id = ?",
                    [d.status, d.attempts, d.provider_id, d.error, now, d.retry_at, d.row_id])
                # (gone: its user was deleted while it was with the provider — no fallback)
                if d.follow_up is not None and cursor.rowcount:
                    self._insert_message(d.follow_up, now, now)
        return [None] * len(deliveries)

    def _insert_message(self, message: dict[str, Any], due: float, now: float) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO outbox (idempotency_key, user_id, journey, step, channel, "
            "template, category, payload, status, attempts, next_attempt_at, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            [message["idempotency_key"], message["user_id"], message["journey"],
             message["step"], message["channel"], message["template"], message["category"],
             codec.dumps(message), due, now, now])
