"""The in-process session store: a dict, for tests and development.

Nothing survives a restart and nothing is shared between processes. Every method runs without
an `await` in between its read and its write, so compare-and-set is atomic on one event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.engine.errors import ConflictError
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

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    record: Record
    updated_at: float  # clock reading at the last put
    lifetime: float | None  # seconds it lives after that put (`base.lifetime`); None: for ever


class MemoryStore:
    """Keep sessions in a dict; expiry is checked lazily against the injected clock."""

    def __init__(
        self,
        *,
        ttl_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        lifetimes: Mapping[str, float] = LIFETIMES,
    ) -> None:
        self._ttl = check_ttl(ttl_seconds)
        self._lifetimes = lifetimes
        self._clock = clock
        self._entries: dict[SessionKey, _Entry] = {}
        self._schedule: dict[SessionKey, float] = {}  # key -> due_at; never expires

    async def get(self, key: SessionKey) -> Record | None:
        """Return the live record under `key`, or None."""
        entry = self._live_entry(key)
        return None if entry is None else entry.record

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        """Return the live record under each of `keys` (None where there is none), in order."""
        return [await self.get(key) for key in keys]

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        """Store `data` if the live revision is `expected_revision`; return the new revision."""
        check_expected_revision(expected_revision)
        entry = self._live_entry(key)
        actual = None if entry is None else entry.record.revision
        # Revision 0 stands for "no record", which the store sees as None.
        if actual != (expected_revision if expected_revision > 0 else None):
            logger.debug(
                "conflict on %s: expected %d, found %s", key.render(), expected_revision, actual
            )
            raise ConflictError(key.render(), expected_revision, actual)
        revision = expected_revision + 1
        life = lifetime(key.scope, self._ttl, self._lifetimes)
        self._entries[key] = _Entry(Record(revision, data), self._clock(), life)
        return revision

    async def delete(self, key: SessionKey) -> bool:
        """Remove the record under `key`; return whether a live one was there."""
        is_live = self._live_entry(key) is not None
        self._entries.pop(key, None)
        return is_live

    async def delete_user(self, user_id: int) -> int:
        """Erase every record of `user_id` in every chat; return how many were live."""
        keys = [key for key in self._entries if key.user_id == user_id]
        live = sum(1 for key in keys if self._live_entry(key) is not None)
        for key in keys:
            self._entries.pop(key, None)
        for key in [key for key in self._schedule if key.user_id == user_id]:
            del self._schedule[key]
        return live

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        """Make `key` due at `due_at`, replacing an earlier due time."""
        self._schedule[key] = check_due_at(due_at)

    async def unschedule(self, key: SessionKey) -> bool:
        """Remove the schedule of `key`; return whether there was one."""
        return self._schedule.pop(key, None) is not None

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        """Return up to `limit` schedules due at or before `now`, oldest first."""
        check_limit(limit)
        ready = [(key, due_at) for key, due_at in self._schedule.items() if due_at <= now]
        return sorted(ready, key=lambda item: (item[1], item[0].render()))[:limit]

    async def count(self) -> int:
        """Return the number of live records, dropping expired ones on the way."""
        for key in list(self._entries):
            self._live_entry(key)
        return len(self._entries)

    async def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        """Yield every live record of `scope` with its key."""
        check_scope(scope)
        for key in [key for key in self._entries if key.scope == scope]:
            entry = self._live_entry(key)
            if entry is not None:
                yield key, entry.record

    async def close(self) -> None:
        """Forget every record and schedule."""
        self._entries.clear()
        self._schedule.clear()

    def _live_entry(self, key: SessionKey) -> _Entry | None:
        """Return the entry under `key` unless it expired; an expired one is dropped."""
        entry = self._entries.get(key)
        if entry is None or entry.lifetime is None:
            return entry
        if entry.updated_at + entry.lifetime < self._clock():
            del self._entries[key]
            return None
        return entry
