"""Inputs set aside on PostgreSQL: an event, timer or tick the engine failed on, kept for
inspection and out of the way of the others (see `journeyctl.state.base.SetAside`)."""

from __future__ import annotations

from dataclasses import asdict

from journeyctl.state import codec
from journeyctl.state.base import InboxRow, TimerRow, Work
from journeyctl.state.pg_timers import TicksTable


class SetAsideTable(TicksTable):
    def set_aside(self, work: Work, error: str, now: float, user: str | None = None) -> None:
        """Take an input the engine fails on out of the way, keeping it for inspection. For a
        tick, `user` is the one user it failed for (the tick goes on for the others); without
        one, the tick's partition is set aside."""
        user = user or getattr(work, "user_id", "")
        if isinstance(work, InboxRow | TimerRow):
            # the batch holds the input's partition (a lease lost since the failed batch: the
            # new holder runs the input, and sets it aside itself if it fails there too)
            self._fenced(work.user_id)
        conn = self._conn()
        with self._transaction():
            if isinstance(work, InboxRow):
                conn.execute("UPDATE inbox SET processed_at = %s WHERE seq = %s",
                             [now, work.seq])
            elif isinstance(work, TimerRow):  # (not one set again since, with a new token)
                conn.execute("DELETE FROM timers WHERE id = %s AND token = %s",
                             [work.id, work.token])
            elif not user:
                self.tick_progress(work, None)
            conn.execute("INSERT INTO set_aside (kind, user_id, detail, error, at) VALUES "
                         "(%s, %s, %s, %s, %s)", [type(work).__name__, user,
                                                  codec.dumps(asdict(work)), error, now])
        if isinstance(work, InboxRow):  # (this batch processed it: see `BatchCache`)
            self._cache.done.add(work.seq)
