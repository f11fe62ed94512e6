"""`SessionStore.scan(scope)`: every live record of one scope, on every backend.

Runs against memory, SQLite (a real file) and a real Redis through the `store` fixtures of
tests/store/conftest.py. The scan is read-only and yields each record with its key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.store.base import CHECKIN, PROFILE, SESSION, Record, SessionKey, SessionStore

OpenStore = Callable[..., Awaitable[SessionStore]]
LetTimePass = Callable[[float], Awaitable[None]]


async def scanned(store: SessionStore, scope: str = SESSION) -> list[Record]:
    return [record async for _, record in store.scan(scope)]


async def test_scan_of_an_empty_store_yields_nothing(store: SessionStore) -> None:
    assert await scanned(store) == []


async def test_scan_yields_each_live_record_of_its_scope_only(store: SessionStore) -> None:
    for user in (1, 2, 3):
        await store.put(SessionKey(-100, user), f'{{"session": {user}}}', expected_revision=0)
    await store.put(SessionKey(0, 1, PROFILE), '{"language": "nb"}', expected_revision=0)
    await store.put(SessionKey(-100, 1), '{"session": 1, "v": 2}', expected_revision=1)

    sessions = sorted(await scanned(store), key=lambda record: record.data)
    profiles = await scanned(store, PROFILE)

    assert sessions == [
        Record(2, '{"session": 1, "v": 2}'),
        Record(1, '{"session": 2}'),
        Record(1, '{"session": 3}'),
    ]
    assert profiles == [Record(1, '{"language": "nb"}')]
    assert await scanned(store, CHECKIN) == []


async def test_scan_yields_each_record_with_its_own_key(store: SessionStore) -> None:
    keys = [SessionKey(-100, 1), SessionKey(5, 2), SessionKey(0, 3, PROFILE)]
    for key in keys:
        await store.put(key, f'{{"chat": {key.chat_id}}}', expected_revision=0)

    keyed = [pair async for pair in store.scan(SESSION)]

    assert sorted(keyed, key=lambda pair: pair[0].chat_id) == [
        (SessionKey(-100, 1), Record(1, '{"chat": -100}')),
        (SessionKey(5, 2), Record(1, '{"chat": 5}')),
    ]


async def test_scan_leaves_out_deleted_and_erased_records(store: SessionStore) -> None:
    for user in (1, 2, 3):
        await store.put(SessionKey(7, user), f'{{"user": {user}}}', expected_revision=0)
    await store.delete(SessionKey(7, 1))
    await store.delete_user(2)

    assert await scanned(store) == [Record(1, '{"user": 3}')]


async def test_scan_leaves_out_records_idle_past_the_ttl(
    open_store: OpenStore, let_time_pass: LetTimePass
) -> None:
    store = await open_store(ttl_seconds=0.2)
    await store.put(SessionKey(1, 1), '{"old": true}', expected_revision=0)
    await let_time_pass(0.3)
    await store.put(SessionKey(1, 2), '{"new": true}', expected_revision=0)

    assert await scanned(store) == [Record(1, '{"new": true}')]


async def test_scan_walks_past_one_page_and_yields_every_record_once(
    store: SessionStore,
) -> None:
    """1,200 records: more than one SQLite page (500) and one Redis SCAN batch (500)."""
    for user in range(1200):
        await store.put(SessionKey(5, user), f'{{"n": {user}}}', expected_revision=0)

    records = await scanned(store)

    assert sorted(records, key=lambda record: record.data) == sorted(
        (Record(1, f'{{"n": {user}}}') for user in range(1200)), key=lambda record: record.data
    )


async def test_scan_of_scope_user_does_not_read_the_per_user_indexes(
    store: SessionStore,
) -> None:
    """Redis keeps per-user indexes under `<namespace>:user:<id>`; they are not records."""
    await store.put(SessionKey(3, 3), "{}", expected_revision=0)
    await store.schedule(SessionKey(3, 3, CHECKIN), 1.0)

    assert await scanned(store, "user") == []


async def test_scan_does_not_change_what_is_stored(store: SessionStore) -> None:
    key = SessionKey(9, 9)
    await store.put(key, '{"kept": true}', expected_revision=0)

    await scanned(store)

    assert await store.get(key) == Record(1, '{"kept": true}')
    assert await store.count() == 1


@pytest.mark.parametrize("scope", ["", "sess:*", "SESS", "se*", "sess:1"])
async def test_scan_refuses_a_scope_that_is_not_lowercase_letters(
    store: SessionStore, scope: str
) -> None:
    with pytest.raises(ValueError, match="scope"):
        await scanned(store, scope)
