"""`CachingStore`: any session store, remembering what one update read and wrote.

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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar

from bot.store.base import Record, SessionKey, SessionStore

_Known = dict[SessionKey, Record | None]
_scope: ContextVar[_Known | None] = ContextVar("store_update_scope", default=None)


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
    """A `SessionStore` that answers repeated reads within `update_scope()` from memory."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner

    async def get(self, key: SessionKey) -> Record | None:
        known = _scope.get()
        if known is None:
            return await self.inner.get(key)
        if key in known:
            return known[key]
        record = known[key] = await self.inner.get(key)
        return record

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        known = _scope.get()
        if known is None:
            return await self.inner.get_many(keys)
        missing = [key for key in dict.fromkeys(keys) if key not in known]
        if missing:
            known.update(zip(missing, await self.inner.get_many(missing), strict=True))
        return [known[key] for key in keys]

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        known = _scope.get()
        if known is None:
            return await self.inner.put(key, data, expected_revision=expected_revision)
        known.pop(key, None)  # a write that fails or conflicts leaves it unknown
        revision = await self.inner.put(key, data, expected_revision=expected_revision)
        known[key] = Record(revision, data)
        return revision

    async def delete(self, key: SessionKey) -> bool:
        known = _scope.get()
        if known is not None:
            known.pop(key, None)
        is_deleted = await self.inner.delete(key)
        if known is not None:
            known[key] = None
        return is_deleted

    async def delete_user(self, user_id: int) -> int:
        known = _scope.get()
        if known is not None:
            known.clear()
        return await self.inner.delete_user(user_id)

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
