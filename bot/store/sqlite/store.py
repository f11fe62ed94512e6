"""The default session store: one SQLite file through aiosqlite, shareable by several processes.

Every statement runs in autocommit mode, so each put is its own committed transaction, and each
compare-and-set is a single `INSERT ... ON CONFLICT` or `UPDATE ... WHERE revision = ?`, which
SQLite's write lock makes atomic across connections and processes.

`get` and `put`, which every update makes, first try a second connection on the event loop's own
thread: each is one point statement by primary key on a WAL file, 10-20 us of SQLite work, while
handing it to aiosqlite's worker thread and back costs about 50 us more per call
(`bench/store_calls.py`). That connection never waits for a lock (busy timeout 0): when another
process holds the write lock, the call goes to aiosqlite, which waits for it (5 s at most) off
the loop. That connection never checkpoints the WAL either (a checkpoint syncs the file): every
`CHECKPOINT_EVERY` of its puts, one passive checkpoint runs through aiosqlite, off the loop.
Every other call goes through aiosqlite. The SQL itself is in `statements.py`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

import aiosqlite

from bot.engine.errors import ConflictError, StoreError
from bot.store.base import (
    LIFETIMES,
    Record,
    SessionKey,
    check_due_at,
    check_expected_revision,
    check_limit,
    check_scope,
    check_ttl,
    lifetime,
)
from bot.store.sqlite import statements as sql

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY = 500
"""Puts on the loop's connection between two WAL checkpoints (about 500 pages of WAL)."""


class SqliteStore:
    """Keep sessions in one SQLite table; build it with `await SqliteStore.open(path)`."""

    def __init__(
        self,
        connection: aiosqlite.Connection,
        *,
        ttl_seconds: float | None,
        clock: Callable[[], float],
        direct: sqlite3.Connection | None = None,
        checkpoint_every: int = CHECKPOINT_EVERY,
        lifetimes: Mapping[str, float] = LIFETIMES,
    ) -> None:
        self._db = connection
        self._direct = direct
        self._checkpoint_every = checkpoint_every
        self._puts_since_checkpoint = 0
        """The loop thread's own connection to the same file, for `get` and `put` (see above)."""
        self._ttl = check_ttl(ttl_seconds)
        self._lifetimes = lifetimes
        self._clock = clock

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        ttl_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        create: bool = True,
        lifetimes: Mapping[str, float] = LIFETIMES,
    ) -> SqliteStore:
        """Open (or create, unless `create` is False) the database file, its directories and
        the table.

        The file holds answers, which are health data: it is made readable by its owner only
        (0600, whatever the umask; SQLite gives its -wal and -shm files the same mode), in a
        directory made 0700 when this creates it. With `create` False a missing file is a
        `StoreError` (read-only commands create nothing).
        """
        check_ttl(ttl_seconds)
        location = os.fspath(path)
        if location != ":memory:":
            _private_file(Path(location), create=create)
        # isolation_level=None: autocommit, so no transaction stays open between calls.
        connection = await aiosqlite.connect(location, isolation_level=None)
        try:
            for statement in (*sql.PRAGMAS, *sql.SCHEMA):
                await connection.execute_fetchall(statement)
        except BaseException:
            await connection.close()
            raise
        # ":memory:" is a database per connection: there the second one would see nothing.
        direct = None if location == ":memory:" else _connect_direct(location)
        logger.info("opened SQLite session store at %s (ttl %s s)", location, ttl_seconds)
        return cls(
            connection, ttl_seconds=ttl_seconds, clock=clock, direct=direct, lifetimes=lifetimes
        )

    async def get(self, key: SessionKey) -> Record | None:
        """Return the live record under `key`, or None."""
        rows = await self._point(sql.SELECT, self._params(key=key.render()))
        row = next(iter(rows), None)
        return None if row is None else Record(int(row[0]), str(row[1]))

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        """Return the live record under each of `keys` (None where there is none), in order:
        one statement for them all."""
        if not keys:
            return []
        names = [key.render() for key in keys]
        distinct = list(dict.fromkeys(names))
        params = self._params(**{f"key{index}": name for index, name in enumerate(distinct)})
        rows = await self._point(sql.select_many(len(distinct)), params)
        found = {str(row[0]): Record(int(row[1]), str(row[2])) for row in rows}
        return [found.get(name) for name in names]

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        """Store `data` if the live revision is `expected_revision`; return the new revision."""
        check_expected_revision(expected_revision)
        params = self._params(
            scope=key.scope,
            key=key.render(),
            user_id=key.user_id,
            data=data,
            expected=expected_revision,
        )
        statement = sql.INSERT if expected_revision == 0 else sql.UPDATE
        # One autocommitted statement, so one commit per put; it changes one row or none (a
        # lost race). Its row count says which; RETURNING would cost SQLite a temporary table
        # per statement (a fifth of an UPDATE's time, measured alone on this machine).
        changed = await self._write(statement, params)
        await self._checkpoint_now_and_then()
        if changed != 1:
            current = await self.get(key)
            actual = None if current is None else current.revision
            logger.debug(
                "conflict on %s: expected %d, found %s", key.render(), expected_revision, actual
            )
            raise ConflictError(key.render(), expected_revision, actual)
        return expected_revision + 1

    async def delete(self, key: SessionKey) -> bool:
        """Remove the record under `key`, expired or not; return whether a live one was there."""
        rows = await self._db.execute_fetchall(sql.DELETE, self._params(key=key.render()))
        return any(row[0] for row in rows)

    async def delete_user(self, user_id: int) -> int:
        """Erase every record and schedule of `user_id`; return how many records were live."""
        # Schedules first: should the second statement fail, no check-in outlives its erasure.
        await self._db.execute_fetchall(sql.UNSCHEDULE_USER, {"user_id": user_id})
        rows = await self._db.execute_fetchall(sql.DELETE_USER, self._params(user_id=user_id))
        return sum(1 for row in rows if row[0])

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        """Make `key` due at `due_at`, replacing an earlier due time."""
        params = {"key": key.render(), "chat_id": key.chat_id, "user_id": key.user_id}
        await self._db.execute_fetchall(
            sql.SCHEDULE, {**params, "scope": key.scope, "due_at": check_due_at(due_at)}
        )

    async def unschedule(self, key: SessionKey) -> bool:
        """Remove the schedule of `key`; return whether there was one."""
        async with self._db.execute(sql.UNSCHEDULE, {"key": key.render()}) as cursor:
            return cursor.rowcount == 1

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        """Return up to `limit` schedules due at or before `now`, oldest first."""
        rows = await self._db.execute_fetchall(sql.DUE, {"now": now, "limit": check_limit(limit)})
        return [(SessionKey(int(row[0]), int(row[1]), str(row[2])), float(row[3])) for row in rows]

    async def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        """Yield every live record of `scope` with its key, a page at a time: no cursor stays
        open."""
        after, end = f"{check_scope(scope)}:", f"{scope};"
        while True:
            params = self._params(after=after, end=end, limit=sql.SCAN_PAGE)
            rows = list(await self._db.execute_fetchall(sql.SCAN, params))
            for row in rows:
                yield SessionKey.parse(str(row[0])), Record(int(row[1]), str(row[2]))
            if len(rows) < sql.SCAN_PAGE:
                return
            after = str(rows[-1][0])

    async def count(self) -> int:
        """Return the number of live records."""
        async with self._db.execute(sql.COUNT, self._params()) as cursor:
            row = await cursor.fetchone()
        return 0 if row is None else int(row[0])

    async def purge_expired(self) -> int:
        """Delete every expired row; return how many went."""
        if self._ttl is None:
            return 0
        async with self._db.execute(sql.PURGE, self._params()) as cursor:
            purged = cursor.rowcount
        logger.info("purged %d expired sessions", purged)
        return purged

    async def close(self) -> None:
        """Close both connections."""
        if self._direct is not None:
            self._direct.close()
        await self._db.close()

    async def _checkpoint_now_and_then(self) -> None:
        """Fold the WAL into the file every `checkpoint_every` puts, in aiosqlite's thread.

        PASSIVE never waits for readers or writers; what it cannot fold now, a later one does.
        """
        if self._direct is None:
            return  # aiosqlite's connection checkpoints by itself
        self._puts_since_checkpoint += 1
        if self._puts_since_checkpoint >= self._checkpoint_every:
            self._puts_since_checkpoint = 0
            await self._db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")

    async def _point(self, statement: str, params: dict[str, object]) -> list[sqlite3.Row]:
        """Run a point read on the loop's connection, or through aiosqlite if it is locked."""
        if self._direct is not None:
            try:
                return self._direct.execute(statement, params).fetchall()
            except sqlite3.OperationalError as error:
                _raise_unless_locked(error)
        # One round trip to aiosqlite's thread (execute + fetch + close would be three).
        return list(await self._db.execute_fetchall(statement, params))

    async def _write(self, statement: str, params: dict[str, object]) -> int:
        """Run a point write on the loop's connection, or through aiosqlite if it is locked;
        return how many rows it changed.

        A statement refused for a lock did nothing (autocommit rolls it back), so running it
        again through aiosqlite, which waits for the lock, applies it once.
        """
        if self._direct is not None:
            try:
                return self._direct.execute(statement, params).rowcount
            except sqlite3.OperationalError as error:
                _raise_unless_locked(error)
        async with self._db.execute(statement, params) as cursor:
            return cursor.rowcount

    def _params(self, *, scope: str | None = None, **values: object) -> dict[str, object]:
        """Return `values` plus `now` and `cutoff`, the oldest live updated_at (None: no TTL).

        With `scope` (a put), `now` is the record's `updated_at`: when its idle TTL starts
        counting. That is the clock for most scopes, and later for a scope that lives longer
        (`base.LIFETIMES`), by as much as its lifetime exceeds the TTL, so that every statement's
        one `:cutoff` treats the record right. sqlite3 ignores names a statement does not use,
        so every statement can take all of them.
        """
        now = self._clock()
        cutoff = None if self._ttl is None else now - self._ttl
        life = None if scope is None else lifetime(scope, self._ttl, self._lifetimes)
        if life is not None and self._ttl is not None:
            now += life - self._ttl
        return {"now": now, "cutoff": cutoff, **values}


_LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
"""What the loop's connection answers instead of waiting for another connection's lock."""


def _raise_unless_locked(error: sqlite3.OperationalError) -> None:
    """Re-raise `error` unless the loop's connection met another connection's lock."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _LOCKED:  # extended codes: busy too
        raise error


def _private_file(path: Path, *, create: bool) -> None:
    """Make sure `path` exists (unless not `create`) and only its owner can read it."""
    if not path.exists():
        if not create:
            raise StoreError(f"no session store at {path}: nothing has been stored yet")
        missing = [parent for parent in (path.parent, *path.parent.parents) if not parent.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        for directory in missing:  # only what this made: never a shared directory
            directory.chmod(0o700)
        path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # the umask may have widened a new file; an old file may be wider


def _connect_direct(location: str) -> sqlite3.Connection:
    """Open the loop thread's connection: autocommit, never waiting for a lock, never syncing.

    The file is in WAL mode already (set through aiosqlite); synchronous is per connection.
    """
    direct = sqlite3.connect(location, isolation_level=None)
    try:
        direct.execute("PRAGMA busy_timeout = 0")
        direct.execute("PRAGMA synchronous = NORMAL")
        direct.execute("PRAGMA wal_autocheckpoint = 0")  # see `_checkpoint_now_and_then`
    except BaseException:
        direct.close()
        raise
    return direct
