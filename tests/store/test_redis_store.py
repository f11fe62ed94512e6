"""Redis-only behaviour: the key layout and its memory cost, the idle TTL (checked with PTTL, not
sleeps), and records and user indexes in the layout of older releases, written by hand here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio
from redis.exceptions import ResponseError

from bot.engine.errors import ConflictError, StoreError
from bot.store import Record, SessionKey, open_store, shared_client
from bot.store.base import PROFILE
from bot.store.redis import RedisStore

KEY = SessionKey(chat_id=-1001, user_id=77)
OTHER_CHAT = SessionKey(chat_id=-1002, user_id=77)
DATA = '{"node_id": "start"}'
REALISTIC = json.dumps(
    {
        "format": 4,
        "session": {
            "format": 3,
            "kb": "2026.12.1",
            "rev": 14,
            "answers": {
                "emergency_signs": [],
                "muscle": ["calf", "thigh"],
                "unwell": [],
                "about_you": ["cramp_timing_at_night_or_rest", "cramp_linked_medication_statin"],
                "exercise_intensity": "hard",
                "heat_exposure": "hot_humid",
                "fluid_intake": "water_only",
                "urine_colour": "no",
                "cramp_duration": "minutes",
                "sweat_loss": "heavy",
                "salt_intake": "low",
                "pregnancy": "no",
                "leg_swelling": "no",
            },
            "tailor": 9,
        },
        "message_id": 48213,
        "updates": list(range(812345670, 812345678)),
        "view": 14,
        "shown": 14,
        "fresh": 1,
        "screen_rev": 14,
        "offer": 14,
    },
    separators=(",", ":"),
)
"""A conversation record of 600 bytes, shaped as the bot writes them (bench average: 268)."""


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


async def test_put_sets_idle_ttl_in_milliseconds_on_record_and_user_index(
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


# --- the layout ---------------------------------------------------------------------------------


async def test_a_record_is_a_string_of_revision_and_json_indexed_in_a_user_hash(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await ttl_store.put(KEY, DATA, expected_revision=0)
    await ttl_store.put(KEY, '{"v": 2}', expected_revision=1)

    assert await client.type(f"{namespace}:sess:-1001:77") == "string"
    assert await client.get(f"{namespace}:sess:-1001:77") == '2:{"v": 2}'
    assert await client.type(f"{namespace}:user:77") == "hash"
    assert await client.hgetall(f"{namespace}:user:77") == {f"{namespace}:sess:-1001:77": "1"}


async def test_a_session_and_its_user_index_take_at_most_1024_bytes_of_redis_memory(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    """The target of "Real people tap fast"; the older hash and set took 1,216 bytes here."""
    await ttl_store.put(KEY, REALISTIC, expected_revision=0)
    record, index = f"{namespace}:sess:-1001:77", f"{namespace}:user:77"

    used = [await client.memory_usage(name, samples=0) or 0 for name in (record, index)]

    assert all(used), used  # both keys are there
    assert sum(used) <= 1024, used
    assert await client.object("encoding", index) in ("listpack", "ziplist")  # compact


# --- records and indexes older releases wrote --------------------------------------------------


async def write_old(
    client: redis.asyncio.Redis,
    namespace: str,
    key: SessionKey,
    record: Record,
    *,
    ttl_ms: int | None = None,
) -> str:
    """Write `record` as releases before the string layout did: a hash and a user set."""
    name, index = f"{namespace}:{key.render()}", f"{namespace}:user:{key.user_id}"
    await client.hset(name, mapping={"rev": record.revision, "data": record.data})
    await client.sadd(index, name)
    if ttl_ms is not None:
        await client.pexpire(name, ttl_ms)
        await client.pexpire(index, ttl_ms)
    return name


async def test_get_reads_a_record_an_older_release_wrote_as_a_hash(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await write_old(client, namespace, KEY, Record(12, DATA), ttl_ms=60_000)

    assert await ttl_store.get(KEY) == Record(12, DATA)
    assert await client.type(f"{namespace}:sess:-1001:77") == "hash"  # reading writes nothing


async def test_put_compares_against_an_old_hash_record_and_converts_record_and_index(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    name = await write_old(client, namespace, KEY, Record(12, DATA))  # no TTL, as some had

    assert await ttl_store.put(KEY, '{"v": 13}', expected_revision=12) == 13

    assert await ttl_store.get(KEY) == Record(13, '{"v": 13}')
    assert await client.get(name) == '13:{"v": 13}'
    assert await client.hgetall(f"{namespace}:user:77") == {name: "1"}
    assert 60_000 < await client.pttl(name) <= 60_500
    assert 60_000 < await client.pttl(f"{namespace}:user:77") <= 60_500


async def test_put_with_a_stale_revision_leaves_an_old_record_and_index_as_they_were(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    name = await write_old(client, namespace, KEY, Record(12, DATA), ttl_ms=5_000)

    with pytest.raises(ConflictError) as raised:
        await ttl_store.put(KEY, '{"v": 12}', expected_revision=11)
    with pytest.raises(ConflictError):
        await ttl_store.put(KEY, '{"v": 1}', expected_revision=0)

    assert raised.value.actual == 12
    assert await client.hgetall(name) == {"rev": "12", "data": DATA}
    assert await client.smembers(f"{namespace}:user:77") == {name}
    assert await client.pttl(name) <= 5_000


async def test_concurrent_puts_on_an_old_record_from_two_processes_have_one_winner(
    redis_url: str, client: redis.asyncio.Redis, namespace: str
) -> None:
    await write_old(client, namespace, KEY, Record(5, DATA))
    stores = [RedisStore.from_url(redis_url, namespace=namespace) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(
                store.put(KEY, f'{{"by": {number}}}', expected_revision=5)
                for number, store in enumerate(stores * 5)
            ),
            return_exceptions=True,
        )
    finally:
        for store in stores:
            await store.close()

    assert results.count(6) == 1
    assert sum(isinstance(result, ConflictError) for result in results) == 9
    assert str(await client.get(f"{namespace}:sess:-1001:77")).startswith("6:")


async def test_put_turns_the_old_user_set_into_a_hash_of_the_keys_still_there(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    kept = await write_old(client, namespace, OTHER_CHAT, Record(3, DATA), ttl_ms=30_000)
    await client.sadd(f"{namespace}:user:77", f"{namespace}:sess:-1003:77")  # expired long ago

    await ttl_store.put(KEY, DATA, expected_revision=0)

    assert await client.hgetall(f"{namespace}:user:77") == {
        kept: "1",
        f"{namespace}:sess:-1001:77": "1",
    }
    assert await client.type(kept) == "hash"  # only the record written is converted
    assert await ttl_store.get(OTHER_CHAT) == Record(3, DATA)


async def test_delete_removes_an_old_record_and_converts_the_rest_of_the_user_set(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await write_old(client, namespace, KEY, Record(4, DATA), ttl_ms=30_000)
    kept = await write_old(client, namespace, OTHER_CHAT, Record(2, DATA), ttl_ms=30_000)

    assert await ttl_store.delete(KEY) is True

    assert await ttl_store.get(KEY) is None
    assert await client.hgetall(f"{namespace}:user:77") == {kept: "1"}
    assert 25_000 < await client.pttl(f"{namespace}:user:77") <= 30_000
    assert await ttl_store.get(OTHER_CHAT) == Record(2, DATA)


async def test_delete_user_erases_old_records_listed_in_an_old_user_set(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await write_old(client, namespace, KEY, Record(4, DATA))
    await write_old(client, namespace, SessionKey(0, 77, PROFILE), Record(1, "{}"))
    await write_old(client, namespace, SessionKey(-1001, 78), Record(1, DATA))

    assert await ttl_store.delete_user(77) == 2

    assert await client.keys(f"{namespace}:*77") == []
    assert await ttl_store.get(SessionKey(-1001, 78)) == Record(1, DATA)


async def test_delete_user_erases_records_of_both_layouts_in_one_index(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await write_old(client, namespace, OTHER_CHAT, Record(4, DATA), ttl_ms=30_000)
    await ttl_store.put(KEY, DATA, expected_revision=0)

    assert await ttl_store.delete_user(77) == 2

    assert await client.keys(f"{namespace}:*") == []


async def test_count_and_scan_include_records_older_releases_wrote(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await write_old(client, namespace, OTHER_CHAT, Record(4, '{"old": true}'))
    await ttl_store.put(KEY, '{"new": true}', expected_revision=0)

    scanned = [record async for _, record in ttl_store.scan("sess")]

    assert await ttl_store.count() == 2
    assert sorted(scanned, key=lambda record: record.data) == [
        Record(1, '{"new": true}'),
        Record(4, '{"old": true}'),
    ]


async def test_user_index_lives_as_long_as_a_record_without_ttl_that_it_lists(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    """Else /forget, which reads the index, would miss a record kept from a store without TTL."""
    kept = await write_old(client, namespace, OTHER_CHAT, Record(4, DATA))  # no TTL at all

    await ttl_store.put(KEY, DATA, expected_revision=0)
    assert await client.pttl(f"{namespace}:user:77") == -1

    await ttl_store.put(OTHER_CHAT, DATA, expected_revision=4)  # now it has the idle TTL too
    assert 60_000 < await client.pttl(f"{namespace}:user:77") <= 60_500
    assert await client.type(kept) == "string"


async def test_put_forgets_index_entries_of_records_that_expired(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await ttl_store.put(OTHER_CHAT, DATA, expected_revision=0)
    await client.delete(f"{namespace}:sess:-1002:77")  # as its expiry would

    await ttl_store.put(KEY, DATA, expected_revision=0)

    assert await client.hkeys(f"{namespace}:user:77") == [f"{namespace}:sess:-1001:77"]


async def test_a_malformed_record_is_an_error_and_is_not_overwritten(
    ttl_store: RedisStore, client: redis.asyncio.Redis, namespace: str
) -> None:
    await client.set(f"{namespace}:sess:-1001:77", "not a record")

    with pytest.raises(StoreError, match="malformed"):
        await ttl_store.get(KEY)
    with pytest.raises(ResponseError, match="malformed"):
        await ttl_store.put(KEY, DATA, expected_revision=0)
    assert await client.get(f"{namespace}:sess:-1001:77") == "not a record"


async def test_the_store_lends_its_one_pool_and_a_burst_waits_for_a_connection(
    redis_url: str, tmp_path: Path
) -> None:
    """Many more calls at once than the pool has connections wait for one instead of failing
    (redis-py's default pool refuses the 101st), and the chat locks and the pacer get the
    store's own client: one pool per process."""
    store = await open_store(redis_url, ttl_seconds=60)
    other = await open_store(f"sqlite:///{tmp_path}/s.db", ttl_seconds=60)
    try:
        client = shared_client(store)
        assert client is not None
        assert shared_client(other) is None
        keys = [SessionKey(-5000 - n, 5000 + n) for n in range(300)]
        await asyncio.gather(*(store.put(key, "{}", expected_revision=0) for key in keys))
        assert all(await asyncio.gather(*(store.get(key) for key in keys)))
        assert await client.ping()
        for key in keys:
            await store.delete(key)
    finally:
        await store.close()
        await other.close()
