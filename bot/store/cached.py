"""`CachingStore`: any session store, remembering what one update read and wrote, and, in a
process that is the store's only writer, what the process itself wrote last.

Handling one button press reads the chat's conversation record three times: the update ledger
judges the update against it (bot/telegram/delivery/processing.py), the handler loads it, and the
processor checks afterwards whether the handler stamped the update. Each read is a round trip to
SQLite's worker thread or to Redis (the benchmark's profile, docs/performance.md).

Inside `update_scope()` (opened by the processor for each attempt at an update, under the chat's
lock) the store remembers every record it read or wrote, and answers a repeated `get` from
memory. Outside a scope it forwards every call. The memory is right for as long as the scope
lives because nothing else writes the chat's records meanwhile: the chat's lock keeps this
process's other tasks and, with Redis, the other workers out. Should something write anyway
(a check-in firing in another process), the next compare-and-set fails as it would have
without the cache; a failed or conflicting write forgets the key, so the reload that follows
reads the store again.

`remember_writes` (serving.py turns it on when this process handles every chat: polling, or a
webhook without Redis workers) adds a memory that outlives the scope: the last record this
process wrote under each key, for `for_seconds`. A press then reads its chat's record from
memory, as the show job after it does: the record the previous screen's job or the previous
commit wrote. Only a writer outside the process could make it stale (`crampcheck forget` from a
shell), and then only until the key's next write: every write is a compare-and-set against the
revision read, so a stale read costs a conflict and a reload from the store, never a lost or
resurrected record. `for_seconds` stays under the store's idle TTL, so a remembered record never
outlives the stored one. A delete forgets the key; a write that fails, conflicts or overlaps a
delete is not remembered.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextvars import ContextVar

from bot.store.base import Record, SessionKey, SessionStore

_Known = dict[SessionKey, Record | None]
_scope: ContextVar[_Known | None] = ContextVar("store_update_scope", default=None)
MAX_REMEMBERED = 10_000
"""Keys whose last write `remember_writes` keeps at most (the oldest written go first)."""


def update_scope() -> _UpdateScope:
    """Let every `CachingStore` remember reads and writes until the `with` block ends."""
    return _UpdateScope()


class _UpdateScope:
    """`update_scope`: one per attempt at an update (a plain context manager, no generator)."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _scope.set({})

    def __exit__(self, *exc_info: object) -> None:
        _scope.reset(self._token)


class CachingStore:
    """A `SessionStore` that answers repeated reads within `update_scope()` from memory, and
    reads of its own writes too once `remember_writes` is on."""

    def __init__(
        self, inner: SessionStore, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.inner = inner
        self._clock = clock
        self._written: dict[SessionKey, tuple[Record, float]] | None = None
        """Per key, the last record this process wrote and until when it may be read (None:
        off)."""
        self._for_seconds = 0.0
        self._deletes = 0
        """Deletes begun plus deletes ended so far: a write during which it moved overlapped a
        delete (begun before it and ended during it, or begun during it) and is not
        remembered."""

    def remember_writes(self, *, for_seconds: float) -> None:
        """Answer reads from this process's own writes for `for_seconds` after each: only for
        the store's one writer, and `for_seconds` under the store's TTL (module docstring)."""
        if not for_seconds > 0:
            raise ValueError(f"for_seconds must be positive, got {for_seconds!r}")
        self._for_seconds = for_seconds
        if self._written is None:
            self._written = {}

    @property
    def remembers_writes(self) -> bool:
        """Whether reads of this process's own writes come from memory (`remember_writes`)."""
        return self._written is not None

    def _remembered(self, key: SessionKey) -> Record | None:
        """Return this process's last write under `key` if still fresh, else None."""
        written = self._written
        if not written:
            return None
        entry = written.get(key)
        if entry is None:
            return None
        record, until = entry
        if self._clock() < until:
            return record
        del written[key]
        return None

    def _remember(self, key: SessionKey, record: Record) -> None:
        written = self._written
        if written is None:
            return
        old = written.pop(key, None)
        if old is not None and old[0].revision > record.revision:  # a later write came first
            written[key] = old
            return
        written[key] = (record, self._clock() + self._for_seconds)
        if len(written) > MAX_REMEMBERED:
            del written[next(iter(written))]

    def _forget(self, key: SessionKey) -> None:
        if self._written is not None:
            self._written.pop(key, None)

    async def get(self, key: SessionKey) -> Record | None:
        known = _scope.get()
        if known is not None and key in known:
            return known[key]
        record = self._remembered(key)
        if record is None:
            record = await self.inner.get(key)
        if known is not None:
            known[key] = record
        return record

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        known = _scope.get()
        if known is None:
            if not self._written:
                return await self.inner.get_many(keys)
            known = {}  # this call's own: what memory has, then the rest in one round trip
        missing = []
        for key in dict.fromkeys(keys):
            if key in known:
                continue
            record = self._remembered(key)
            if record is None:
                missing.append(key)
            else:
                known[key] = record
        if missing:
            known.update(zip(missing, await self.inner.get_many(missing), strict=True))
        return [known[key] for key in keys]

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        known = _scope.get()
        if known is not None:
            known.pop(key, None)  # a write that fails or conflicts leaves it unknown
        self._forget(key)
        deletes = self._deletes
        revision = await self.inner.put(key, data, expected_revision=expected_revision)
        record = Record(revision, data)
        if known is not None:
            known[key] = record
        if deletes == self._deletes:
            self._remember(key, record)
        return revision

    async def delete(self, key: SessionKey) -> bool:
        known = _scope.get()
        if known is not None:
            known.pop(key, None)
        self._deletes += 1  # counted as it begins and as it ends: see `_deletes`
        self._forget(key)
        try:
            is_deleted = await self.inner.delete(key)
        finally:
            self._deletes += 1
            self._forget(key)
        if known is not None:
            known[key] = None
        return is_deleted

    async def delete_user(self, user_id: int) -> int:
        known = _scope.get()
        if known is not None:
            known.clear()
        self._deletes += 1
        try:
            return await self.inner.delete_user(user_id)
        finally:
            self._deletes += 1
            if self._written is not None:
                for key in [key for key in self._written if key.user_id == user_id]:
                    del self._written[key]

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        await self.inner.schedule(key, due_at)

    async def unschedule(self, key: SessionKey) -> bool:
        return await self.inner.unschedule(key)

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        return await self.inner.due(now, limit)

    async def count(self) -> int:
        return await self.inner.count()

    async def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        async for keyed in self.inner.scan(scope):
            yield keyed

    async def close(self) -> None:
        await self.inner.close()
