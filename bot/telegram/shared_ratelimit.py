"""Pace the messages of every worker of the bot together, through Redis.

Telegram's limits (about 30 messages/s per bot, about 1/s per chat) are per bot token, not per
process: N webhook workers each pacing themselves could send N times too much. `SharedRateLimiter`
keeps the pace in Redis, with the semantics of the in-process `RateLimiter` (ratelimit.py):

* One Lua script reserves a start slot, atomically, for the bot-wide key and the chat's key: the
  next free start of the bot ("GCRA" with no burst: starts 1/`per_second` apart) and, if the chat
  is neither busy nor spaced, its lease. It reads Redis's own `TIME`, so the workers' clocks never
  matter, and it returns how long the caller must sleep (a relative wait, never a time).
* A chat's call holds a lease (`busy`, with an owner token) until it ends; the release sets the
  chat's next start a full 1/`per_chat` after the *end*, as the in-process limiter does. A worker
  that dies mid-call blocks the chat for `LEASE_SECONDS` at most. While a chat is busy the others
  ask again every chat interval: once the call has ended the answer is the exact wait.
* A 429 pushes the chat's (or, without a chat, the bot's) next start back for every worker.
* Keys are `<namespace>:rate:bot` and `<namespace>:rate:chat:<chat>` (the store's namespace),
  hashes that expire a second after the last time they matter, so nothing piles up.

If Redis cannot be reached, the worker falls back to an in-process `RateLimiter` for
`RETRY_SECONDS` (one warning, the error type only: a URL may hold a password), then tries Redis
again. Sends are never blocked for ever: the client's timeouts are short and it retries once.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot.telegram.ratelimit import Chat, ChatLocks, RateLimiter, Sleep

logger = logging.getLogger(__name__)

NAMESPACE = "crampcheck"
"""The Redis store's default namespace (bot/store/redis.py); the limiter's keys go under it."""
LEASE_SECONDS = 10.0
"""How long a chat stays busy if its call never reports its end (twice PTB's 5 s timeouts)."""
RETRY_SECONDS = 5.0
"""How long to pace in-process after a Redis failure before trying Redis again."""
TIMEOUT_SECONDS = 1.0
"""Connect and read timeout of the limiter's Redis client: a send waits at most this per try."""
MICROS = 1_000_000
REDIS_ERRORS = (RedisError, OSError)

_LUA_COMMON = """
local function now_us()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function field(key, name)
    return tonumber(redis.call('HGET', key, name) or '0')
end
-- Set `name` of `key` to `at` (microseconds) and keep the key until then, plus a second.
local function put(key, name, at, now)
    redis.call('HSET', key, name, string.format('%.0f', at))
    local ttl = math.ceil((at - now) / 1000) + 1000
    if redis.call('PTTL', key) < ttl then
        redis.call('PEXPIRE', key, ttl)
    end
end
local function push(key, at, now)
    put(key, 'next', math.max(field(key, 'next'), at), now)
end
"""
# KEYS: bot hash[, chat hash]. ARGV: interval, chat interval, lease (microseconds), owner token.
# Returns {0, wait}: the chat is busy or spaced, ask again after `wait`; or {1, wait, start}:
# the slot at `start` (Redis time) is reserved, start after `wait`.
_RESERVE = (
    _LUA_COMMON
    + """
local now = now_us()
local chat = KEYS[2]
if chat then
    local busy = field(chat, 'busy')
    if busy > now then
        return {0, math.min(busy - now, tonumber(ARGV[2]))}
    end
    local free = field(chat, 'next')
    if free > now then
        return {0, free - now}
    end
end
local start = math.max(now, field(KEYS[1], 'next'))
push(KEYS[1], start + tonumber(ARGV[1]), now)
if chat then
    push(chat, start + tonumber(ARGV[2]), now)
    put(chat, 'busy', start + tonumber(ARGV[3]), now)
    redis.call('HSET', chat, 'owner', ARGV[4])
end
return {1, start - now, start}
"""
)
# KEYS: chat hash. ARGV: chat interval (microseconds), owner token. Ends the lease if it is ours.
_RELEASE = (
    _LUA_COMMON
    + """
local now = now_us()
if redis.call('HGET', KEYS[1], 'owner') == ARGV[2] then
    redis.call('HDEL', KEYS[1], 'busy', 'owner')
end
push(KEYS[1], now + tonumber(ARGV[1]), now)
return 1
"""
)
# KEYS: bot or chat hash. ARGV: seconds to hold off (microseconds).
_HOLD = (
    _LUA_COMMON
    + """
local now = now_us()
push(KEYS[1], now + tonumber(ARGV[1]), now)
return 1
"""
)


def micros(seconds: float) -> int:
    """Return `seconds` as whole microseconds, the unit of the scripts."""
    return round(seconds * MICROS)


class SharedRateLimiter:
    """Hand out start slots shared by every process on one Redis; 0 for a rate turns it off."""

    def __init__(
        self,
        client: Redis,
        *,
        per_second: float,
        per_chat: float,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._redis = client
        self._interval = micros(1 / per_second) if per_second > 0 else 0
        self._chat_interval = micros(1 / per_chat) if per_chat > 0 else 0
        self._prefix = f"{namespace}:rate"
        self._clock = clock
        self._sleep = sleep
        self._local = RateLimiter(
            per_second=per_second, per_chat=per_chat, clock=clock, sleep=sleep
        )
        """Paces this process alone while Redis is unreachable."""
        self._locks = ChatLocks()
        self._down_until: float | None = None
        self._reserve = client.register_script(_RESERVE)
        self._release = client.register_script(_RELEASE)
        self._hold = client.register_script(_HOLD)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        per_second: float,
        per_chat: float,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> SharedRateLimiter:
        """Build a limiter on a `redis://` or `rediss://` URL; connects on first use."""
        client = Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),  # once, for a pooled connection Redis has dropped
            client_name=f"{namespace}-ratelimit",
        )
        return cls(
            client,
            per_second=per_second,
            per_chat=per_chat,
            namespace=namespace,
            clock=clock,
            sleep=sleep,
        )

    @property
    def is_shared(self) -> bool:
        """Tell whether slots come from Redis now (False while falling back after a failure)."""
        return self._down_until is None or self._clock() >= self._down_until

    @asynccontextmanager
    async def slot(self, chat: Chat | None) -> AsyncIterator[float]:
        """Hold a slot for one message call to `chat`; yield its start time.

        The start is Redis's time (seconds since the epoch) when the slot is shared, and the
        local clock's while falling back.
        """
        chat = chat if self._chat_interval else None  # the chat limit is off: no lease either
        if chat is not None:
            await self._locks.acquire(chat)  # this process's calls to a chat go one at a time
        try:
            async with self._paced(chat) as start:
                yield start
        finally:
            if chat is not None:
                self._locks.release(chat)

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (all workers)."""
        await self._local.hold_off(chat, seconds)  # remembered in case Redis goes away
        if chat is not None and not self._chat_interval:
            return  # as in-process: a chat's hold-off matters only under a chat limit
        if not self.is_shared:
            return  # falling back: do not wait for a Redis that just failed
        key = self._bot_key() if chat is None else self._chat_key(chat)
        await self._call_redis(self._hold, keys=[key], args=[micros(seconds)])

    async def aclose(self) -> None:
        """Close the Redis client and its connections."""
        await self._redis.aclose()

    @asynccontextmanager
    async def _paced(self, chat: Chat | None) -> AsyncIterator[float]:
        """Reserve a shared slot, or fall back to the in-process limiter if Redis fails."""
        token = uuid.uuid4().hex
        start = await self._reserve_shared(chat, token) if self.is_shared else None
        if start is None:
            async with self._local.slot(chat) as local_start:
                yield local_start
            return
        try:
            yield start
        finally:
            if chat is not None:
                args = [self._chat_interval, token]
                await self._call_redis(self._release, keys=[self._chat_key(chat)], args=args)

    async def _reserve_shared(self, chat: Chat | None, token: str) -> float | None:
        """Wait for and reserve a slot in Redis; return its start, or None if Redis failed."""
        keys = [self._bot_key()] if chat is None else [self._bot_key(), self._chat_key(chat)]
        args = [self._interval, self._chat_interval, micros(LEASE_SECONDS), token]
        while True:
            answer = await self._call_redis(self._reserve, keys=keys, args=args)
            if answer is None:
                return None
            is_reserved, wait = int(answer[0]), int(answer[1]) / MICROS
            try:
                if wait > 0:  # until the reserved start, or until asking again is worth it
                    await self._sleep(wait)
            except BaseException:
                if is_reserved and chat is not None:  # cancelled: free the chat's lease
                    release = [self._chat_interval, token]
                    await self._call_redis(self._release, keys=keys[1:], args=release)
                raise
            if is_reserved:
                return int(answer[2]) / MICROS

    async def _call_redis(self, script: Any, *, keys: list[str], args: list[Any]) -> Any:
        """Run `script`; on a Redis failure switch to in-process pacing and return None."""
        try:
            answer = await script(keys=keys, args=args)
        except REDIS_ERRORS as error:
            # Warn once per outage; the retries every RETRY_SECONDS only at DEBUG.
            level = logging.WARNING if self._down_until is None else logging.DEBUG
            logger.log(
                level,
                "rate limiter: Redis unreachable (%s); pacing this process alone for %.0f s",
                *(type(error).__name__, RETRY_SECONDS),
            )
            self._down_until = self._clock() + RETRY_SECONDS
            return None
        if self._down_until is not None:
            logger.info("rate limiter: Redis reachable again; pacing shared by all workers")
            self._down_until = None
        return answer

    def _bot_key(self) -> str:
        return f"{self._prefix}:bot"

    def _chat_key(self, chat: Chat) -> str:
        return f"{self._prefix}:chat:{chat}"
