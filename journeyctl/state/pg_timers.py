"""Timers and schedule ticks on PostgreSQL (see `journeyctl.state.base.Timers` and `Ticks`).

A timer belongs to its user's partition. A schedule tick is recorded once in `ticks` (every
daemon runs the same cron and tries to record each fire: the first one does, the others find
it recorded), and delivered partition by partition (`tick_parts`), each by the daemon that
holds it, a page of users at a time."""

from __future__ import annotations

import dataclasses
import math

from journeyctl.state.base import PendingTick, TimerRow
from journeyctl.state.pg_tables import PgTables

# the earliest timer of each partition held (one index probe each), then the earliest (for
# one row, 0.2 ms against the merge's 1 ms: see `merged`)
_NEXT_TIMER = (
    "SELECT t.id, t.user_id, t.key, t.token, t.due, t.set_at FROM unnest(%s::int[]) AS "
    "h(part) CROSS JOIN LATERAL (SELECT * FROM timers WHERE part = h.part "
    "ORDER BY due, set_at, id LIMIT 1) AS t ORDER BY t.due, t.set_at, t.id LIMIT 1")
_TICKS = ("SELECT journey, pending_at, after, COALESCE(set_at, pending_at), part FROM "
          "tick_parts WHERE pending_at IS NOT NULL AND part = ANY(%s) ORDER BY pending_at, "
          "journey, part")


class TimersTable(PgTables):
    def next_timer(self, now: float) -> TimerRow | None:
        """The earliest timer of the partitions held, if it is due by `now`.

        Inside a batch, once it has found that none is due before some time, it asks again
        only once `now` reaches it (`BatchCache.timers_after`). That bound holds for the whole
        batch: its partitions' timers are set only by this daemon's transitions, which lower
        the bound to the due time of each timer they set (`commit`); the others only delete
        timers (fired, cancelled, set aside), which can make the earliest later, never earlier.
        A timer found due is not kept: after it runs (deleted), the next call asks again."""
        if self._batched and now < self._cache.timers_after:
            return None
        row = self._conn().execute(_NEXT_TIMER, [self._held()]).fetchone()
        if self._batched:
            self._cache.timers_after = row[4] if row else math.inf
        return TimerRow(*row) if row is not None and row[4] <= now else None


class TicksTable(PgTables):
    def next_tick(self, now: float) -> PendingTick | None:
        """The earliest pending page of a schedule tick of the partitions held, if it is due.

        Inside a batch, the pending ticks are read once (a row per journey and partition at
        most): only `schedule_tick` adds them, between batches, and within the batch only its
        own `tick_progress` changes them (kept up to date in `BatchCache.ticks`). A tick
        another daemon records meanwhile is delivered from the next batch on, as if it had been
        recorded just after this one."""
        ticks = self._cache.ticks if self._batched else None
        if ticks is None:
            ticks = [PendingTick(*row) for row in self._conn().execute(_TICKS, [self._held()])]
            if self._batched:
                self._cache.ticks = ticks
        return ticks[0] if ticks and ticks[0].at <= now else None

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
        self._cache.ticks = None  # (not inside a batch in the daemon; read them again if so)
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
        if self._cache.ticks is not None:
            self._cache.ticks = _progressed(self._cache.ticks, tick, last_user)


def _progressed(ticks: list[PendingTick], tick: PendingTick, last_user: str | None
                ) -> list[PendingTick]:
    """`ticks` after `tick_progress(tick, last_user)`: its row carries on after `last_user`,
    or is gone. (They are in order of time, journey and partition: `after` moves none.)"""
    key = (tick.journey, tick.part, tick.at)
    if last_user is None:
        return [t for t in ticks if (t.journey, t.part, t.at) != key]
    return [dataclasses.replace(t, after=last_user) if (t.journey, t.part, t.at) == key else t
            for t in ticks]
