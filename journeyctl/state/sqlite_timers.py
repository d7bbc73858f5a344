"""Timers and schedule ticks: what becomes due at a time (see `journeyctl.state.base.Timers`
and `Ticks`)."""

from __future__ import annotations

from journeyctl.state.base import PendingTick, TimerRow
from journeyctl.state.sqlite_tables import SqliteTables


class TimersTable(SqliteTables):
    def next_timer(self, now: float) -> TimerRow | None:
        row = self.db.execute("SELECT id, user_id, key, token, due, set_at FROM timers "
                              "WHERE due <= ? ORDER BY due, set_at, id LIMIT 1",
                              [now]).fetchone()
        return TimerRow(*row) if row else None


class TicksTable(SqliteTables):
    def next_tick(self, now: float) -> PendingTick | None:
        row = self.db.execute("SELECT journey, pending_at, after, COALESCE(set_at, pending_at) "
                              "FROM ticks WHERE pending_at <= ? ORDER BY pending_at, journey "
                              "LIMIT 1", [now]).fetchone()
        return PendingTick(*row) if row else None

    def last_tick(self, journey: str) -> float | None:
        row = self.db.execute("SELECT last_at FROM ticks WHERE journey = ?",
                              [journey]).fetchone()
        return row[0] if row else None

    def start_ticks(self, journey: str, now: float) -> None:
        """A schedule seen for the first time counts its ticks from `now` (none before)."""
        self.db.execute("INSERT OR IGNORE INTO ticks (journey, last_at) VALUES (?, ?)",
                        [journey, now])

    def schedule_tick(self, journey: str, at: float) -> bool:
        """Record that `journey`'s schedule fired at `at` (durably: a restart finishes
        delivering it). A tick no later than the last one recorded is ignored."""
        with self._transaction():
            cursor = self.db.execute(  # (SET reads the row as it was: set_at = the last tick)
                "INSERT INTO ticks (journey, last_at, pending_at, after, set_at) VALUES "
                "(?, ?, ?, '', ?) ON CONFLICT (journey) DO UPDATE SET set_at = ticks.last_at, "
                "last_at = excluded.last_at, pending_at = excluded.pending_at, after = '' "
                "WHERE excluded.last_at > ticks.last_at", [journey, at, at, at])
            return cursor.rowcount > 0

    def tick_progress(self, tick: PendingTick, last_user: str | None) -> None:
        """A page done: carry on after `last_user`, or the tick is finished (None)."""
        if last_user is None:
            self.db.execute("UPDATE ticks SET pending_at = NULL, after = '' WHERE journey = ? "
                            "AND pending_at = ?", [tick.journey, tick.at])
        else:
            self.db.execute("UPDATE ticks SET after = ? WHERE journey = ? AND pending_at = ?",
                            [last_user, tick.journey, tick.at])
