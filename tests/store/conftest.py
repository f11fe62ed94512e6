"""Store fixtures: every contract test runs against memory, SQLite (a real file), SQLite behind
the memory of own writes (bot/store/cached.py) and a real Redis.

Redis comes from the root `redis_url` and `redis_namespace` fixtures (tests/conftest.py): the
Redis cases skip with the reason when it cannot be reached, unless CRAMPCHECK_REQUIRE_REDIS=1 (CI)
makes that a failure. Each Redis test gets its own namespace, whose keys are deleted afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

import pytest

from bot.store.base import LIFETIMES, SessionStore
from bot.store.cached import CachingStore
from bot.store.memory import MemoryStore
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore

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

    async def open(
        self, *, ttl_seconds: float | None = None, lifetimes: Mapping[str, float] = LIFETIMES
    ) -> SessionStore:
        store = await self._open(ttl_seconds, lifetimes)
        self.stores.append(store)
        return store

    async def let_time_pass(self, seconds: float) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        for store in self.stores:
            await store.close()

    async def _open(
        self, ttl_seconds: float | None, lifetimes: Mapping[str, float]
    ) -> SessionStore:
        raise NotImplementedError


class MemoryBackend(Backend):
    name = "memory"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()

    async def _open(
        self, ttl_seconds: float | None, lifetimes: Mapping[str, float]
    ) -> SessionStore:
        return MemoryStore(ttl_seconds=ttl_seconds, clock=self.clock, lifetimes=lifetimes)

    async def let_time_pass(self, seconds: float) -> None:
        self.clock.now += seconds


class SqliteBackend(MemoryBackend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    async def _open(
        self, ttl_seconds: float | None, lifetimes: Mapping[str, float]
    ) -> SessionStore:
        return await SqliteStore.open(
            self.path, ttl_seconds=ttl_seconds, clock=self.clock, lifetimes=lifetimes
        )


class RememberingBackend(SqliteBackend):
    """SQLite behind a `CachingStore` that reads its own writes from memory, as a process that
    handles every chat runs it (serving.py): the store contract holds through that memory."""

    name = "sqlite, own writes remembered"

    async def _open(
        self, ttl_seconds: float | None, lifetimes: Mapping[str, float]
    ) -> SessionStore:
        cached = CachingStore(await super()._open(ttl_seconds, lifetimes), clock=self.clock)
        cached.remember_writes(for_seconds=600.0 if ttl_seconds is None else ttl_seconds / 2)
        return cached


class RedisBackend(Backend):
    name = "redis"

    def __init__(self, url: str, namespace: str) -> None:
        super().__init__()
        self.url = url
        self.namespace = namespace
        """Its keys are deleted by the `redis_namespace` fixture, after the stores are closed."""

    async def _open(
        self, ttl_seconds: float | None, lifetimes: Mapping[str, float]
    ) -> SessionStore:
        return RedisStore.from_url(
            self.url, ttl_seconds=ttl_seconds, namespace=self.namespace, lifetimes=lifetimes
        )

    async def let_time_pass(self, seconds: float) -> None:
        await asyncio.sleep(seconds)  # Redis expires keys on its own clock


@pytest.fixture(params=["memory", "sqlite", "remembering", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Yield a backend of each kind; stores opened through it are closed afterwards."""
    if request.param == "memory":
        chosen: Backend = MemoryBackend()
    elif request.param == "sqlite":
        chosen = SqliteBackend(tmp_path / "sessions.db")
    elif request.param == "remembering":
        chosen = RememberingBackend(tmp_path / "sessions.db")
    else:
        namespace = request.getfixturevalue("redis_namespace")  # skips or fails without Redis
        chosen = RedisBackend(request.getfixturevalue("redis_url"), namespace)
    yield chosen
    await chosen.aclose()


@pytest.fixture
def open_store(backend: Backend) -> OpenStore:
    """Return `await open_store(ttl_seconds=..., lifetimes=...)`: another store on the same
    backend."""
    return backend.open


@pytest.fixture
def let_time_pass(backend: Backend) -> Callable[[float], Awaitable[None]]:
    """Return `await let_time_pass(seconds)`: fake clock for memory/SQLite, real time for Redis."""
    return backend.let_time_pass


@pytest.fixture
async def store(open_store: OpenStore) -> SessionStore:
    """Return a store without TTL on the current backend."""
    return await open_store()
