"""Store fixtures: every contract test runs against memory, SQLite (a real file) and a real Redis.

Redis comes from CRAMPCHECK_TEST_REDIS (default redis://127.0.0.1:6379/15). When it cannot be
reached the Redis cases skip with the reason, unless CRAMPCHECK_REQUIRE_REDIS=1 (CI) makes that a
failure. Each Redis test gets its own namespace, whose keys are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis
import redis.asyncio
import redis.exceptions

from bot.store.base import SessionStore
from bot.store.memory import MemoryStore
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore

REDIS_URL = os.environ.get("CRAMPCHECK_TEST_REDIS", "redis://127.0.0.1:6379/15")
IS_REDIS_REQUIRED = os.environ.get("CRAMPCHECK_REQUIRE_REDIS") == "1"

OpenStore = Callable[..., Awaitable[SessionStore]]


class FakeClock:
    """A clock that moves only when told to; starts at a plausible epoch time."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Backend:
    """Opens stores of one kind, lets time pass for them, and closes them all at teardown."""

    name = ""

    def __init__(self) -> None:
        self.stores: list[SessionStore] = []

    async def open(self, *, ttl_seconds: float | None = None) -> SessionStore:
        store = await self._open(ttl_seconds)
        self.stores.append(store)
        return store

    async def let_time_pass(self, seconds: float) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        for store in self.stores:
            await store.close()

    async def _open(self, ttl_seconds: float | None) -> SessionStore:
        raise NotImplementedError


class MemoryBackend(Backend):
    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()

    async def _open(self, ttl_seconds: float | None) -> SessionStore:
        return MemoryStore(ttl_seconds=ttl_seconds, clock=self.clock)

    async def let_time_pass(self, seconds: float) -> None:
        self.clock.now += seconds


class SqliteBackend(MemoryBackend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def _open(self, ttl_seconds: float | None) -> SessionStore:
        return await SqliteStore.open(self.path, ttl_seconds=ttl_seconds, clock=self.clock)


class RedisBackend(Backend):
    name = "redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.namespace = f"crampcheck-test-{uuid.uuid4().hex}"

    async def _open(self, ttl_seconds: float | None) -> SessionStore:
        return RedisStore.from_url(self.url, ttl_seconds=ttl_seconds, namespace=self.namespace)

    async def let_time_pass(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # Redis expires keys on its own clock

    async def aclose(self) -> None:
        await super().aclose()
        client = redis.asyncio.Redis.from_url(self.url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.namespace}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture
def redis_url() -> str:
    """Return the test Redis URL, or skip (fail under CRAMPCHECK_REQUIRE_REDIS=1) if it is down.

    Synchronous, so that the async `backend` fixture can request it by name.
    """
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        reason = f"Redis not reachable at {REDIS_URL} ({exc}): set CRAMPCHECK_TEST_REDIS"
        if IS_REDIS_REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Yield a backend of each kind; stores opened through it are closed afterwards."""
    if request.param == "memory":
        chosen: Backend = MemoryBackend()
    elif request.param == "sqlite":
        chosen = SqliteBackend(tmp_path / "sessions.db")
    else:
        chosen = RedisBackend(request.getfixturevalue("redis_url"))
    yield chosen
    await chosen.aclose()


@pytest.fixture
def open_store(backend: Backend) -> OpenStore:
    """Return `await open_store(ttl_seconds=...)`, opening another store on the same backend."""
    return backend.open


@pytest.fixture
def let_time_pass(backend: Backend) -> Callable[[float], Awaitable[None]]:
    """Return `await let_time_pass(seconds)`: fake clock for memory/SQLite, real time for Redis."""
    return backend.let_time_pass


@pytest.fixture
async def store(open_store: OpenStore) -> SessionStore:
    """Return a store without TTL on the current backend."""
    return await open_store()
