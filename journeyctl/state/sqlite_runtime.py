"""The daemon's side of the SQLite store: the table groups together, and the engine's
transitions (see `journeyctl.state.base.Runtime`).

Every engine transition is committed in one transaction with what it produced — the user's new
state, their instances, timers set and cancelled, and the messages to send (the transactional
outbox) — and with the input marked done (the inbox row processed, the timer removed). A crash
before the commit replays the input; after it, nothing is lost or done twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from journeyctl.engine import effects as fx
from journeyctl.engine.state import UserState
from journeyctl.state import codec, prune
from journeyctl.state.base import CountRow, TimerRow, split_count
from journeyctl.state.partitions import SINGLE, Held
from journeyctl.state.sqlite_outbox import OutboxTable
from journeyctl.state.sqlite_privacy import PrivacyTable
from journeyctl.state.sqlite_set_aside import SetAsideTable
from journeyctl.state.sqlite_timers import TimersTable
from journeyctl.state.sqlite_views import ViewsTable

_PRUNABLE = {what.kind: what for what in prune.PRUNABLE}


class SqliteRuntime(PrivacyTable, ViewsTable, TimersTable, SetAsideTable, OutboxTable):
    """Runtime queries and transitions over an open SQLite store (used from one thread)."""

    def serial(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'serial'").fetchone()
        return int(row[0]) if row else 0

    def touch(self, now: float) -> None:
        self._store.touch(now)

    def close(self) -> None:
        self._store.close()

    # --- leases: one daemon runs an SQLite state, so it holds its one partition for good ----

    def heartbeat(self) -> Held:
        return SINGLE

    def release(self) -> None:
        pass

    # --- pruning (journeyctl.state.prune) ----------------------------------------------------

    def prune(self, kind: str, after: int, cutoff: float) -> tuple[int, int | None]:
        return prune.prune_window(self._store, _PRUNABLE[kind], after, cutoff)

    def release_space(self) -> int:
        return prune.release_space(self._store)

    # --- engine transitions ------------------------------------------------------------------

    def load_user(self, user_id: str, fresh: Callable[[str, dict[str, Any] | None], UserState]
                  ) -> tuple[UserState, int | None]:
        """The user's state — a new one holding their profile if the engine has not seen them
        yet — and the serial of the apply it was last reconciled with (None when new)."""
        profile = self.profile(user_id)
        row = self.db.execute("SELECT state, serial FROM user_state WHERE user_id = ?",
                              [user_id]).fetchone()
        if row is None:
            state, serial = fresh(user_id, profile), None
        else:
            state = codec.decode(row[0], {**(profile or {}), "user_id": user_id})
            serial = row[1]
        state.suppressed = self.db.execute("SELECT 1 FROM suppressions WHERE user_id = ?",
                                           [user_id]).fetchone() is not None
        return state, serial

    def instance_position(self, user_id: str, journey: str, number: int
                          ) -> tuple[int, str] | None:
        """(version, step) of an active instance as the store has it: an apply's `migrate:`
        moves it there."""
        row = self.db.execute("SELECT version, step FROM instances WHERE user_id = ? AND "
                              "journey = ? AND number = ? AND status = 'active' AND step IS "
                              "NOT NULL", [user_id, journey, number]).fetchone()
        return (row[0], row[1]) if row else None

    def commit(self, state: UserState, effects: Iterable[Any], messages: list[dict[str, Any]],
               *, at: float, now: float, serial: int, inbox_seq: int | None = None,
               timer: TimerRow | None = None, profile_changed: bool = False) -> None:
        """One engine transition, atomically: the input done, the state, what it produced.
        `at` is the engine's time for it (timers set now count as set then), `now` the
        clock's; `serial` the apply the state is reconciled with."""
        db = self.db
        user = state.user_id
        with self._transaction():
            if inbox_seq is not None:
                db.execute("UPDATE inbox SET processed_at = ? WHERE seq = ?", [now, inbox_seq])
            if timer is not None:
                db.execute("DELETE FROM timers WHERE id = ? AND token = ?", [timer.id,
                                                                             timer.token])
            for effect in effects:
                self._effect(user, effect, at, now)
            for message in messages:
                self._insert_message(message, message["time"], now)
            if profile_changed:
                self._save_profile(user, state.profile, now)
            db.execute("INSERT INTO user_state (user_id, state, updated_at, serial) VALUES "
                       "(?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET state = excluded.state, "
                       "updated_at = excluded.updated_at, serial = excluded.serial",
                       [user, codec.encode(state), now, serial])

    def add_counts(self, rows: list[CountRow]) -> None:
        with self._transaction():
            self.db.conn.executemany(
                "INSERT INTO report_counts (hour, slot, version, path, count, amount) VALUES "
                "(?, 0, ?, ?, ?, ?) ON CONFLICT (hour, slot, version, path) DO UPDATE SET "
                "count = count + excluded.count, amount = amount + excluded.amount",
                [(r.hour, r.version, r.path, *split_count(r.value)) for r in rows])

    def _effect(self, user: str, effect: Any, at: float, now: float) -> None:
        kind = type(effect)
        db = self.db
        if kind is fx.SetTimer:
            db.execute("INSERT INTO timers (user_id, key, token, due, set_at) VALUES "
                       "(?, ?, ?, ?, ?) ON CONFLICT (user_id, key) DO UPDATE SET "
                       "token = excluded.token, due = excluded.due, set_at = excluded.set_at",
                       [user, effect.key, effect.token, effect.due, at])
        elif kind is fx.CancelTimer:
            db.execute("DELETE FROM timers WHERE user_id = ? AND key = ?", [user, effect.key])
        elif kind is fx.Entered:
            db.execute("INSERT OR REPLACE INTO instances (user_id, journey, number, version, "
                       "step, status, entered_at, updated_at) VALUES (?, ?, ?, ?, NULL, "
                       "'active', ?, ?)",
                       [user, effect.journey, effect.instance, effect.version, effect.time, now])
        elif kind is fx.InstanceMoved:  # identity merge: another user's instance joined
            db.execute("INSERT OR REPLACE INTO instances (user_id, journey, number, version, "
                       "step, status, entered_at, updated_at) VALUES (?, ?, ?, ?, ?, "
                       "'active', ?, ?)", [user, effect.journey, effect.instance,
                                           effect.version, effect.step, effect.entered_at, now])
        elif kind is fx.StepReached:
            db.execute("UPDATE instances SET step = ?, updated_at = ? WHERE user_id = ? AND "
                       "journey = ? AND number = ?",
                       [effect.step, now, user, effect.journey, effect.instance])
        elif kind is fx.Exited:
            db.execute("UPDATE instances SET status = ?, updated_at = ? WHERE user_id = ? AND "
                       "journey = ? AND number = ?",
                       [effect.reason, now, user, effect.journey, effect.instance])
