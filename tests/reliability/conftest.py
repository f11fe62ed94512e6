"""Fixtures for the reliability tests: the application on the fake, its processor, Redis.

Redis comes from CRAMPCHECK_TEST_REDIS (default redis://127.0.0.1:6379/15); without one the
Redis cases skip with the reason, unless CRAMPCHECK_REQUIRE_REDIS=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.exceptions

from bot.config import Settings
from bot.engine.models import KnowledgeBase
from bot.store.base import SessionStore
from bot.telegram.app import AnyApplication, build_application
from bot.telegram.processing import UpdateProcessor
from tests.fakes.botapi import FakeBotApi
from tests.reliability.helpers import CHAT, running

REDIS_URL = os.environ.get("CRAMPCHECK_TEST_REDIS", "redis://127.0.0.1:6379/15")
IS_REDIS_REQUIRED = os.environ.get("CRAMPCHECK_REQUIRE_REDIS") == "1"


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    """The Bot API fake with one private chat; any violation fails the test at teardown."""
    fake = FakeBotApi()
    fake.register_chat(CHAT, first_name="Alex")
    yield fake
    fake.assert_clean()


@pytest.fixture
async def app(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> AsyncIterator[AnyApplication]:
    async with running(build_application(settings, kb, store, request=api)) as application:
        yield application


@pytest.fixture
def processor(app: AnyApplication, store: SessionStore) -> UpdateProcessor:
    return UpdateProcessor(app, store)


@pytest.fixture
def redis_namespace(real_network: None) -> Iterator[str]:
    """Return a fresh namespace on the test Redis, deleted afterwards; skip if Redis is down."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        reason = f"Redis not reachable at {REDIS_URL} ({error}): set CRAMPCHECK_TEST_REDIS"
        if IS_REDIS_REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    namespace = f"crampcheck-rel-{uuid.uuid4().hex}"
    try:
        yield namespace
        for key in client.scan_iter(match=f"{namespace}:*"):
            client.delete(key)
    finally:
        client.close()
