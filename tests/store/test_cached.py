"""`CachingStore` (bot/store/cached.py): inside an update's scope, what was read once is not
read again, `get_many` included; outside a scope every call reaches the store."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store import Record, SessionKey
from bot.store.cached import CachingStore, update_scope
from bot.store.memory import MemoryStore

CHAT = SessionKey(5, 6)
PREFS = SessionKey(0, 6, scope="pref")


class CountingStore(MemoryStore):
    """A memory store that counts the reads that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[SessionKey]] = []

    async def get(self, key: SessionKey) -> Record | None:
        self.reads.append([key])
        return await super().get(key)

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        self.reads.append(list(keys))
        return [await super(CountingStore, self).get(key) for key in keys]


async def test_keys_read_ahead_are_then_read_from_memory_within_the_scope() -> None:
    inner = CountingStore()
    await inner.put(PREFS, '{"language": "nb"}', expected_revision=0)
    store = CachingStore(inner)

    with update_scope():
        assert await store.get(CHAT) is None
        ahead = await store.get_many([CHAT, PREFS, PREFS])
        assert ahead == [None, Record(1, '{"language": "nb"}'), ahead[1]]
        assert await store.get(PREFS) == Record(1, '{"language": "nb"}')
        assert await store.get_many([PREFS, CHAT]) == [ahead[1], None]

    assert inner.reads == [[CHAT], [PREFS]]  # the known key is not asked for again, nor twice


async def test_outside_a_scope_every_read_reaches_the_store() -> None:
    inner = CountingStore()
    store = CachingStore(inner)

    await store.get_many([CHAT, PREFS])
    await store.get_many([CHAT, PREFS])

    assert inner.reads == [[CHAT, PREFS], [CHAT, PREFS]]
