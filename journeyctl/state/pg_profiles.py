"""Profiles on PostgreSQL: the API's upserts (on any daemon) and the engine's `identify` and
`update` (on the daemon holding the user's partition) — see `journeyctl.state.base.Profiles`.

Both write a profile the same way: read the row FOR UPDATE, merge, write it back. Not the
engine's whole in-memory profile: that is the profile as it was loaded for the input plus the
engine's changes, and a daemon's API upsert committed in between (another daemon, or this one
between two batches) would be lost by writing it back. So the engine's commit re-reads the row
under its lock and applies to it only what the engine changed (its `ProfileUpdated` effects, in
order, each as the engine applied it); an upsert waiting on the lock then merges into that.
Both keep what the other wrote; of one attribute both set, the later commit wins. Rows are
locked in user id order (an upsert's several users), and a missing row is inserted empty first
so that there is a row to lock (two first writes of one user would otherwise both insert)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import psycopg

from journeyctl.engine import effects as fx
from journeyctl.engine.state import merge_profile, set_path
from journeyctl.state import codec
from journeyctl.state.partitions import partition_of
from journeyctl.state.pg_tables import PgTables

DEADLOCK_TRIES = 3


class ProfilesTable(PgTables):
    def upsert_profiles(self, profiles: list[dict[str, Any]], now: float) -> int:
        # An engine batch locks its users' profiles in the order it runs them, an upsert in id
        # order: the two can deadlock. The server then ends one; the upsert, whole in its own
        # transaction, is simply run again (the batch, if it was the one, is by the daemon).
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                with self._conn().transaction():
                    merged = self._locked_profiles(sorted({p["user_id"] for p in profiles}), now)
                    for profile in profiles:
                        merge_profile(merged[profile["user_id"]],
                                      {k: v for k, v in profile.items() if k != "user_id"})
                    self._write_profiles(merged, now)
                return len(profiles)
            except psycopg.errors.DeadlockDetected:
                if attempt == DEADLOCK_TRIES:
                    raise
        raise AssertionError("unreachable")

    def _update_profile(self, user_id: str, effects: Iterable[Any], now: float) -> None:
        """Apply the engine's changes of one transition to the profile as it is now."""
        profile = self._locked_profiles([user_id], now)[user_id]
        for effect in effects:
            if type(effect) is not fx.ProfileUpdated:
                continue
            if effect.journey is None:  # identify: merged, as the engine does
                merge_profile(profile, copy.deepcopy(effect.changes))
            else:  # an `update` step: each attribute (a dotted path) set
                for path, value in effect.changes.items():
                    set_path(profile, path, value)
        profile.pop("user_id", None)
        self._write_profiles({user_id: profile}, now)

    def _locked_profiles(self, user_ids: list[str], now: float) -> dict[str, dict[str, Any]]:
        """The profiles of `user_ids` (sorted), locked until the transaction ends; an empty
        one, inserted to be locked, for a user without one."""
        conn = self._conn()
        count = self._store.partitions
        conn.execute("INSERT INTO profiles (user_id, part, data, updated_at) SELECT u, p, "
                     "'{}', %s FROM unnest(%s::text[], %s::int[]) WITH ORDINALITY AS x(u, p, i) "
                     "ORDER BY i ON CONFLICT (user_id) DO NOTHING",
                     [now, user_ids, [partition_of(u, count) for u in user_ids]])
        found = {row[0]: codec.loads(row[1]) for row in conn.execute(
            "SELECT user_id, data FROM profiles WHERE user_id = ANY(%s) ORDER BY user_id "
            "FOR UPDATE", [user_ids])}
        return {user_id: found.get(user_id, {}) for user_id in user_ids}

    def _write_profiles(self, profiles: dict[str, dict[str, Any]], now: float) -> None:
        self._conn().execute(
            "UPDATE profiles SET data = x.d, updated_at = %s FROM unnest(%s::text[], "
            "%s::bytea[]) AS x(u, d) WHERE user_id = x.u",
            [now, list(profiles), [codec.dumps(p) for p in profiles.values()]])

    def profile(self, user_id: str) -> dict[str, Any] | None:
        row = self._conn().execute("SELECT data FROM profiles WHERE user_id = %s",
                                   [user_id]).fetchone()
        return codec.loads(row[0]) if row else None

    def known_users(self, after: str, limit: int, part: int | None = None) -> list[str]:
        """Users with a profile or a state, in id order (schedule ticks page through them):
        of partition `part` (a tick is delivered partition by partition), or all."""
        if part is None:
            rows = self._conn().execute(
                "SELECT user_id FROM profiles WHERE user_id > %s UNION SELECT user_id FROM "
                "user_state WHERE user_id > %s ORDER BY 1 LIMIT %s", [after, after, limit])
        else:
            rows = self._conn().execute(
                "(SELECT user_id FROM profiles WHERE part = %s AND user_id > %s ORDER BY "
                "user_id LIMIT %s) UNION (SELECT user_id FROM user_state WHERE part = %s AND "
                "user_id > %s ORDER BY user_id LIMIT %s) ORDER BY 1 LIMIT %s",
                [part, after, limit, part, after, limit, limit])
        return [r[0] for r in rows]
