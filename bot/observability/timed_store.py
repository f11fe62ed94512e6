"""`InstrumentedStore`: any session store, with every call timed into `Metrics`.

It forwards each `SessionStore` method unchanged and observes its latency per operation; a lost
compare-and-set race counts as a `conflict`, any other exception as an `error`. Keys and data
pass through untouched and are never looked at or recorded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import TypeVar

from bot.engine.errors import ConflictError
from bot.observability.metrics import Metrics
from bot.store.base import Record, SessionKey, SessionStore

T = TypeVar("T")


class InstrumentedStore:
    """A `SessionStore` that times every call of the store it wraps."""

    def __init__(self, inner: SessionStore, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    async def get(self, key: SessionKey) -> Record | None:
        return await self._timed("get", self.inner.get(key))

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        return await self._timed("get_many", self.inner.get_many(keys))

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        return await self._timed(
            "put", self.inner.put(key, data, expected_revision=expected_revision)
        )

    async def delete(self, key: SessionKey) -> bool:
        return await self._timed("delete", self.inner.delete(key))

    async def delete_user(self, user_id: int) -> int:
        return await self._timed("delete_user", self.inner.delete_user(user_id))

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        await self._timed("schedule", self.inner.schedule(key, due_at))

    async def unschedule(self, key: SessionKey) -> bool:
        return await self._timed("unschedule", self.inner.unschedule(key))

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        return await self._timed("due", self.inner.due(now, limit))

    async def count(self) -> int:
        return await self._timed("count", self.inner.count())

    async def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        """Forward the scan; its latency is the whole walk, the consumer's time included."""
        start, error = time.perf_counter(), "error"
        try:
            async for keyed in self.inner.scan(scope):
                yield keyed
            error = ""
        finally:
            self._metrics.record_store(
                "scan", seconds=time.perf_counter() - start, error=error or None
            )

    async def close(self) -> None:
        await self.inner.close()

    async def _timed(self, operation: str, call: Awaitable[T]) -> T:
        """Await `call` and observe its latency; classify a failure as conflict or error."""
        start, error = time.perf_counter(), "error"
        try:
            result = await call
            error = ""
        except ConflictError:
            error = "conflict"
            raise
        finally:
            self._metrics.record_store(
                operation, seconds=time.perf_counter() - start, error=error or None
            )
        return result
