"""Inputs set aside: an event, timer or tick the engine failed on, kept for inspection and out
of the way of the others (see `journeyctl.state.base.SetAside`)."""

from __future__ import annotations

from dataclasses import asdict

from journeyctl.state import codec
from journeyctl.state.base import InboxRow, TimerRow, Work
from journeyctl.state.sqlite_timers import TicksTable


class SetAsideTable(TicksTable):
    def set_aside(self, work: Work, error: str, now: float, user: str | None = None) -> None:
        """Take an input the engine fails on out of the way, keeping it for inspection. For a
        tick, `user` is the one user it failed for (the tick goes on for the others); without
        one, the whole tick is set aside."""
        user = user or getattr(work, "user_id", "")
        with self._transaction():
            if isinstance(work, InboxRow):
                self.db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?",
                                [now, work.seq])
            elif isinstance(work, TimerRow):
                self.db.execute("DELETE FROM timers WHERE id = ?", [work.id])
            elif not user:
                self.tick_progress(work, None)
            self.db.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                            "(?, ?, ?, ?, ?)", [type(work).__name__, user,
                                                codec.dumps(asdict(work)), error, now])
