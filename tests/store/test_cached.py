"""`CachingStore` (bot/store/cached.py): inside an update's scope, what was read once is not
read again, `get_many` included; outside a scope every call reaches the store, unless the store
remembers its own writes (`remember_writes`), as in a process that handles every chat."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.engine.errors import ConflictError
from bot.store import Record, SessionKey, SessionStore, cached
from bot.store.cached import CachingStore, update_scope
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore

CHAT = SessionKey(5, 6)
PREFS = SessionKey(0, 6, scope="pref")


class CountingStore(MemoryStore):
    """A memory store that counts the reads that reach it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[SessionKey]] = []
        self.fail_next_put = False

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        if self.fail_next_put:  # a lost connection: whether it was written is unknown
            self.fail_next_put = False
            raise OSError("connection lost")
        return await super().put(key, data, expected_revision=expected_revision)

    async def get(self, key: SessionKey) -> Record | None:
        self.reads.append([key])
        return await super().get(key)

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        self.reads.append(list(keys))
        return [await super(CountingStore, self).get(key) for key in keys]


class GatedStore(CountingStore):
    """A counting store whose puts wait for `gate` before they write."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        await self.gate.wait()
        return await super().put(key, data, expected_revision=expected_revision)


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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def remembering(inner: SessionStore, clock: Clock | None = None) -> CachingStore:
    store = CachingStore(inner, clock=clock or Clock())
    store.remember_writes(for_seconds=60.0)
    return store


async def test_own_writes_are_read_from_memory_outside_a_scope_once_remembering() -> None:
    inner = CountingStore()
    store = remembering(inner)

    revision = await store.put(CHAT, "a", expected_revision=0)
    assert await store.get(CHAT) == Record(revision, "a")
    assert await store.get_many([PREFS, CHAT]) == [None, Record(revision, "a")]
    with update_scope():
        assert await store.get(CHAT) == Record(revision, "a")

    assert inner.reads == [[PREFS]]  # only the key never written here reached the store


async def test_a_remembered_write_is_read_from_the_store_again_after_for_seconds() -> None:
    inner, clock = CountingStore(), Clock()
    store = remembering(inner, clock)
    await store.put(CHAT, "a", expected_revision=0)

    clock.now += 59.9
    await store.get(CHAT)
    assert inner.reads == []
    clock.now += 0.2
    assert await store.get(CHAT) == Record(1, "a")
    assert inner.reads == [[CHAT]]


async def test_a_conflicting_or_failing_write_forgets_the_key() -> None:
    inner = CountingStore()
    store = remembering(inner)
    await store.put(CHAT, "a", expected_revision=0)

    with pytest.raises(ConflictError):
        await store.put(CHAT, "b", expected_revision=5)
    assert await store.get(CHAT) == Record(1, "a")
    assert inner.reads == [[CHAT]]

    await store.put(CHAT, "c", expected_revision=1)
    inner.fail_next_put = True
    with pytest.raises(OSError, match="connection lost"):
        await store.put(CHAT, "d", expected_revision=2)
    assert await store.get(CHAT) == Record(2, "c")
    assert inner.reads == [[CHAT], [CHAT]]


async def test_deletes_forget_what_they_delete_and_nothing_else() -> None:
    inner = CountingStore()
    store = remembering(inner)
    other_user = SessionKey(5, 7)
    for key in (CHAT, PREFS, other_user):
        await store.put(key, "x", expected_revision=0)

    assert await store.delete(CHAT)
    assert await store.get(CHAT) is None
    assert await store.delete_user(6) == 1  # PREFS
    assert await store.get(PREFS) is None
    assert await store.get(other_user) == Record(1, "x")

    assert inner.reads == [[CHAT], [PREFS]]


async def test_a_write_that_overlaps_a_delete_is_not_remembered() -> None:
    inner = GatedStore()
    store = remembering(inner)
    await store.put(CHAT, "a", expected_revision=0)

    inner.gate.clear()  # the next put waits in the store until the delete has run
    writing = asyncio.create_task(store.put(PREFS, "p", expected_revision=0))
    await asyncio.sleep(0)
    await store.delete_user(6)  # deletes CHAT; PREFS, written meanwhile, may or may not be gone
    inner.gate.set()
    await writing

    inner.reads.clear()
    assert await store.get(PREFS) == await inner.get(PREFS)
    assert inner.reads[0] == [PREFS]  # read from the store, not from memory


async def test_a_writer_elsewhere_costs_a_conflict_never_a_resurrected_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sessions.db"
    bot_store = remembering(await SqliteStore.open(path))
    shell = await SqliteStore.open(path)  # `crampcheck forget` from a shell, meanwhile
    try:
        await bot_store.put(CHAT, "health data", expected_revision=0)
        assert await shell.delete_user(CHAT.user_id) == 1

        stale = await bot_store.get(CHAT)  # memory does not know of the shell's delete
        assert stale == Record(1, "health data")
        with pytest.raises(ConflictError):
            await bot_store.put(CHAT, "more health data", expected_revision=stale.revision)
        assert await bot_store.get(CHAT) is None  # read from the store after the conflict
        assert await shell.get(CHAT) is None
    finally:
        await bot_store.close()
        await shell.close()


async def test_memory_keeps_the_last_written_keys_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cached, "MAX_REMEMBERED", 3)
    inner = CountingStore()
    store = remembering(inner)
    keys = [SessionKey(chat, chat) for chat in range(1, 5)]
    for key in keys:
        await store.put(key, "x", expected_revision=0)

    for key in keys:
        await store.get(key)
    assert inner.reads == [[keys[0]]]  # the oldest write went first


async def test_remembering_needs_a_positive_time() -> None:
    with pytest.raises(ValueError, match="for_seconds"):
        CachingStore(MemoryStore()).remember_writes(for_seconds=0)
