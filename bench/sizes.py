"""What a stored session costs: bytes on disk in SQLite, bytes of memory in Redis.

SQLite: the pages of the sessions table and its indexes (the dbstat virtual table) divided by the
rows, after a checkpoint folds the WAL in; the JSON text alone is reported beside it. Redis: the
server's own MEMORY USAGE of every session record plus the per-user indexes (and schedule sets)
under `<namespace>:user:`, divided by the sessions.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

REDIS_URL = "redis://127.0.0.1:6379/15"


def sqlite_bytes(path: Path) -> dict[str, float]:
    """Return bytes per session on disk (table + indexes) and of JSON text, and the row count."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows, text = db.execute(
            "SELECT count(*), coalesce(sum(length(data) + length(key)), 0) FROM sessions"
        ).fetchone()
        (pages,) = db.execute(
            "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN "
            "(SELECT name FROM sqlite_master WHERE tbl_name = 'sessions')"
        ).fetchone()
    rows = max(rows, 1)
    return {"sessions": rows, "disk_bytes": pages / rows, "json_bytes": text / rows}


def redis_available() -> str | None:
    """Return None if the benchmark's Redis answers, else why not."""
    try:
        from redis import Redis
        from redis.exceptions import RedisError
    except ModuleNotFoundError:
        return "the redis package is not installed"
    try:
        Redis.from_url(REDIS_URL, socket_timeout=1).ping()
    except RedisError as error:
        return f"no Redis at 127.0.0.1:6379 ({type(error).__name__})"
    return None


def redis_bytes(namespace: str) -> dict[str, float]:
    """Return MEMORY USAGE per session (record + its share of the user indexes) in `namespace`."""
    from redis import Redis

    client: Any = Redis.from_url(REDIS_URL)
    sessions = list(client.scan_iter(match=f"{namespace}:sess:*", count=1000))
    users = list(client.scan_iter(match=f"{namespace}:user:*", count=1000))
    total = sum(client.memory_usage(key, samples=0) or 0 for key in [*sessions, *users])
    count = max(len(sessions), 1)
    return {"sessions": len(sessions), "memory_bytes": total / count}


def redis_cleanup(namespace: str) -> int:
    """Delete every key of `namespace`; return how many went."""
    from redis import Redis

    client: Any = Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    return len(keys)
