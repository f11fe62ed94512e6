"""The SQL the SQLite session store runs: connection settings, schema and statements."""

from __future__ import annotations

import functools

BUSY_TIMEOUT_MS = 5000
"""How long a connection waits for another process's write lock before failing."""

# WAL lets readers run beside the single writer. synchronous=NORMAL skips the fsync per commit:
# a committed put survives a crash of the bot process (the failure we design for) and only the
# last commits can be lost if the whole machine loses power, which a triage session tolerates.
PRAGMAS = (
    f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
)
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        key TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL
    )""",
    # updated_at: when the idle TTL starts counting: the last put's time, or later for a scope
    # that lives longer than the TTL (bot/store/base.py LIFETIMES; SqliteStore._params).
    "CREATE INDEX IF NOT EXISTS sessions_user_id ON sessions (user_id)",
    # Durable schedules (follow-up check-ins): no TTL, removed by unschedule or delete_user.
    """CREATE TABLE IF NOT EXISTS schedule (
        key TEXT PRIMARY KEY,
        chat_id INTEGER NOT NULL,
        user_id INTEGER NOT NULL,
        scope TEXT NOT NULL,
        due_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS schedule_due_at ON schedule (due_at)",
    "CREATE INDEX IF NOT EXISTS schedule_user_id ON schedule (user_id)",
)

# A row is live unless updated_at + ttl < now, i.e. unless updated_at < :cutoff. Without a TTL
# :cutoff is NULL, so `(:cutoff IS NULL OR updated_at >= :cutoff)` holds for every row.
SELECT = """
    SELECT revision, data FROM sessions
    WHERE key = :key AND (:cutoff IS NULL OR updated_at >= :cutoff)
"""


@functools.lru_cache(maxsize=16)  # a handful of key counts recur
def select_many(count: int) -> str:
    """Return the SELECT of `count` keys at once (`:key0` to `:key<count-1>`), like `SELECT`."""
    names = ", ".join(f":key{index}" for index in range(count))
    where = f"key IN ({names}) AND (:cutoff IS NULL OR updated_at >= :cutoff)"
    return f"SELECT key, revision, data FROM sessions WHERE {where}"  # noqa: S608 - placeholders only


# Insert, or take over the key only when the row there has expired.
INSERT = """
    INSERT INTO sessions (key, user_id, revision, data, updated_at)
    VALUES (:key, :user_id, 1, :data, :now)
    ON CONFLICT (key) DO UPDATE SET
        user_id = excluded.user_id,
        revision = 1,
        data = excluded.data,
        updated_at = excluded.updated_at
    WHERE sessions.updated_at < :cutoff
"""
UPDATE = """
    UPDATE sessions SET revision = revision + 1, data = :data, updated_at = :now
    WHERE key = :key AND revision = :expected AND (:cutoff IS NULL OR updated_at >= :cutoff)
"""
# Deletes take expired rows too (erasure means erasure) but report only the live ones.
DELETE = """
    DELETE FROM sessions WHERE key = :key
    RETURNING (:cutoff IS NULL OR updated_at >= :cutoff)
"""
DELETE_USER = """
    DELETE FROM sessions WHERE user_id = :user_id
    RETURNING (:cutoff IS NULL OR updated_at >= :cutoff)
"""
SCHEDULE = """
    INSERT INTO schedule (key, chat_id, user_id, scope, due_at)
    VALUES (:key, :chat_id, :user_id, :scope, :due_at)
    ON CONFLICT (key) DO UPDATE SET due_at = excluded.due_at
"""
UNSCHEDULE = "DELETE FROM schedule WHERE key = :key"
UNSCHEDULE_USER = "DELETE FROM schedule WHERE user_id = :user_id"
DUE = """
    SELECT chat_id, user_id, scope, due_at FROM schedule WHERE due_at <= :now
    ORDER BY due_at, key LIMIT :limit
"""
COUNT = "SELECT count(*) FROM sessions WHERE (:cutoff IS NULL OR updated_at >= :cutoff)"
PURGE = "DELETE FROM sessions WHERE updated_at < :cutoff"
# One page of a scope's live rows, by key: `:after` is the last key seen, `:end` the scope's
# upper bound (";" follows ":" in ASCII), so the primary key index serves it.
SCAN = """
    SELECT key, revision, data FROM sessions
    WHERE key > :after AND key < :end AND (:cutoff IS NULL OR updated_at >= :cutoff)
    ORDER BY key LIMIT :limit
"""
SCAN_PAGE = 500
