"""The PostgreSQL state schema, as recorded migrations (like `migrations.py` for SQLite: each
runs once, in order, in one transaction; `migrations` records which ran; a newer state is
refused). It holds what the SQLite schema holds, plus what several daemons share:

- `part` on every row that belongs to one user's inputs (inbox, timers, user states,
  profiles): the user's partition (`journeyctl.state.partitions`), fixed when the state is
  made (`meta.partitions`);
- `partitions`: one row per partition; ingest locks a partition's row while it adds events, so
  a partition's events are committed in `seq` order and their `received_at` never goes back;
- `leases`: which daemon runs which partition, until when (renewed by heartbeat);
- `daemons`: the daemons alive, each until its heartbeat lapses;
- `tick_parts`: a schedule tick, recorded once in `ticks`, delivered partition by partition;
- `outbox.claimed_by`: the daemon sending a message (a claim lapses with its daemon).

Times the engine uses are epoch seconds (DOUBLE PRECISION), as in SQLite; lease and heartbeat
expiries are the server's clock (`clock_timestamp()`), the one clock every daemon shares.
Encoded values (`journeyctl.state.codec`: states, profiles, properties, payloads) are BYTEA.
"""

from __future__ import annotations

PG_MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "plan/apply, the daemons' runtime tables, partitions and leases", [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE applies (
            id BIGSERIAL PRIMARY KEY, serial INTEGER NOT NULL, operation TEXT NOT NULL,
            applied_at TEXT NOT NULL, "user" TEXT NOT NULL, git_commit TEXT, git_author TEXT,
            git_dirty INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL)""",
        """CREATE TABLE journey_versions (
            journey TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL,
            status TEXT NOT NULL, action TEXT NOT NULL, content TEXT NOT NULL,
            apply_id BIGINT NOT NULL REFERENCES applies (id), applied_at TEXT NOT NULL,
            PRIMARY KEY (journey, version))""",
        """CREATE TABLE settings_versions (
            version INTEGER PRIMARY KEY, hash TEXT NOT NULL, content TEXT NOT NULL,
            apply_id BIGINT NOT NULL REFERENCES applies (id), applied_at TEXT NOT NULL)""",
        # who holds the apply lock (the lock itself is an advisory lock of their session)
        """CREATE TABLE lock (
            id INTEGER PRIMARY KEY CHECK (id = 1), lock_id TEXT NOT NULL,
            operation TEXT NOT NULL, who TEXT NOT NULL, pid INTEGER NOT NULL,
            host TEXT NOT NULL, since TEXT NOT NULL, backend INTEGER NOT NULL)""",
        # --- runtime ---
        # user ids in byte order (COLLATE "C"), as SQLite and Python sort them: a schedule
        # tick pages through users in the same order on both stores, whatever the locale
        """CREATE TABLE profiles (
            user_id TEXT COLLATE "C" PRIMARY KEY, part INTEGER NOT NULL, data BYTEA NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL)""",
        "CREATE INDEX profiles_by_part ON profiles (part, user_id)",
        """CREATE TABLE user_state (
            user_id TEXT COLLATE "C" PRIMARY KEY, part INTEGER NOT NULL, state BYTEA NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL, serial INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX user_state_by_part ON user_state (part, user_id)",
        """CREATE TABLE instances (
            user_id TEXT NOT NULL, journey TEXT NOT NULL, number INTEGER NOT NULL,
            version INTEGER NOT NULL, step TEXT, status TEXT NOT NULL,
            entered_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (user_id, journey, number))""",
        "CREATE INDEX instances_by_step ON instances (journey, version, step) "
        "WHERE status = 'active'",
        """CREATE TABLE timers (
            id BIGSERIAL PRIMARY KEY, user_id TEXT NOT NULL, part INTEGER NOT NULL,
            key TEXT NOT NULL, token BIGINT NOT NULL, due DOUBLE PRECISION NOT NULL,
            set_at DOUBLE PRECISION NOT NULL, UNIQUE (user_id, key))""",
        "CREATE INDEX timers_due ON timers (part, due, set_at, id)",
        """CREATE TABLE inbox (
            seq BIGSERIAL PRIMARY KEY, event_id TEXT, user_id TEXT NOT NULL,
            part INTEGER NOT NULL, name TEXT NOT NULL, time DOUBLE PRECISION NOT NULL,
            properties BYTEA NOT NULL, received_at DOUBLE PRECISION NOT NULL,
            processed_at DOUBLE PRECISION, UNIQUE (event_id, user_id))""",
        "CREATE INDEX inbox_pending ON inbox (part, received_at, seq) "
        "WHERE processed_at IS NULL",
        """CREATE TABLE outbox (
            id BIGSERIAL PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL, journey TEXT NOT NULL, step TEXT NOT NULL,
            channel TEXT NOT NULL, template TEXT NOT NULL, category TEXT NOT NULL,
            payload BYTEA NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION, created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL, provider_id TEXT, error TEXT,
            claimed_by TEXT)""",
        "CREATE INDEX outbox_pending ON outbox (channel, next_attempt_at, id) "
        "WHERE status = 'pending'",
        """CREATE TABLE ticks (
            journey TEXT PRIMARY KEY, last_at DOUBLE PRECISION NOT NULL,
            set_at DOUBLE PRECISION)""",
        """CREATE TABLE tick_parts (
            journey TEXT NOT NULL, part INTEGER NOT NULL, pending_at DOUBLE PRECISION,
            after TEXT NOT NULL DEFAULT '', set_at DOUBLE PRECISION,
            PRIMARY KEY (journey, part))""",
        """CREATE TABLE set_aside (
            id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL,
            detail BYTEA NOT NULL, error TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
        # --- several daemons ---
        """CREATE TABLE partitions (
            part INTEGER PRIMARY KEY, received DOUBLE PRECISION NOT NULL DEFAULT 0)""",
        """CREATE TABLE leases (
            part INTEGER PRIMARY KEY, owner TEXT, expires_at TIMESTAMPTZ NOT NULL
            DEFAULT '-infinity', taken INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE daemons (
            id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
            started_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)""",
    ]),
    (2, "the live report's counts (as in SQLite's migration 4)", [
        """CREATE TABLE report_counts (
            hour BIGINT NOT NULL, slot INTEGER NOT NULL, version INTEGER NOT NULL,
            path TEXT NOT NULL, count BIGINT NOT NULL DEFAULT 0,
            amount DOUBLE PRECISION,
            PRIMARY KEY (hour, slot, version, path))""",
    ]),
    (3, "identity merge: the users merged into another (as in SQLite's migration 5)", [
        # written and read only by the daemon holding `user_id`'s partition
        """CREATE TABLE aliases (
            user_id TEXT COLLATE "C" PRIMARY KEY, known_id TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL)""",
    ]),
    (4, "the global suppression list (as in SQLite's migration 6)", [
        # any daemon writes it (the API); the holder of a user's partition reads it on load
        """CREATE TABLE suppressions (
            user_id TEXT COLLATE "C" PRIMARY KEY, reason TEXT,
            at DOUBLE PRECISION NOT NULL)""",
    ]),
]
PG_SCHEMA_VERSION = max(number for number, _, _ in PG_MIGRATIONS)
PARTITIONS = 32  # partitions of a new state: the most daemons that can share its work
