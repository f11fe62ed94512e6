"""Pace the messages of every worker of the bot together, through Redis.

Telegram's limits (about 30 messages/s per bot; about 1/s per chat after a short burst) are per
bot token, not per process: N webhook workers each pacing themselves could send N times too much.
`SharedRateLimiter` keeps the pace in Redis, with the rules of the in-process `RateLimiter`
(limiter.py: a token bucket per chat, kept as GCRA, and starts 1/`per_second` apart in all):

* One Lua script reserves a start atomically: the chat's token (its bucket's "full again" time
  moves on by 1/`per_chat`) and the bot's start, in the queue behind the bot's last one, or, when
  the chat's token comes later, as an "island" at that time that the queue steps over. The call
  that shows an urgent result goes before the calls waiting in the queue: it takes the first
  start not due yet, and each waiting call moves on to the next one's (their chats' buckets move
  with them). It reads Redis's own `TIME`, so the workers' clocks never matter, and it returns
  how long the caller must sleep (a relative wait), the start (Redis time) and the call's ticket
  in the queue. A caller that slept asks again (`_WAIT`) whether an urgent call moved its start,
  and sleeps on if so. The reservation is made before the caller sleeps, so concurrent callers
  queue fairly; nothing is held during the call, so a worker that dies mid-call blocks nothing.
* A 429 empties the chat's bucket until its `retry_after` (or, without a chat, pushes the bot's
  queue back) for every worker.
* Keys (under the store's namespace): `<ns>:rate:bot` (a hash: `next`, the queue's next start;
  `tickets`, the last ticket's number), `<ns>:rate:queue` (a sorted set: the tickets waiting in
  the queue, `<number>:<chat>`, by start), `<ns>:rate:islands` (a sorted set of the starts
  reserved ahead of the queue) and
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

from bot.telegram.api.pacing.limiter import Chat, RateLimiter, Sleep

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
# KEYS: bot hash, islands sorted set, queue sorted set[, chat hash]. ARGV (microseconds):
# interval, chat interval, tolerance (burst - 1 chat intervals); then 1 for an urgent call (else
# 0), the chat ('' for none) and the prefix of the chats' keys (`<ns>:rate:chat:`; a moved
# ticket's chat key is built from it).
# Returns {wait, start, ticket}: start at `start` (Redis time), after sleeping `wait`; `ticket`
# ('' for none) is the call's place in the queue, which an urgent call may move.
_RESERVE = (
    _LUA_COMMON
    + """
local now = now_us()
local bot, islands, queue, chat = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local interval, chat_interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local is_urgent, chat_id, chat_prefix = ARGV[4] == '1', ARGV[5], ARGV[6]
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
redis.call('ZREMRANGEBYSCORE', queue, '-inf', us(now))  -- due: started, or about to
local start
local ticket = ''
if earliest <= next_start then
    start = fit(next_start)
    next_start = start + interval
    push(bot, 'next', next_start, now)
    if interval > 0 then
        ticket = redis.call('HINCRBY', bot, 'tickets', 1) .. ':' .. chat_id
        if is_urgent then
            -- Before the calls waiting from `earliest` on: each moves on to the next one's start.
            -- A call with a later reservation of its chat stays (its bucket), as in-process.
            local waiting = redis.call('ZRANGEBYSCORE', queue, us(earliest), '+inf', 'WITHSCORES')
            local moving, starts = {}, {}
            for i = 1, #waiting, 2 do
                local member = waiting[i]
                local of = string.match(member, '^%d+:(.+)$')
                if not of or redis.call('HGET', chat_prefix .. of, 'ticket') == member then
                    moving[#moving + 1] = member
                    starts[#starts + 1] = tonumber(waiting[i + 1])
                end
            end
            for k, member in ipairs(moving) do
                local later = starts[k + 1] or start
                redis.call('ZADD', queue, us(later), member)
                local of = string.match(member, '^%d+:(.+)$')
                if of then
                    push(chat_prefix .. of, 'full', later + chat_interval, now)
                end
            end
            if #moving > 0 then
                start = starts[1]
            end
        end
        redis.call('ZADD', queue, us(start), ticket)
        keep(queue, next_start, now)
    end
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
    redis.call('HSET', chat, 'ticket', ticket)  -- the chat's last reservation
end
return {start - now, start, ticket}
"""
)
# KEYS: queue sorted set. ARGV: a ticket. Returns {wait, start}: the ticket's start now (an urgent
# call may have moved it), and how long until then; {0, 0} when it is due (gone from the queue).
_WAIT = (
    _LUA_COMMON
    + """
local start = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not start then
    return {0, 0}
end
start = tonumber(start)
return {start - now_us(), start}
"""
)
# KEYS: bot or chat hash. ARGV: microseconds from now, then its fields (`next`, or `full`).
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
        namespace: str = NAMESPACE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        owns_client: bool = False,
    ) -> None:
        self._local = RateLimiter(
            per_second=per_second,
            per_chat=per_chat,
            burst=burst,
            clock=clock,
            sleep=sleep,
        )
        """Paces this process alone while Redis is unreachable (and checks `burst`)."""
        self.burst = burst
        self._redis = client
        self._owns_client = owns_client
        self._interval = micros(1 / per_second) if per_second > 0 else 0
        self._chat_interval = micros(1 / per_chat) if per_chat > 0 else 0
        self._tolerance = (burst - 1) * self._chat_interval
        self._prefix = f"{namespace}:rate"
        self._clock = clock
        self._sleep = sleep
        self._down_until: float | None = None
        self._reserve = client.register_script(_RESERVE)
        self._hold = client.register_script(_HOLD)
        self._wait = client.register_script(_WAIT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        per_second: float,
        per_chat: float,
        burst: int,
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
        clock's while falling back. `is_urgent`: the call shows an urgent result, which goes
        before the calls waiting in the queue (and may move their starts: a caller that slept
        asks Redis again before it starts).
        """
        chat = chat if self._chat_interval else None  # the chat limit is off: no chat key
        keys = [self._key("bot"), self._key("islands"), self._key("queue")]
        if chat is not None:
            keys.append(self._key(f"chat:{chat}"))
        args: list[int | str] = [self._interval, self._chat_interval, self._tolerance]
        args += [int(is_urgent), "" if chat is None else str(chat), self._key("chat:")]
        answer = None
        if self.is_shared:
            answer = await self._call_redis(self._reserve, keys=keys, args=args)
        if answer is None:  # falling back, or Redis just failed
            return await self._local.acquire(chat, is_urgent=is_urgent)
        wait, start, ticket = int(answer[0]), int(answer[1]), answer[2]
        while wait > 0:
            await self._sleep(wait / MICROS)
            if not ticket:
                break  # an island: nothing moves it
            moved = await self._call_redis(self._wait, keys=[self._key("queue")], args=[ticket])
            if moved is None or int(moved[1]) <= start:
                break  # not moved (or due, or Redis just failed): its start has come
            wait, start = int(moved[0]), int(moved[1])  # an urgent call moved it
        return start / MICROS

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
            keys, args = [self._key("bot")], [micros(seconds), "next"]
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
