"""Redis-only behaviour: the idle TTL lives in Redis (PEXPIRE), checked with PTTL, not sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from bot.engine.errors import ConflictError
from bot.store import Record, SessionKey
from bot.store.redis import RedisStore

KEY = SessionKey(chat_id=-1001, user_id=77)
DATA = '{"node_id": "start"}'


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
def namespace(redis_namespace: str) -> str:
    """This test's namespace: its keys, and those of namespaces that extend it, are deleted."""
    return redis_namespace


@pytest.fixture
async def ttl_store(redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    store = RedisStore.from_url(redis_url, ttl_seconds=60.5, namespace=namespace)
    yield store
    await store.close()


async def test_put_sets_idle_ttl_in_milliseconds_on_record_and_user_set(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await ttl_store.put(KEY, DATA, expected_revision=0)

    assert 60_000 < await client.pttl(f"{namespace}:sess:-1001:77") <= 60_500
    assert 60_000 < await client.pttl(f"{namespace}:user:77") <= 60_500


async def test_a_plan_gets_its_own_lifetime_and_the_user_set_is_never_shortened(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    """base.LIFETIMES: a /sweat plan lives 31 days; a later put with the idle TTL must not cut
    the user set (which /forget reads) below that."""
    plan = SessionKey(KEY.chat_id, KEY.user_id, scope="plan")
    await ttl_store.put(plan, DATA, expected_revision=0)
    await ttl_store.put(KEY, DATA, expected_revision=0)

    month = 31 * 86_400_000
    assert month - 5_000 < await client.pttl(f"{namespace}:plan:-1001:77") <= month
    assert 60_000 < await client.pttl(f"{namespace}:sess:-1001:77") <= 60_500
    assert month - 5_000 < await client.pttl(f"{namespace}:user:77") <= month


async def test_put_refreshes_idle_ttl(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await ttl_store.put(KEY, DATA, expected_revision=0)
    await client.pexpire(f"{namespace}:sess:-1001:77", 50)

    await ttl_store.put(KEY, DATA, expected_revision=1)

    assert await client.pttl(f"{namespace}:sess:-1001:77") > 60_000


async def test_failed_put_does_not_refresh_idle_ttl(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await ttl_store.put(KEY, DATA, expected_revision=0)
    await client.pexpire(f"{namespace}:sess:-1001:77", 5_000)

    with pytest.raises(ConflictError):
        await ttl_store.put(KEY, DATA, expected_revision=0)

    assert await client.pttl(f"{namespace}:sess:-1001:77") <= 5_000


async def test_store_without_ttl_keeps_keys_forever(
    redis_url: str, client: redis.asyncio.Redis, namespace: str
) -> None:
    store = RedisStore.from_url(redis_url, namespace=namespace)
    try:
        await store.put(KEY, DATA, expected_revision=0)
    finally:
        await store.close()

    assert await client.pttl(f"{namespace}:sess:-1001:77") == -1
    assert await client.pttl(f"{namespace}:user:77") == -1


async def test_namespaces_do_not_see_each_other(redis_url: str, namespace: str) -> None:
    mine = RedisStore.from_url(redis_url, namespace=namespace)
    other = RedisStore.from_url(redis_url, namespace=f"{namespace}-other")
    try:
        await mine.put(KEY, DATA, expected_revision=0)

        assert await other.get(KEY) is None
        assert await other.count() == 0
        assert await other.delete_user(KEY.user_id) == 0
        assert await mine.get(KEY) == Record(1, DATA)
    finally:
        await mine.close()
        await other.close()


async def test_count_treats_glob_characters_in_namespace_literally(
    redis_url: str, namespace: str
) -> None:
    star = RedisStore.from_url(redis_url, namespace=f"{namespace}*")
    plain = RedisStore.from_url(redis_url, namespace=f"{namespace}x")
    try:
        await plain.put(KEY, DATA, expected_revision=0)

        assert await star.count() == 0
        assert await plain.count() == 1
    finally:
        await star.close()
        await plain.close()
