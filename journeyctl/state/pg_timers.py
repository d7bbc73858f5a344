"""Timers and schedule ticks on PostgreSQL (see `journeyctl.state.base.Timers` and `Ticks`).

A timer belongs to its user's partition. A schedule tick is recorded once in `ticks` (every
daemon runs the same cron and tries to record each fire: the first one does, the others find
it recorded), and delivered partition by partition (`tick_parts`), each by the daemon that
holds it, a page of users at a time."""

from __future__ import annotations

from journeyctl.state.base import PendingTick, TimerRow
from journeyctl.state.pg_tables import PgTables

# the earliest timer of each partition held (one index probe each), then the earliest
_NEXT_TIMER = (
    "SELECT t.id, t.user_id, t.key, t.token, t.due, t.set_at FROM unnest(%s::int[]) AS "
    "h(part) CROSS JOIN LATERAL (SELECT * FROM timers WHERE part = h.part AND due <= %s "
    "ORDER BY due, set_at, id LIMIT 1) AS t ORDER BY t.due, t.set_at, t.id LIMIT 1")


class TimersTable(PgTables):
    def next_timer(self, now: float) -> TimerRow | None:
        row = self._conn().execute(_NEXT_TIMER, [self._held(), now]).fetchone()
        return TimerRow(*row) if row else None


class TicksTable(PgTables):
    def next_tick(self, now: float) -> PendingTick | None:
        row = self._conn().execute(
            "SELECT journey, pending_at, after, COALESCE(set_at, pending_at), part FROM "
            "tick_parts WHERE part = ANY(%s) AND pending_at <= %s ORDER BY pending_at, "
            "journey, part LIMIT 1", [self._held(), now]).fetchone()
        return PendingTick(*row) if row else None

    def last_tick(self, journey: str) -> float | None:
        row = self._conn().execute("SELECT last_at FROM ticks WHERE journey = %s",
                                   [journey]).fetchone()
        return row[0] if row else None

    def start_ticks(self, journey: str, now: float) -> None:
        """A schedule seen for the first time counts its ticks from `now` (none before)."""
        self._conn().execute("INSERT INTO ticks (journey, last_at) VALUES (%s, %s) "
                             "ON CONFLICT (journey) DO NOTHING", [journey, now])

    def schedule_tick(self, journey: str, at: float) -> bool:
        """Record that `journey`'s schedule fired at `at`, once however many daemons try (the
        row's lock makes the second wait, then find it no later than the last), and deliver
        it to every partition (durably: a restart, or another daemon, finishes it)."""
        conn = self._conn()
        with self._transaction():
            recorded = conn.execute(  # (SET reads the row as it was: set_at = the last tick)
                "INSERT INTO ticks (journey, last_at, set_at) VALUES (%s, %s, %s) ON CONFLICT "
                "(journey) DO UPDATE SET set_at = ticks.last_at, last_at = excluded.last_at "
                "WHERE excluded.last_at > ticks.last_at RETURNING set_at",
                [journey, at, at]).fetchone()
            if recorded is None:
                return False
            conn.execute(
                "INSERT INTO tick_parts (journey, part, pending_at, after, set_at) SELECT %s, "
                "p, %s, '', %s FROM generate_series(0, %s - 1) AS p ON CONFLICT (journey, part) "
                "DO UPDATE SET pending_at = excluded.pending_at, after = '', "
                "set_at = excluded.set_at", [journey, at, recorded[0], self._store.partitions])
            return True

    def tick_progress(self, tick: PendingTick, last_user: str | None) -> None:
        """A page of the tick's partition done: carry on after `last_user`, or that partition
        is finished (None)."""
        if last_user is None:
            self._conn().execute("UPDATE tick_parts SET pending_at = NULL, after = '' WHERE "
                                 "journey = %s AND part = %s AND pending_at = %s",
                                 [tick.journey, tick.part, tick.at])
        else:
            self._conn().execute("UPDATE tick_parts SET after = %s WHERE journey = %s AND "
                                 "part = %s AND pending_at = %s",
                                 [last_user, tick.journey, tick.part, tick.at])
