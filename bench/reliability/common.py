"""What the harnesses share: command line, stores, reading them back, final checks, figures."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.reliability.users import SimUser, Stats
from bot.store.base import SessionKey, SessionStore
from bot.store.factory import open_store
from bot.telegram.state.conversation import Conversation

REDIS_URL = "redis://127.0.0.1:6379/13"
"""The harnesses' own database (CRAMPCHECK_BENCH_REDIS overrides it): they delete the bot's keys
(`crampcheck:*`) there, and nothing else anywhere."""

Figures = dict[str, Any]


def redis_url() -> str:
    return os.environ.get("CRAMPCHECK_BENCH_REDIS", REDIS_URL)


def store_url(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{(workdir / 'sessions.db').as_posix()}"
    if kind == "redis":
        return redis_url()
    raise ValueError(f"unknown store {kind!r}: sqlite or redis")


async def wipe_redis() -> None:
    """Delete the bot's keys from the harness database (namespace `crampcheck`)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url())
    try:
        keys = [key async for key in client.scan_iter(match="crampcheck:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()


async def mismatches(url: str, users: list[SimUser]) -> tuple[int, int]:
    """Return (users whose stored answers differ from theirs, records that do not load)."""
    store: SessionStore = await open_store(url, ttl_seconds=None)
    wrong = broken = 0
    try:
        for user in users:
            record = await store.get(SessionKey(user.chat_id, user.chat_id))
            stored = None
            if record is not None:
                try:
                    stored = Conversation.load(record.data)
                except ValueError:
                    broken += 1
            wrong += not user.matches(stored)
    finally:
        await store.close()
    return wrong, broken


def totals(users: list[SimUser]) -> Stats:
    stats = Stats()
    for user in users:
        stats.add(user.stats)
    return stats


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextmanager
def work_directory(name: str, *, keep: bool) -> Iterator[Path]:
    """Yield a fresh directory for the bot's logs and store; delete it unless `keep`."""
    path = Path(tempfile.mkdtemp(prefix=f"crampcheck-{name}-"))
    print(f"work directory: {path}", file=sys.stderr)
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def report(figures: dict[str, Any], path: Path | None) -> None:
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(text)
    if path is not None:
        path.write_text(text + "\n", encoding="utf-8")


def harness_parser(doc: str) -> argparse.ArgumentParser:
    """Return a parser with the options every harness takes: --seed, --json and --keep."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the bot logs and the store")
    return parser


def run_harness(
    name: str,
    args: argparse.Namespace,
    run: Callable[[Path], Coroutine[Any, Any, Figures]],
) -> None:
    """Run `run(workdir)` in a fresh work directory, then print (and write) its figures."""
    with work_directory(name, keep=args.keep) as workdir:
        figures = asyncio.run(run(workdir))
    report(figures, args.json)
