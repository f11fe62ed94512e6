"""The shared session store: Redis, for several bot processes behind one bot token.

Each record is a string under `<namespace>:<scope>:<chat>:<user>` holding `<revision>:<JSON>`
(a hash with a JSON longer than 64 bytes, hash-max-listpack-value, is a full hash table, about
160 bytes more). A per-user hash `<namespace>:user:<user_id>` lists the user's record keys as
fields (value "1"), so /forget needs no SCAN; small, it keeps Redis's compact listpack
encoding (a set of strings is a hash table before Redis 7.2), and it lives as long as the
longest-lived record it lists: never shorter than a record of a scope that outlives the idle TTL
(`base.LIFETIMES`: the /sweat plan, the trip card), so /forget still finds that record. Every
write runs as a Lua script, which Redis executes atomically, so compare-and-set holds across
processes.

Older releases kept each record as a hash (fields `rev` and `data`) and the per-user index as a
set. Both still read, compare and delete as before, and every write converts what it touches:
a put rewrites its record as a string and the user's set as a hash (dropping keys that are
gone); a delete converts what is left of the set. Reads never write.

Schedules live in one sorted set `<namespace>:schedule` (members: rendered keys, scores: due
times) and, per user, in a set `<namespace>:user:<user_id>:schedule` without TTL, so that
/forget removes them in the same script. The scripts touch keys they are not handed in KEYS, so
this targets a single Redis server (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError, ResponseError

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

# Lua shared by the write scripts. A record is a string "<revision>:<JSON>" or, written by an
# older release, a hash {rev, data}; a user index is a hash of record keys or, older, a set.
_RECORD_LUA = """
local function stored_revision(key)
    local kind = redis.call('TYPE', key).ok
    if kind == 'none' then
        return 0
    elseif kind == 'string' then
        return tonumber(string.match(redis.call('GETRANGE', key, 0, 20), '^(%d+):'))
    elseif kind == 'hash' then
        return tonumber(redis.call('HGET', key, 'rev') or '0')
    end
    return nil
end
"""
_INDEX_LUA = """
local function index_as_hash(index)
    if redis.call('TYPE', index).ok ~= 'set' then
        return
    end
    local ttl = redis.call('PTTL', index)
    local members = redis.call('SMEMBERS', index)
    redis.call('DEL', index)
    for _, member in ipairs(members) do
        redis.call('HSET', index, member, '1')
    end
    if ttl > 0 then
        redis.call('PEXPIRE', index, ttl)
    end
end
local function refresh_index_ttl(index)
    local longest = 0
    for _, key in ipairs(redis.call('HKEYS', index)) do
        local ttl = redis.call('PTTL', key)
        if ttl == -2 then
            redis.call('HDEL', index, key)
        elseif ttl == -1 or longest == -1 then
            longest = -1
        elseif ttl > longest then
            longest = ttl
        end
    end
    if longest == -1 then
        redis.call('PERSIST', index)
    elseif longest > 0 then
        redis.call('PEXPIRE', index, longest)
    end
end
"""
# KEYS: record, user index. ARGV: expected revision, "<new revision>:<data>", TTL in ms (0:
# none). Returns {1, new revision} or {0, stored revision (0 when absent)}. The index is written
# before the record so that an index of the wrong type fails the script before any change; it
# then lives as long as its longest-lived record (for ever if one has no TTL, as records of a
# store without TTL have), and forgets the records that are gone.
_PUT_SCRIPT = (
    _RECORD_LUA
    + _INDEX_LUA
    + """
local expected = tonumber(ARGV[1])
local stored = stored_revision(KEYS[1])
if stored == nil then
    return redis.error_reply('malformed session record ' .. KEYS[1])
end
if stored ~= expected then
    return {0, stored}
end
index_as_hash(KEYS[2])
redis.call('HSET', KEYS[2], KEYS[1], '1')
local ttl = tonumber(ARGV[3])
if ttl > 0 then
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
    redis.call('SET', KEYS[1], ARGV[2])
end
refresh_index_ttl(KEYS[2])
return {1, expected + 1}
"""
)
# KEYS: record, user index. Returns how many records went (0 or 1).
_DELETE_SCRIPT = (
    _INDEX_LUA
    + """
local removed = redis.call('DEL', KEYS[1])
index_as_hash(KEYS[2])
redis.call('HDEL', KEYS[2], KEYS[1])
return removed
"""
)
# KEYS: user index, schedule sorted set, user schedule set. Returns how many live records went;
# expired ones are already gone.
_DELETE_USER_SCRIPT = """
local kind = redis.call('TYPE', KEYS[1]).ok
local keys = {}
if kind == 'hash' then
    keys = redis.call('HKEYS', KEYS[1])
elseif kind == 'set' then
    keys = redis.call('SMEMBERS', KEYS[1])
end
local removed = 0
for _, key in ipairs(keys) do
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
POOL_SIZE = 128
"""Connections at most in the process's one pool (store, chat locks, pacer)."""
POOL_WAIT_SECONDS = 5.0
"""How long a call waits for a free connection before it fails (StoreError upstream)."""
SOCKET_TIMEOUT_SECONDS = 5.0
"""Connect and read timeout: a Redis that stopped answering fails a call, never hangs it."""


class RedisStore:
    """Keep sessions in Redis strings; build it with `RedisStore.from_url(url)`."""

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
        """Build a store on a `redis://` or `rediss://` URL; connects on first use.

        Its client is the process's one Redis pool: the chat locks and the pacer use it too
        (`client`). A blocking pool: a call beyond `POOL_SIZE` at once waits for a free
        connection (at most `POOL_WAIT_SECONDS`) instead of failing, as redis-py's default pool
        of 100 does under a burst.
        """
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            decode_responses=True,
            client_name=f"{namespace}-bot",
        )
        logger.info("using Redis session store, namespace %s (ttl %s s)", namespace, ttl_seconds)
        client = Redis.from_pool(pool)
        return cls(client, ttl_seconds=ttl_seconds, namespace=namespace, lifetimes=lifetimes)

    @property
    def client(self) -> Redis:
        """The store's Redis client, which the chat locks and the pacer share; the store closes
        it."""
        return self._redis

    async def ping(self) -> None:
        """Round-trip to the server; raise StoreError if it does not answer."""
        try:
            await self._redis.ping()
        except RedisError as exc:
            # The cause names host and port but never the password, so it may be chained.
            raise StoreError(f"Redis store unreachable ({type(exc).__name__})") from exc

    async def get(self, key: SessionKey) -> Record | None:
        """Return the live record under `key`, or None."""
        name = self._session_key(key)
        try:
            value: Any = await self._redis.get(name)
        except ResponseError as exc:
            if not _is_wrong_type(exc):
                raise
            return await self._get_hash(name)  # written by an older release
        return None if value is None else _parse_record(name, value)

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        """Return the live record under each of `keys` (None where there is none), in order, in
        one round trip."""
        names = list(dict.fromkeys(self._session_key(key) for key in keys))
        found = dict(await self._read_many(names))
        return [found.get(key) for key in keys]

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        """Store `data` if the live revision is `expected_revision`; return the new revision."""
        check_expected_revision(expected_revision)
        life = lifetime(key.scope, self._ttl, self._lifetimes)
        ttl_ms = 0 if life is None else max(1, math.ceil(life * 1000))
        result: Any = await self._put_script(
            keys=[self._session_key(key), self._user_key(key.user_id)],
            args=[expected_revision, f"{expected_revision + 1}:{data}", ttl_ms],
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

    async def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        """Yield every live record of `scope` with its key; SCANs the namespace, O(n)."""
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
                for keyed in await self._read_many(batch):
                    yield keyed
                batch = []
        for keyed in await self._read_many(batch):
            yield keyed

    def _key_of(self, name: str) -> SessionKey:
        return SessionKey.parse(name.removeprefix(f"{self._namespace}:"))

    def _is_record(self, name: str) -> bool:
        """Tell a record's key from the per-user indexes and schedule sets (scope `user`)."""
        try:
            SessionKey.parse(name.removeprefix(f"{self._namespace}:"))
        except ValueError:
            return False
        return True

    async def _read_many(self, names: list[str]) -> list[tuple[SessionKey, Record]]:
        """Read the records under `names` in one round trip, with their keys; expired ones are
        skipped."""
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.get(name)
            values: list[Any] = await pipe.execute(raise_on_error=False)
        records, hashes = [], []
        for name, value in zip(names, values, strict=True):
            if isinstance(value, ResponseError) and _is_wrong_type(value):
                hashes.append(name)  # written by an older release
            elif isinstance(value, Exception):
                raise value
            elif value is not None:
                records.append((self._key_of(name), _parse_record(name, value)))
        return records + await self._read_hashes(hashes)

    async def _get_hash(self, name: str) -> Record | None:
        """Read a record an older release wrote as a hash {rev, data}."""
        revision, data = await self._redis.hmget(name, ["rev", "data"])
        if revision is None or data is None:
            return None
        return Record(int(revision), str(data))

    async def _read_hashes(self, names: list[str]) -> list[tuple[SessionKey, Record]]:
        """Read many records an older release wrote as hashes, in one round trip."""
        if not names:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(name, ["rev", "data"])
            rows: list[Any] = await pipe.execute()
        return [
            (self._key_of(name), Record(int(rev), str(data)))
            for name, (rev, data) in zip(names, rows, strict=True)
            if None not in (rev, data)
        ]

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


def _parse_record(name: str, value: str) -> Record:
    """Split a stored `<revision>:<JSON>` string; StoreError if it is not one."""
    revision, separator, data = value.partition(":")
    if not (separator and revision.isascii() and revision.isdigit()):
        raise StoreError(f"malformed session record {name}")
    return Record(int(revision), data)


def _is_wrong_type(error: ResponseError) -> bool:
    """Tell Redis's WRONGTYPE error (a hash where a string was read) from other errors."""
    return str(error).startswith("WRONGTYPE")
