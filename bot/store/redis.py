"""The shared session store: Redis, for several bot processes behind one bot token.

Each session is a hash `<namespace>:sess:<chat>:<user>` with fields `rev` and `data`. Every write
runs as a Lua script, which Redis executes atomically, so compare-and-set holds across processes.
A per-user set `<namespace>:user:<user_id>` lists the user's session keys so /forget needs no
SCAN. Schedules live in one sorted set `<namespace>:schedule` (members: rendered keys, scores:
due times) and, per user, in a set `<namespace>:user:<user_id>:schedule` without TTL, so that
/forget removes them in the same script. The scripts touch keys they are not handed in KEYS, so
this targets a single Redis server (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.engine.errors import ConflictError, StoreError
from bot.store.base import (
    LIFETIMES,
    Record,
    SessionKey,
    check_due_at,
    check_expected_revision,
    check_limit,
    check_scope,
    check_ttl,
    lifetime,
)

logger = logging.getLogger(__name__)

# KEYS: session hash, user set. ARGV: expected revision, data, TTL in ms (0: none).
# Returns {1, new revision} or {0, stored revision (0 when absent)}. The user set must outlive
# every record it lists (/forget finds them through it), so its TTL is only ever lengthened:
# a record of a longer-lived scope (base.LIFETIMES) may sit beside ones with the idle TTL.
_PUT_SCRIPT = """
local expected = tonumber(ARGV[1])
local stored = tonumber(redis.call('HGET', KEYS[1], 'rev') or '0')
if stored ~= expected then
    return {0, stored}
end
redis.call('HSET', KEYS[1], 'rev', expected + 1, 'data', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    if redis.call('PTTL', KEYS[2]) < ttl then
        redis.call('PEXPIRE', KEYS[2], ttl)
    end
else
    redis.call('PERSIST', KEYS[1])
    redis.call('PERSIST', KEYS[2])
end
return {1, expected + 1}
"""
# KEYS: session hash, user set. Returns how many sessions went (0 or 1).
_DELETE_SCRIPT = """
local removed = redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
return removed
"""
# KEYS: user set, schedule sorted set, user schedule set. Returns how many live sessions went;
# expired members are already gone.
_DELETE_USER_SCRIPT = """
local removed = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
    removed = removed + redis.call('DEL', key)
end
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    redis.call('ZREM', KEYS[2], member)
end
redis.call('DEL', KEYS[1], KEYS[3])
return removed
"""
# KEYS: schedule sorted set, user schedule set. ARGV: rendered key, due time.
_SCHEDULE_SCRIPT = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
"""
# KEYS: schedule sorted set, user schedule set. ARGV: rendered key. Returns 1 if it was there.
_UNSCHEDULE_SCRIPT = """
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
"""
_SCAN_BATCH = 500


class RedisStore:
    """Keep sessions in Redis hashes; build it with `RedisStore.from_url(url)`."""

    def __init__(
        self,
        client: Redis,
        *,
        ttl_seconds: float | None = None,
        namespace: str = "crampcheck",
        lifetimes: Mapping[str, float] = LIFETIMES,
    ) -> None:
        if not namespace:
            raise ValueError("namespace must not be empty")
        self._redis = client
        self._ttl = check_ttl(ttl_seconds)
        self._lifetimes = lifetimes
        self._namespace = namespace
        self._put_script = client.register_script(_PUT_SCRIPT)
        self._delete_script = client.register_script(_DELETE_SCRIPT)
        self._delete_user_script = client.register_script(_DELETE_USER_SCRIPT)
        self._schedule_script = client.register_script(_SCHEDULE_SCRIPT)
        self._unschedule_script = client.register_script(_UNSCHEDULE_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ttl_seconds: float | None = None,
        namespace: str = "crampcheck",
        lifetimes: Mapping[str, float] = LIFETIMES,
    ) -> RedisStore:
        """Build a store on a `redis://` or `rediss://` URL; connects on first use."""
        client = Redis.from_url(url, decode_responses=True)
        logger.info("using Redis session store, namespace %s (ttl %s s)", namespace, ttl_seconds)
        return cls(client, ttl_seconds=ttl_seconds, namespace=namespace, lifetimes=lifetimes)

    async def ping(self) -> None:
        """Round-trip to the server; raise StoreError if it does not answer."""
        try:
            await self._redis.ping()
        except RedisError as exc:
            # The cause names host and port but never the password, so it may be chained.
            raise StoreError(f"Redis store unreachable ({type(exc).__name__})") from exc

    async def get(self, key: SessionKey) -> Record | None:
        """Return the live record under `key`, or None."""
        revision, data = await self._redis.hmget(self._session_key(key), ["rev", "data"])
        if revision is None or data is None:
            return None
        return Record(int(revision), str(data))

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        """Store `data` if the live revision is `expected_revision`; return the new revision."""
        check_expected_revision(expected_revision)
        life = lifetime(key.scope, self._ttl, self._lifetimes)
        ttl_ms = 0 if life is None else max(1, math.ceil(life * 1000))
        result: Any = await self._put_script(
            keys=[self._session_key(key), self._user_key(key.user_id)],
            args=[expected_revision, data, ttl_ms],
        )
        is_written, revision = int(result[0]), int(result[1])
        if not is_written:
            actual = revision or None  # the script reports an absent record as 0
            logger.debug(
                "conflict on %s: expected %d, found %s", key.render(), expected_revision, actual
            )
            raise ConflictError(key.render(), expected_revision, actual)
        return revision

    async def delete(self, key: SessionKey) -> bool:
        """Remove the record under `key`; return whether a live one was there."""
        keys = [self._session_key(key), self._user_key(key.user_id)]
        removed: Any = await self._delete_script(keys=keys)
        return int(removed) > 0

    async def delete_user(self, user_id: int) -> int:
        """Erase every record and schedule of `user_id`; return how many records there were."""
        keys = [self._user_key(user_id), self._schedule_key(), self._user_schedule_key(user_id)]
        removed: Any = await self._delete_user_script(keys=keys)
        return int(removed)

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        """Make `key` due at `due_at`, replacing an earlier due time."""
        keys = [self._schedule_key(), self._user_schedule_key(key.user_id)]
        await self._schedule_script(keys=keys, args=[key.render(), repr(check_due_at(due_at))])

    async def unschedule(self, key: SessionKey) -> bool:
        """Remove the schedule of `key`; return whether there was one."""
        keys = [self._schedule_key(), self._user_schedule_key(key.user_id)]
        removed: Any = await self._unschedule_script(keys=keys, args=[key.render()])
        return int(removed) > 0

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        """Return up to `limit` schedules due at or before `now`, oldest first."""
        rows: Any = await self._redis.zrangebyscore(
            self._schedule_key(),
            "-inf",
            repr(float(now)),
            start=0,
            num=check_limit(limit),
            withscores=True,
        )
        return [(SessionKey.parse(member), float(score)) for member, score in rows]

    async def count(self) -> int:
        """Return the number of live records; SCANs the namespace, O(n), for stats only."""
        pattern = f"{_escape_glob(self._namespace)}:sess:*"
        # SCAN may return a key twice, so count distinct names.
        keys = {key async for key in self._redis.scan_iter(match=pattern, count=_SCAN_BATCH)}
        return len(keys)

    async def scan(self, scope: str) -> AsyncIterator[Record]:
        """Yield every live record of `scope`; SCANs the namespace, O(n), for stats only."""
        prefix = f"{self._namespace}:{check_scope(scope)}:"
        seen: set[str] = set()  # SCAN may return a key twice
        batch: list[str] = []
        async for name in self._redis.scan_iter(
            match=f"{_escape_glob(prefix)}*", count=_SCAN_BATCH
        ):
            if name not in seen and self._is_record(name):
                seen.add(name)
                batch.append(name)
            if len(batch) >= _SCAN_BATCH:
                for record in await self._read_many(batch):
                    yield record
                batch = []
        for record in await self._read_many(batch):
            yield record

    def _is_record(self, name: str) -> bool:
        """Tell a record's key from the per-user sets that share its prefix (scope `user`)."""
        try:
            SessionKey.parse(name.removeprefix(f"{self._namespace}:"))
        except ValueError:
            return False
        return True

    async def _read_many(self, names: list[str]) -> list[Record]:
        """Read the records under `names` in one round trip; expired ones are skipped."""
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(name, ["rev", "data"])
            rows: list[Any] = await pipe.execute()
        return [Record(int(rev), str(data)) for rev, data in rows if None not in (rev, data)]

    async def close(self) -> None:
        """Close the client and its connection pool."""
        await self._redis.aclose()

    def _session_key(self, key: SessionKey) -> str:
        return f"{self._namespace}:{key.render()}"

    def _user_key(self, user_id: int) -> str:
        return f"{self._namespace}:user:{user_id}"

    def _schedule_key(self) -> str:
        return f"{self._namespace}:schedule"

    def _user_schedule_key(self, user_id: int) -> str:
        return f"{self._namespace}:user:{user_id}:schedule"


def _escape_glob(text: str) -> str:
    """Escape the characters SCAN MATCH treats as a pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)
