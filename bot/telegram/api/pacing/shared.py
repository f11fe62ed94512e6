"""Pace the messages of every worker of the bot together, through Redis.

Telegram's limits (about 30 messages/s per bot; about 1/s per chat after a short burst) are per
bot token, not per process: N webhook workers each pacing themselves could send N times too much.
`SharedRateLimiter` keeps the pace in Redis, with the rules of the in-process `RateLimiter`
(limiter.py: a token bucket per chat, kept as GCRA, and starts 1/`per_second` apart in all):

* One Lua script reserves a start atomically: the chat's token (its bucket's "full again" time
  moves on by 1/`per_chat`) and the bot's start, in the queue behind the bot's last one, or, when
  the chat's token comes later, as an "island" at that time that the queue steps over; the call
  that shows an urgent result takes the urgent lane's next start when that comes first (the
  lane: at most `urgent` starts in any second, kept in order). It reads
  Redis's own `TIME`, so the workers' clocks never matter, and it returns how long the caller
  must sleep (a relative wait) and the start (Redis time). The reservation is made before the
  caller sleeps, so concurrent callers queue fairly; nothing is held during the call, so a worker
  that dies mid-call blocks nothing.
* A 429 empties the chat's bucket until its `retry_after` (or, without a chat, pushes the bot's
  queue back) for every worker.
* Keys (under the store's namespace): `<ns>:rate:bot` (a hash: `next`, the queue's next start;
  `urgent`, no urgent start before it), `<ns>:rate:lane` (a list: the urgent lane's last starts,
  newest first),
  `<ns>:rate:islands` (a sorted set of the starts reserved ahead of the queue) and
  `<ns>:rate:chat:<chat>` (a hash: `full`, when its bucket is full again). Each expires a second
  after it stops mattering (a full bucket is the same as no key), so nothing piles up.

The bot runs it on the store's Redis client (`bot.store.shared_client`: one connection pool per
process, opened and closed by the store); `from_url` gives one a client of its own (tests, the
benchmarks' workers). Every call of a burst asks Redis at once, through the pool (the others
wait for a free connection). If Redis cannot be reached or does not answer within
`TIMEOUT_SECONDS`, the worker falls back to an in-process `RateLimiter` for `RETRY_SECONDS` (one
warning, the error type only: a URL may hold a password), then tries Redis again. Sends are never
blocked for ever.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot.telegram.api.pacing.limiter import Chat, RateLimiter, Sleep, queue_interval

logger = logging.getLogger(__name__)

NAMESPACE = "crampcheck"
"""The Redis store's default namespace (bot/store/redis.py); the limiter's keys go under it."""
RETRY_SECONDS = 5.0
"""How long to pace in-process after a Redis failure before trying Redis again."""
TIMEOUT_SECONDS = 1.0
"""How long a send waits for Redis's answer at most (then it paces in-process)."""
POOL_SIZE = 16
"""Connections per worker at most: every send of a burst calls the script at once, and a pool
that refused the 101st (redis-py's default) would send the worker back to pacing alone. The
calls are short; the others wait for a free connection (at most `TIMEOUT_SECONDS`)."""
MICROS = 1_000_000
REDIS_ERRORS = (RedisError, OSError)

_LUA_COMMON = """
local function now_us()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function us(at)
    return string.format('%.0f', at)
end
local function field(key, name)
    return tonumber(redis.call('HGET', key, name) or '0')
end
-- Keep `key` until `at` (microseconds), plus a second.
local function keep(key, at, now)
    local ttl = math.ceil((at - now) / 1000) + 1000
    if redis.call('PTTL', key) < ttl then
        redis.call('PEXPIRE', key, ttl)
    end
end
-- Set `name` of `key` to `at` unless it is later already, and keep the key until then.
local function push(key, name, at, now)
    at = math.max(field(key, name), at)
    redis.call('HSET', key, name, us(at))
    keep(key, at, now)
end
"""
# KEYS: bot hash, islands sorted set, lane list[, chat hash]. ARGV (microseconds): interval, chat
# interval, tolerance (burst - 1 chat intervals); then the urgent lane's starts a second (0: not
# an urgent call).
# Returns {wait, start}: start at `start` (Redis time), after sleeping `wait`.
_RESERVE = (
    _LUA_COMMON
    + """
local now = now_us()
local bot, islands, lane_key, chat = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local interval, chat_interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local next_start = math.max(now, field(bot, 'next'))
local full = now
if chat then
    full = math.max(now, field(chat, 'full'))
end
local earliest = math.max(now, full - tonumber(ARGV[3]))
-- The first start from `at` on at least one interval away from every island.
local function fit(at)
    if interval == 0 then
        return at
    end
    local taken = redis.call('ZRANGEBYSCORE', islands, '(' .. us(at - interval), '+inf')
    for _, island in ipairs(taken) do
        island = tonumber(island)
        if island >= at + interval then
            break
        end
        at = island + interval
    end
    return at
end
local start
local per_second = tonumber(ARGV[4])
local lane = nil
if per_second > 0 then
    -- In order, and a second after the start `per_second` before it.
    local last = redis.call('LRANGE', lane_key, 0, per_second - 1)
    lane = math.max(earliest, field(bot, 'urgent'), tonumber(last[1] or '0'))
    if #last >= per_second then
        lane = math.max(lane, tonumber(last[per_second]) + 1000000)
    end
end
if lane and lane < fit(math.max(earliest, next_start)) then
    start = lane
    redis.call('LPUSH', lane_key, us(start))
    redis.call('LTRIM', lane_key, 0, per_second - 1)
    keep(lane_key, start + 1000000, now)
elseif earliest <= next_start then
    start = fit(next_start)
    next_start = start + interval
    push(bot, 'next', next_start, now)
else
    start = fit(earliest)
    if interval > 0 then
        redis.call('ZADD', islands, us(start), us(start))
        keep(islands, start + interval, now)
    end
end
redis.call('ZREMRANGEBYSCORE', islands, '-inf', us(next_start - interval))
if chat then
    push(chat, 'full', math.max(full, start) + chat_interval, now)
end
return {start - now, start}
"""
)
# KEYS: bot or chat hash. ARGV: microseconds from now, then its fields (`next` and `urgent`, or
# `full`).
_HOLD = (
    _LUA_COMMON
    + """
local now = now_us()
for i = 2, #ARGV do
    push(KEYS[1], ARGV[i], now + tonumber(ARGV[1]), now)
end
return 1
"""
)


def micros(seconds: float) -> int:
    """Return `seconds` as whole microseconds, the unit of the scripts, never less."""
    return math.ceil(seconds * MICROS)


class SharedRateLimiter:
    """Hand out starts shared by every process on one Redis; 0 for a rate turns it off."""

    def __init__(
        self,
        client: Redis,
        *,
        per_second: float,
        per_chat: float,
        burst: int,
        urgent: int = 0,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        owns_client: bool = False,
    ) -> None:
        self._local = RateLimiter(
            per_second=per_second,
            per_chat=per_chat,
            burst=burst,
            urgent=urgent,
            clock=clock,
            sleep=sleep,
        )
        """Paces this process alone while Redis is unreachable (and checks `burst`)."""
        self.burst = burst
        self._redis = client
        self._owns_client = owns_client
        interval = queue_interval(per_second, urgent)
        self._interval = micros(interval) if interval else 0
        self._urgent = urgent if per_second > 0 else 0
        self._chat_interval = micros(1 / per_chat) if per_chat > 0 else 0
        self._tolerance = (burst - 1) * self._chat_interval
        self._prefix = f"{namespace}:rate"
        self._clock = clock
        self._sleep = sleep
        self._down_until: float | None = None
        self._reserve = client.register_script(_RESERVE)
        self._hold = client.register_script(_HOLD)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        per_second: float,
        per_chat: float,
        burst: int,
        urgent: int = 0,
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> SharedRateLimiter:
        """Build a limiter on a `redis://` or `rediss://` URL; connects on first use."""
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=TIMEOUT_SECONDS,  # waiting for a free connection, too
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),  # once, for a pooled connection Redis has dropped
            client_name=f"{namespace}-ratelimit",
        )
        return cls(
            Redis.from_pool(pool),  # the client owns the pool: `aclose` closes it
            owns_client=True,
            per_second=per_second,
            per_chat=per_chat,
            burst=burst,
            urgent=urgent,
            namespace=namespace,
            clock=clock,
            sleep=sleep,
        )

    @property
    def is_shared(self) -> bool:
        """Tell whether starts come from Redis now (False while falling back after a failure)."""
        return self._down_until is None or self._clock() >= self._down_until

    async def acquire(self, chat: Chat | None, *, is_urgent: bool = False) -> float:
        """Reserve a start for one message call to `chat`, wait until it and return it.

        The start is Redis's time (seconds since the epoch) when it is shared, and the local
        clock's while falling back. `is_urgent`: the call shows an urgent result (urgent lane).
        """
        chat = chat if self._chat_interval else None  # the chat limit is off: no chat key
        keys = [self._key("bot"), self._key("islands"), self._key("lane")]
        if chat is not None:
            keys.append(self._key(f"chat:{chat}"))
        args = [self._interval, self._chat_interval, self._tolerance]
        args.append(self._urgent if is_urgent else 0)
        answer = None
        if self.is_shared:
            answer = await self._call_redis(self._reserve, keys=keys, args=args)
        if answer is None:  # falling back, or Redis just failed
            return await self._local.acquire(chat, is_urgent=is_urgent)
        wait = int(answer[0]) / MICROS
        if wait > 0:
            await self._sleep(wait)
        return int(answer[1]) / MICROS

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (all workers).

        The chat's bucket is empty until then: one token is due at that moment.
        """
        await self._local.hold_off(chat, seconds)  # remembered in case Redis goes away
        if chat is not None and not self._chat_interval:
            return  # as in-process: a chat's hold-off matters only under a chat limit
        if not self.is_shared:
            return  # falling back: do not wait for a Redis that just failed
        if chat is None:
            keys, args = [self._key("bot")], [micros(seconds), "next", "urgent"]
        else:
            keys, args = [self._key(f"chat:{chat}")], [micros(seconds) + self._tolerance, "full"]
        await self._call_redis(self._hold, keys=keys, args=args)

    async def aclose(self) -> None:
        """Close the Redis client and its connections."""
        if self._owns_client:  # the store's client is the store's to close
            await self._redis.aclose()

    async def _call_redis(self, script: Any, *, keys: list[str], args: list[Any]) -> Any:
        """Run `script`; on a Redis failure switch to in-process pacing and return None."""
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):  # a shared pool may be busy
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

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"
