"""What one update's SQLite store calls cost: as the bot makes them, through aiosqlite, directly.

    python bench/store_calls.py [--pairs 3000]

100 chats each read and compare-and-set their record in turn (one `get` + one `put`, what a
button press costs the SQLite store): through `SqliteStore` as the bot opens it (the loop's own
connection first), through `SqliteStore` on aiosqlite alone (its worker thread), and as plain
`sqlite3` statements in one thread. Prints CPU and wall microseconds per pair for each, and the
ratios of the first two to the third, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import aiosqlite

from bot.store.base import SessionKey
from bot.store.sqlite import SqliteStore

CHATS = 100


async def through_store(path: Path, pairs: int, *, is_direct: bool) -> dict[str, float]:
    store = await SqliteStore.open(path, ttl_seconds=86_400)
    if not is_direct:  # the same store on aiosqlite alone
        await store.close()
        connection = await aiosqlite.connect(path, isolation_level=None)
        store = SqliteStore(connection, ttl_seconds=86_400, clock=time.time)
    keys = [SessionKey(chat_id=i, user_id=i) for i in range(1, CHATS + 1)]
    for key in keys:
        if await store.get(key) is None:
            await store.put(key, "x" * 600, expected_revision=0)

    async def chat(key: SessionKey, rounds: int) -> None:
        for _ in range(rounds):
            record = await store.get(key)
            assert record is not None
            await store.put(key, "y" * random.randint(500, 700), expected_revision=record.revision)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(chat(key, pairs // CHATS) for key in keys))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    await store.close()
    return {"cpu_us": cpu * 1e6 / pairs, "wall_us": wall * 1e6 / pairs}


def direct(path: Path, pairs: int) -> dict[str, float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    keys = [f"sess:{i}:{i}" for i in range(1, CHATS + 1)]
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(pairs):
        key = keys[n % CHATS]
        (revision,) = db.execute("SELECT revision FROM sessions WHERE key = ?", (key,)).fetchone()
        db.execute(
            "UPDATE sessions SET revision = revision + 1, data = ? WHERE key = ? AND revision = ?"
            " RETURNING revision",
            ("y" * random.randint(500, 700), key, revision),
        ).fetchall()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    db.close()
    return {"cpu_us": cpu * 1e6 / pairs, "wall_us": wall * 1e6 / pairs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sessions.db"
        found = {
            "store": asyncio.run(through_store(path, args.pairs, is_direct=True)),
            "aiosqlite": asyncio.run(through_store(path, args.pairs, is_direct=False)),
            "direct": direct(path, args.pairs),
        }
    ratios = {
        f"{name}_cpu_ratio": round(found[name]["cpu_us"] / found["direct"]["cpu_us"], 2)
        for name in ("store", "aiosqlite")
    }
    sys.stdout.write(json.dumps(found | ratios) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
