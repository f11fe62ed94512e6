"""Per-chat locks, so that one chat's updates are handled one at a time.

`LocalLocks` serialise the tasks of one process with an `asyncio.Lock` per chat. `RedisLocks`
serialise across processes (two webhook workers): `SET key token NX PX lease` takes the lock,
a Lua script deletes it only if it still holds our token (so an expired lock that another worker
took over is never released by us), and a background task extends the lease while the holder
works. A worker killed while holding a lock blocks that chat for at most one lease. The lock
orders work and saves wasted effort; correctness does not depend on it, because every write is
a compare-and-set on the record's revision. `ChainedLocks` takes the local lock first, so that
tasks of one process queue in memory instead of polling Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from bot.engine.errors import StoreError
from bot.store.faults import TRANSIENT_STORE_ERRORS

logger = logging.getLogger(__name__)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class LockUnavailable(StoreError):
    """A chat's lock could not be taken in time; the update is to be delivered again later."""


class ChatLocks(Protocol):
    """Hold a named lock (one per chat) for the duration of a `with` block."""

    def hold(self, name: str) -> AbstractAsyncContextManager[None]: ...


class LocalLocks:
    """One `asyncio.Lock` per chat name, dropped again when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def hold(self, name: str) -> _LocalHold:
        """Hold the lock of `name` for an `async with` block (every update and send takes one:
        a plain context manager, not a generator)."""
        return _LocalHold(self._locks, name)

    def __len__(self) -> int:
        return len(self._locks)


class _LocalHold:
    """`LocalLocks.hold`: counts itself among the lock's users from entering to leaving."""

    __slots__ = ("_locks", "_name")

    def __init__(self, locks: dict[str, tuple[asyncio.Lock, int]], name: str) -> None:
        self._locks, self._name = locks, name

    async def __aenter__(self) -> None:
        locks, name = self._locks, self._name
        known = locks.get(name)
        lock, users = known if known is not None else (asyncio.Lock(), 0)
        locks[name] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting: no longer a user
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._locks[self._name][0].release()
        self._leave()

    def _leave(self) -> None:
        locks, name = self._locks, self._name
        lock, users = locks[name]
        if users == 1:
            del locks[name]
        else:
            locks[name] = (lock, users - 1)


class RedisLocks:
    """Locks in Redis, shared by every process on the same server and namespace."""

    def __init__(
        self,
        client: Any,
        *,
        namespace: str = "crampcheck",
        lease_seconds: float = 5.0,
        wait_seconds: float = 25.0,
    ) -> None:
        # `client` is a redis.asyncio.Redis; typed Any so that redis stays an optional extra.
        self._redis = client
        self._namespace = namespace
        self._lease_ms = max(1, int(lease_seconds * 1000))
        self._wait = wait_seconds
        self._release = client.register_script(_RELEASE)
        self._extend = client.register_script(_EXTEND)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        key, token = f"{self._namespace}:lock:{name}", secrets.token_hex(16)
        await self._acquire(key, token)
        keeper = asyncio.create_task(self._keep(key, token))
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            try:
                await self._release(keys=[key], args=[token])
            except TRANSIENT_STORE_ERRORS as error:  # the lease ends it in a few seconds anyway
                logger.warning("chat lock %s not released: %s", key, type(error).__name__)

    async def _acquire(self, key: str, token: str) -> None:
        """Take the lock, polling with a short jittered pause; LockUnavailable after the wait."""
        deadline = time.monotonic() + self._wait
        pause = 0.005
        while not await self._redis.set(key, token, nx=True, px=self._lease_ms):
            if time.monotonic() >= deadline:
                raise LockUnavailable(f"chat lock {key} still held after {self._wait:g} s")
            await asyncio.sleep(pause * (0.5 + random.random()))  # noqa: S311 - jitter only
            pause = min(pause * 2, 0.1)

    async def _keep(self, key: str, token: str) -> None:
        """Extend the lease every third of it while the holder works."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            if not await self._extend(keys=[key], args=[token, self._lease_ms]):
                logger.warning("chat lock %s lost to its lease: another worker may take over", key)
                return


class ChainedLocks:
    """Hold every lock of `chain`, in order (the local lock first, then the shared one)."""

    def __init__(self, *chain: ChatLocks) -> None:
        self._chain = chain

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for locks in self._chain:
                await stack.enter_async_context(locks.hold(name))
            yield
