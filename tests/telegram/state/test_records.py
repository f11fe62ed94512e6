"""Typed records: load and validate, compare-and-set with the ledger stamped, reload on a race."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict

from bot.engine.errors import ConflictError
from bot.store.base import SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.state import ledger
from bot.telegram.state.records import Records, Stored

KEY = SessionKey(chat_id=7, user_id=7, scope="note")


class Note(BaseModel):
    """A record as the features keep them: some state and the ledger of applied updates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = ""
    updates: tuple[int, ...] = ()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def notes(store: MemoryStore) -> Records[Note]:
    return Records(store, Note, "note")


@pytest.fixture
def update_41() -> Iterator[None]:
    """Process update 41, as `UpdateProcessor` does."""
    token = ledger.current_update.set(41)
    yield
    ledger.current_update.reset(token)


async def test_an_absent_record_reads_as_none_at_revision_0(notes: Records[Note]) -> None:
    assert await notes.load(KEY) == Stored(None, 0)


async def test_an_unreadable_record_reads_as_none_at_its_revision_and_logs_codes_only(
    store: MemoryStore, notes: Records[Note], caplog: pytest.LogCaptureFixture
) -> None:
    await store.put(KEY, '{"text": "my calf hurts", "mood": 3}', expected_revision=0)

    stored = await notes.load(KEY)

    assert stored == Stored(None, 1)
    assert "extra_forbidden" in caplog.text
    assert "calf" not in caplog.text


@pytest.mark.usefixtures("update_41")
async def test_save_stamps_the_update_and_writes_over_the_revision_read(
    notes: Records[Note],
) -> None:
    first = await notes.load(KEY)
    revision = await notes.save(KEY, Note(text="a"), over=first)

    stored = await notes.load(KEY)
    assert revision == stored.revision == 1
    assert stored.record == Note(text="a", updates=(41,))
    assert stored.applied == (41,)


async def test_save_returns_none_when_another_write_won(
    store: MemoryStore, notes: Records[Note]
) -> None:
    first = await notes.load(KEY)
    await store.put(KEY, Note(text="other").model_dump_json(), expected_revision=0)

    assert await notes.save(KEY, Note(text="mine"), over=first) is None
    assert (await notes.load(KEY)).record == Note(text="other")


@pytest.mark.usefixtures("update_41")
async def test_change_reloads_once_after_a_lost_race(
    store: MemoryStore, notes: Records[Note]
) -> None:
    seen: list[Note | None] = []

    race = Note(text="x", updates=(40,))

    def append(current: Note | None) -> Note:
        seen.append(current)
        return Note(text=(current.text if current else "") + "y")

    async def racing_load(key: SessionKey) -> Stored[Note]:
        """Read, then let another process write before we do (the first time only)."""
        stored = await Records.load(notes, key)
        if not seen:
            await store.put(key, race.model_dump_json(), expected_revision=stored.revision)
        return stored

    notes.load = racing_load  # type: ignore[method-assign]
    changed = await notes.change(KEY, append)

    assert seen == [None, race]
    assert changed == Note(text="xy", updates=(40, 41))
    assert (await Records.load(notes, KEY)).record == changed


async def test_change_gives_up_after_its_tries(store: MemoryStore, notes: Records[Note]) -> None:
    async def always_raced(key: SessionKey) -> Stored[Note]:
        stored = await Records.load(notes, key)
        await store.put(
            key, Note(text="other").model_dump_json(), expected_revision=stored.revision
        )
        return stored

    notes.load = always_raced  # type: ignore[method-assign]

    with pytest.raises(ConflictError):
        await notes.change(KEY, lambda current: Note(text="mine"), tries=2)


@pytest.mark.usefixtures("update_41")
async def test_close_keeps_only_the_ledger(notes: Records[Note]) -> None:
    await notes.save(KEY, Note(text="open"), over=await notes.load(KEY))

    await notes.close(KEY, Note(), over=await notes.load(KEY))

    assert (await notes.load(KEY)).record == Note(updates=(41,))


async def test_close_deletes_without_an_update_to_remember(
    store: MemoryStore, notes: Records[Note]
) -> None:
    await store.put(KEY, Note(text="open").model_dump_json(), expected_revision=0)

    await notes.close(KEY, Note(), over=await notes.load(KEY))

    assert await store.get(KEY) is None


@pytest.mark.usefixtures("update_41")
async def test_close_deletes_when_another_write_won(
    store: MemoryStore, notes: Records[Note]
) -> None:
    over = await notes.load(KEY)
    await store.put(KEY, Note(text="other").model_dump_json(), expected_revision=0)

    await notes.close(KEY, Note(), over=over)

    assert await store.get(KEY) is None
