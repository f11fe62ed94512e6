"""SQLite-only behaviour: one file shared by several stores (processes), durability, WAL, purge."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosqlite
import pytest

from bot.engine.errors import ConflictError, StoreError
from bot.store import Record, SessionKey
from bot.store.sqlite import SqliteStore

KEY = SessionKey(chat_id=5, user_id=6)
DATA = '{"node_id": "start"}'
REPO_ROOT = Path(__file__).resolve().parents[2]

OpenSqlite = Callable[..., Awaitable[SqliteStore]]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "sessions.db"


@pytest.fixture
async def open_sqlite(db_path: Path) -> AsyncIterator[OpenSqlite]:
    """Return `await open_sqlite(ttl_seconds=..., clock=...)` on `db_path`; closes them all."""
    stores: list[SqliteStore] = []

    async def open_one(
        *, ttl_seconds: float | None = None, clock: Callable[[], float] = time.time
    ) -> SqliteStore:
        store = await SqliteStore.open(db_path, ttl_seconds=ttl_seconds, clock=clock)
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.close()


async def count_rows(path: Path) -> int:
    """Count rows in the table directly, expired ones included."""
    async with aiosqlite.connect(path) as db, db.execute("SELECT count(*) FROM sessions") as cur:
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_open_creates_missing_parent_directories(
    open_sqlite: OpenSqlite, db_path: Path
) -> None:
    await open_sqlite()

    assert await asyncio.to_thread(db_path.is_file)


async def test_database_uses_wal_journal(open_sqlite: OpenSqlite, db_path: Path) -> None:
    await open_sqlite()

    async with aiosqlite.connect(db_path) as db, db.execute("PRAGMA journal_mode") as cursor:
        assert await cursor.fetchone() == ("wal",)


async def test_two_stores_on_one_file_see_each_others_writes(open_sqlite: OpenSqlite) -> None:
    first, second = await open_sqlite(), await open_sqlite()

    await first.put(KEY, DATA, expected_revision=0)
    assert await second.get(KEY) == Record(1, DATA)

    await second.put(KEY, '{"v": 2}', expected_revision=1)
    assert await first.get(KEY) == Record(2, '{"v": 2}')

    assert await first.delete_user(KEY.user_id) == 1
    assert await second.get(KEY) is None


async def test_compare_and_set_holds_across_two_stores_on_one_file(
    open_sqlite: OpenSqlite,
) -> None:
    first, second = await open_sqlite(), await open_sqlite()
    await first.put(KEY, DATA, expected_revision=0)
    await second.put(KEY, '{"second": true}', expected_revision=1)

    with pytest.raises(ConflictError) as caught:
        await first.put(KEY, '{"first": true}', expected_revision=1)

    assert caught.value.actual == 2
    with pytest.raises(ConflictError):
        await second.put(KEY, DATA, expected_revision=0)


async def test_concurrent_puts_from_two_stores_have_exactly_one_winner(
    open_sqlite: OpenSqlite,
) -> None:
    stores = [await open_sqlite(), await open_sqlite()]
    await stores[0].put(KEY, DATA, expected_revision=0)

    results = await asyncio.gather(
        *(stores[n % 2].put(KEY, f'{{"w": {n}}}', expected_revision=1) for n in range(20)),
        return_exceptions=True,
    )

    assert results.count(2) == 1
    assert sum(isinstance(result, ConflictError) for result in results) == 19


async def test_write_from_another_process_is_seen_and_guarded(
    open_sqlite: OpenSqlite, db_path: Path
) -> None:
    """A second OS process on the same file: its put lands, and our stale put then conflicts."""
    store = await open_sqlite()
    await store.put(KEY, DATA, expected_revision=0)
    script = textwrap.dedent(f"""
        import asyncio
        from bot.store import SessionKey
        from bot.store.sqlite import SqliteStore

        async def main():
            store = await SqliteStore.open({str(db_path)!r})
            try:
                await store.put(SessionKey(5, 6), '{{"other": 1}}', expected_revision=1)
            finally:
                await store.close()

        asyncio.run(main())
    """)
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=REPO_ROOT)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0

    assert await store.get(KEY) == Record(2, '{"other": 1}')
    with pytest.raises(ConflictError):
        await store.put(KEY, '{"stale": 1}', expected_revision=1)


async def test_records_survive_closing_and_reopening_the_file(db_path: Path) -> None:
    store = await SqliteStore.open(db_path)
    try:
        await store.put(KEY, DATA, expected_revision=0)
        await store.put(KEY, '{"v": 2}', expected_revision=1)
    finally:
        await store.close()

    reopened = await SqliteStore.open(db_path)
    try:
        assert await reopened.get(KEY) == Record(2, '{"v": 2}')
        assert await reopened.put(KEY, '{"v": 3}', expected_revision=2) == 3
    finally:
        await reopened.close()


async def test_purge_expired_deletes_only_expired_rows(
    open_sqlite: OpenSqlite, db_path: Path
) -> None:
    clock = Clock()
    store = await open_sqlite(ttl_seconds=60, clock=clock)
    await store.put(SessionKey(1, 1), DATA, expected_revision=0)
    await store.put(SessionKey(2, 2), DATA, expected_revision=0)
    clock.now += 45
    await store.put(SessionKey(3, 3), DATA, expected_revision=0)
    clock.now += 30

    assert await store.purge_expired() == 2

    assert await count_rows(db_path) == 1
    assert await store.get(SessionKey(3, 3)) == Record(1, DATA)


async def test_purge_expired_without_ttl_deletes_nothing(
    open_sqlite: OpenSqlite, db_path: Path
) -> None:
    store = await open_sqlite()
    await store.put(KEY, DATA, expected_revision=0)

    assert await store.purge_expired() == 0
    assert await count_rows(db_path) == 1


async def test_deletes_erase_expired_rows_too(open_sqlite: OpenSqlite, db_path: Path) -> None:
    """Erasure means the health data is gone from the file, even if it had already expired."""
    clock = Clock()
    store = await open_sqlite(ttl_seconds=60, clock=clock)
    await store.put(SessionKey(1, 9), DATA, expected_revision=0)
    await store.put(SessionKey(2, 9), DATA, expected_revision=0)
    await store.put(KEY, DATA, expected_revision=0)
    clock.now += 61

    assert await store.delete_user(9) == 0
    assert await store.delete(KEY) is False
    assert await count_rows(db_path) == 0


async def test_a_put_while_another_connection_holds_the_write_lock_waits_off_the_loop(
    open_sqlite: OpenSqlite, db_path: Path
) -> None:
    """The loop's own connection never waits for a lock: the put goes to aiosqlite's thread,
    which waits for the lock, and the loop stays free meanwhile."""
    store = await open_sqlite()
    await store.put(KEY, DATA, expected_revision=0)
    async with aiosqlite.connect(db_path, isolation_level=None) as other:
        await other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        put = asyncio.create_task(store.put(KEY, '{"mine": 1}', expected_revision=1))
        longest = 0.0
        for _ in range(20):  # the loop keeps running while the put waits
            before = time.monotonic()
            await asyncio.sleep(0.01)
            longest = max(longest, time.monotonic() - before)
        assert not put.done()
        assert await store.get(KEY) == Record(1, DATA)  # reads need no lock in WAL mode
        await other.execute("COMMIT")
        revision = await asyncio.wait_for(put, timeout=5)

    assert longest < 1.0  # never blocked for the busy timeout (5 s)
    assert revision == 2
    assert await store.get(KEY) == Record(2, '{"mine": 1}')


async def test_a_memory_database_is_served_by_aiosqlite_alone() -> None:
    """ ":memory:" is one database per connection: a second one would see none of its rows."""
    store = await SqliteStore.open(":memory:")
    try:
        await store.put(KEY, DATA, expected_revision=0)
        assert await store.get(KEY) == Record(1, DATA)
    finally:
        await store.close()


@pytest.mark.parametrize(("checkpoint_every", "is_bounded"), [(10, True), (10_000, False)])
async def test_the_wal_is_folded_into_the_file_every_so_many_puts(
    db_path: Path, checkpoint_every: int, is_bounded: bool
) -> None:
    """The loop's connection never checkpoints; the store does, off the loop, every N puts."""
    opened = await SqliteStore.open(db_path)
    await opened.close()  # the file, its table and WAL mode
    connection = await aiosqlite.connect(db_path, isolation_level=None)
    direct = sqlite3.connect(db_path, isolation_level=None)
    direct.execute("PRAGMA wal_autocheckpoint = 0")
    store = SqliteStore(
        connection,
        ttl_seconds=None,
        clock=time.time,
        direct=direct,
        checkpoint_every=checkpoint_every,
    )
    try:
        revision = await store.put(KEY, DATA, expected_revision=0)
        for _ in range(300):  # each put writes at least one 4 KiB page to the WAL
            revision = await store.put(KEY, "x" * 3000, expected_revision=revision)
        wal_pages = db_path.with_name(db_path.name + "-wal").stat().st_size // 4096
    finally:
        await store.close()

    assert (wal_pages < 60) is is_bounded  # folded every 10 puts, or grown past 300 pages


async def test_a_new_store_is_readable_by_its_owner_only_whatever_the_umask(
    tmp_path: Path,
) -> None:
    """Answers are health data: 0700 for the folder it makes, 0600 for the file, WAL and SHM."""
    folder = tmp_path / "data" / "crampcheck"
    previous = os.umask(0o022)
    try:
        store = await SqliteStore.open(folder / "sessions.db")
        try:
            await store.put(SessionKey(1, 1), '{"x": 1}', expected_revision=0)
            modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}
        finally:
            await store.close()
    finally:
        os.umask(previous)

    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert modes["sessions.db"] == 0o600
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}
    assert {"sessions.db-wal", "sessions.db-shm"} <= modes.keys()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def widened(folder: Path) -> Path:
    """Return a database file made readable by others in `folder` (group may enter it)."""
    folder.chmod(0o710)
    path = folder / "sessions.db"
    path.touch()
    path.chmod(0o644)
    return path


async def test_an_existing_wider_file_is_narrowed_and_an_existing_folder_left_alone(
    tmp_path: Path,
) -> None:
    path = widened(tmp_path)

    store = await SqliteStore.open(path)
    await store.close()

    assert mode(path) == 0o600
    assert mode(tmp_path) == 0o710  # not ours to change


async def test_a_read_only_open_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "sessions.db"

    with pytest.raises(StoreError, match="nothing has been stored yet"):
        await SqliteStore.open(path, create=False)

    assert not path.parent.exists()
