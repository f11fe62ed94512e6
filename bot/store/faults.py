"""Which store failures pass (retry the update later) and which are bugs.

A store that cannot be reached or is busy (Redis connection lost, SQLite locked by another
process, a compare-and-set lost twice in a row) fails an update without anything being
committed; delivering the update again later applies it. The Redis exceptions are looked up only
if the optional redis package is installed.
"""

from __future__ import annotations

import sqlite3

from bot.engine.errors import StoreError


def _redis_errors() -> tuple[type[BaseException], ...]:
    try:
        from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError
    except ModuleNotFoundError:  # the redis extra is not installed: no such errors can occur
        return ()
    return (ConnectionError, TimeoutError, BusyLoadingError)


TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (
    StoreError,  # ConflictError included: a reload sees the winner's write
    sqlite3.OperationalError,  # "database is locked" beyond the busy timeout
    OSError,
    *_redis_errors(),
)
