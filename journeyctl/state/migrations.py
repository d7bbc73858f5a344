"""The state schema, as recorded migrations: each runs once, in order, inside one transaction;
`migrations` records which ran. A state newer than this code is refused, never rewritten."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "plan/apply and the daemon's runtime tables", [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE applies (
            id INTEGER PRIMARY KEY, serial INTEGER NOT NULL, operation TEXT NOT NULL,
            applied_at TEXT NOT NULL, user TEXT NOT NULL, git_commit TEXT, git_author TEXT,
            git_dirty INTEGER NOT NULL DEFAULT 0, summary TEXT NOT NULL)""",
        """CREATE TABLE journey_versions (
            journey TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL,
            status TEXT NOT NULL, action TEXT NOT NULL, content TEXT NOT NULL,
            apply_id INTEGER NOT NULL REFERENCES applies (id), applied_at TEXT NOT NULL,
            PRIMARY KEY (journey, version))""",
        """CREATE TABLE settings_versions (
            version INTEGER PRIMARY KEY, hash TEXT NOT NULL, content TEXT NOT NULL,
            apply_id INTEGER NOT NULL REFERENCES applies (id), applied_at TEXT NOT NULL)""",
        """CREATE TABLE lock (
            id INTEGER PRIMARY KEY CHECK (id = 1), lock_id TEXT NOT NULL,
            operation TEXT NOT NULL, who TEXT NOT NULL, pid INTEGER NOT NULL,
            host TEXT NOT NULL, since TEXT NOT NULL)""",
        # --- runtime: what the daemon runs on ---
        """CREATE TABLE profiles (
            user_id TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at REAL NOT NULL)""",
        """CREATE TABLE user_state (
            user_id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL NOT NULL)""",
        """CREATE TABLE instances (
            user_id TEXT NOT NULL, journey TEXT NOT NULL, number INTEGER NOT NULL,
            version INTEGER NOT NULL, step TEXT, status TEXT NOT NULL,
            entered_at REAL NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (user_id, journey, number))""",
        "CREATE INDEX instances_by_step ON instances (journey, version, step) "
        "WHERE status = 'active'",
        """CREATE TABLE timers (
            id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, key TEXT NOT NULL,
            token INTEGER NOT NULL, due REAL NOT NULL, set_at REAL NOT NULL,
            UNIQUE (user_id, key))""",
        "CREATE INDEX timers_due ON timers (due)",
        """CREATE TABLE inbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT UNIQUE, user_id TEXT NOT NULL,
            name TEXT NOT NULL, time REAL NOT NULL, properties TEXT NOT NULL,
            received_at REAL NOT NULL, processed_at REAL)""",
        "CREATE INDEX inbox_pending ON inbox (seq) WHERE processed_at IS NULL",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY, idempotency_key TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL, journey TEXT NOT NULL, step TEXT NOT NULL,
            channel TEXT NOT NULL, template TEXT NOT NULL, category TEXT NOT NULL,
            payload TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
            provider_id TEXT, error TEXT)""",
        "CREATE INDEX outbox_pending ON outbox (next_attempt_at) "
        "WHERE status IN ('pending', 'retry')",
    ]),
    (2, "daemon: schedule ticks, inputs set aside, pending-outbox index", [
        # 'retry' was never written: a message waiting to retry is 'pending' with a later
        # next_attempt_at. The dispatcher looks for due messages channel by channel.
        "DROP INDEX outbox_pending",
        "CREATE INDEX outbox_pending ON outbox (channel, next_attempt_at) "
        "WHERE status = 'pending'",
        # A schedule trigger's ticks: the last one started, and the one being paged through.
        """CREATE TABLE ticks (
            journey TEXT PRIMARY KEY, last_at REAL NOT NULL, pending_at REAL,
            after TEXT NOT NULL DEFAULT '')""",
        # An input the engine failed on (a bug), kept for inspection instead of blocking.
        """CREATE TABLE set_aside (
            id INTEGER PRIMARY KEY, kind TEXT NOT NULL, user_id TEXT NOT NULL,
            detail TEXT NOT NULL, error TEXT NOT NULL, at REAL NOT NULL)""",
    ]),
    (3, "daemon: event ids unique per user, as in the simulator; when each tick was set; "
        "the apply each user's state was last reconciled with", [
        # SQLite cannot change a constraint in place: the inbox is copied into a new table.
        # The id leads the key: clients' ids mostly grow, so new entries land at the end of
        # the index (user first made batched ingest a fifth slower: 25k -> 20k events/s).
        """CREATE TABLE inbox_v3 (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT, user_id TEXT NOT NULL,
            name TEXT NOT NULL, time REAL NOT NULL, properties TEXT NOT NULL,
            received_at REAL NOT NULL, processed_at REAL, UNIQUE (event_id, user_id))""",
        "INSERT INTO inbox_v3 SELECT seq, event_id, user_id, name, time, properties, "
        "received_at, processed_at FROM inbox",
        "DROP TABLE inbox",
        "ALTER TABLE inbox_v3 RENAME TO inbox",
        "CREATE INDEX inbox_pending ON inbox (seq) WHERE processed_at IS NULL",
        # The previous tick's time: a tick counts as set then, as in the simulator, which
        # orders a tick and a timer due at the same moment by when each was set.
        "ALTER TABLE ticks ADD COLUMN set_at REAL",
        # An apply may move instances (`migrate:`): a user's state is checked against the
        # instances table once per apply, not on every input.
        "ALTER TABLE user_state ADD COLUMN serial INTEGER NOT NULL DEFAULT 0",
    ]),
    (4, "the live report's counts", [
        # One row per hour, writer slot, journey version and recorder count (`sim.counts`):
        # a whole number in `count` (`amount` NULL), an amount (revenue, cost) in `amount`
        # (so it reads back as a float, 0.0 included). `slot`: the
        # first partition of the daemon that wrote it, so that daemons sharing a state never
        # wait on each other's rows (SQLite: 0).
        """CREATE TABLE report_counts (
            hour INTEGER NOT NULL, slot INTEGER NOT NULL, version INTEGER NOT NULL,
            path TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0,
            amount REAL, PRIMARY KEY (hour, slot, version, path))""",
    ]),
    (5, "identity merge: the users merged into another", [
        # An anonymous id (`user_id`) whose state went to the known user (`known_id`): its
        # later events are forwarded there (docs/daemon.md, identity merge).
        """CREATE TABLE aliases (
            user_id TEXT PRIMARY KEY, known_id TEXT NOT NULL, at REAL NOT NULL)""",
    ]),
    (6, "the global suppression list", [
        # users no promotional message may reach (docs/daemon.md, suppression list)
        """CREATE TABLE suppressions (
            user_id TEXT PRIMARY KEY, reason TEXT, at REAL NOT NULL)""",
    ]),
]
SCHEMA_VERSION = max(number for number, _, _ in MIGRATIONS)
