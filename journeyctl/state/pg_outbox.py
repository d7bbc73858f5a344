"""The outbox on PostgreSQL: any daemon sends any message (see `journeyctl.state.base.Outbox`).

`due_messages` claims the messages it returns (`claimed_by`, SKIP LOCKED: two daemons never
claim one message). A claim holds while its daemon's heartbeat does: a daemon killed while
sending leaves claims that lapse with it, and another daemon sends those messages again —
the documented at-least-once repeat, with the same idempotency key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from journeyctl.state import codec
from journeyctl.state.base import Delivery, OutboxRow
from journeyctl.state.pg_tables import PgTables

_COLUMNS = ("id, idempotency_key, user_id, journey, step, channel, template, category, "
            "payload, status, attempts, created_at, next_attempt_at")
_CLAIM = (
    "UPDATE outbox SET claimed_by = %(me)s WHERE id IN (SELECT id FROM outbox WHERE "
    "status = 'pending' AND channel = %(channel)s AND next_attempt_at <= %(now)s AND "
    "id <> ALL(%(busy)s) AND (claimed_by IS NULL OR claimed_by = %(me)s OR claimed_by NOT IN "
    "(SELECT id FROM daemons WHERE expires_at > clock_timestamp())) ORDER BY "
    "next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) RETURNING " + _COLUMNS)


class OutboxTable(PgTables):
    def due_messages(self, now: float, room: Mapping[str, int], busy: Iterable[int]
                     ) -> list[OutboxRow]:
        """Pending messages due by `now`, oldest first: up to `room[channel]` per channel,
        leaving out the ids in `busy` (being delivered here) and those another daemon alive
        has claimed; claimed for this daemon (each channel's claim commits at once)."""
        busy_ids = sorted(busy)
        conn = self._conn()
        found: list[OutboxRow] = []
        for channel, limit in room.items():
            if limit <= 0:
                continue
            rows = conn.execute(_CLAIM, {"me": self.daemon_id, "channel": channel, "now": now,
                                         "busy": busy_ids, "limit": limit}).fetchall()
            rows.sort(key=lambda r: (r[12], r[0]))  # RETURNING keeps no order
            found += [OutboxRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], codec.loads(r[8]),
                                r[9], r[10], r[11]) for r in rows]
        return found

    def record_deliveries(self, deliveries: list[Delivery], now: float) -> list[None]:
        """Delivery outcomes, in one transaction (see the SQLite store's), each message's
        claim let go: one pending again is anyone's to send at its `retry_at`. Only a message
        still pending and still this daemon's (or nobody's) is recorded: one whose claim
        lapsed (this daemon paused or cut off longer than a lease) was taken and sent by
        another daemon, whose outcome stands — recording this one too would send it again,
        or its fallback as well."""
        conn = self._conn()
        with self._transaction():
            recorded = {row[0] for row in conn.execute(
                "UPDATE outbox o SET status = x.s, attempts = o.attempts + x.a, provider_id = "
                "x.p, error = x.e, updated_at = %(now)s, next_attempt_at = COALESCE(x.r, "
                "o.next_attempt_at), claimed_by = NULL FROM unnest(%(id)s::bigint[], "
                "%(s)s::text[], %(a)s::int[], %(p)s::text[], %(e)s::text[], %(r)s::float8[]) "
                "AS x(id, s, a, p, e, r) WHERE o.id = x.id AND o.status = 'pending' AND "
                "(o.claimed_by = %(me)s OR o.claimed_by IS NULL) RETURNING o.id",
                {"now": now, "me": self.daemon_id, "id": [d.row_id for d in deliveries],
                 "s": [d.status for d in deliveries], "a": [d.attempts for d in deliveries],
                 "p": [d.provider_id for d in deliveries], "e": [d.error for d in deliveries],
                 "r": [d.retry_at for d in deliveries]})}
            for d in deliveries:
                if d.follow_up is not None and d.row_id in recorded:
                    self._insert_message(d.follow_up, now, now)
        return [None] * len(deliveries)

    def _insert_message(self, message: dict[str, Any], due: float, now: float) -> None:
        self._conn().execute(
            "INSERT INTO outbox (idempotency_key, user_id, journey, step, channel, template, "
            "category, payload, status, attempts, next_attempt_at, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s, %s) "
            "ON CONFLICT (idempotency_key) DO NOTHING",
            [message["idempotency_key"], message["user_id"], message["journey"],
             message["step"], message["channel"], message["template"], message["category"],
             codec.dumps(message), due, now, now])
