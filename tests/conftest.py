"""Shared fixtures: the real knowledge base, the Bot API fake, the real Application on it, Redis.

No test reaches a network: `forbid_network` is autouse, except for the store tests and tests that
request `real_network` (a local Redis or a loopback HTTP server). PTB_TIMEDELTA=1 is set for the
whole session: without it PTB warns when reading `RetryAfter.retry_after` (the fake's 429), and
warnings are errors here. `redis_url` and `redis_namespace` give a test the test Redis (db 15 by
default; see `tests/shared.py` for how a missing one skips, or fails under
CRAMPCHECK_REQUIRE_REDIS=1).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint import load_knowledge_base
from bot.store.base import SessionStore
from bot.store.memory import MemoryStore
from bot.telegram.app import AnyApplication, build_application
from tests.fakes.botapi import FakeBotApi, forbid_network
from tests.fakes.driver import ChatDriver
from tests.shared import REDIS_URL, delete_keys, require_redis, running

TOKEN = "123:TEST"
STORE_TESTS = Path(__file__).parent / "store"
NETWORK_FIXTURES = frozenset({"real_network", "redis_url", "redis_namespace", "backend"})


@pytest.fixture(scope="session", autouse=True)
def _ptb_timedelta() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PTB_TIMEDELTA", "1")
        yield


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any socket connection, unless the test is a store test or asks for the network."""
    if NETWORK_FIXTURES & set(request.fixturenames) or STORE_TESTS in request.node.path.parents:
        return
    forbid_network(monkeypatch)


@pytest.fixture
def real_network() -> None:
    """Request this to connect to local services (Redis, a loopback HTTP server)."""


@pytest.fixture
def redis_url(real_network: None) -> str:
    """Return the test Redis URL; skip without Redis (fail under CRAMPCHECK_REQUIRE_REDIS=1).

    Synchronous, so that async fixtures can request it by name (the store tests' `backend`).
    """
    require_redis(REDIS_URL)
    return REDIS_URL


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """Return a fresh key prefix on the test Redis; its keys are deleted afterwards."""
    namespace = f"crampcheck-test-{uuid.uuid4().hex}"
    yield namespace
    delete_keys(redis_url, namespace)


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The real knowledge base from knowledge/ (frozen, so one per session)."""
    return load_knowledge_base()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings for tests: a fake token, a memory store, nothing from the environment or .env."""
    for name in list(os.environ):
        if name.startswith("CRAMPCHECK_") and name.removeprefix("CRAMPCHECK_").lower() in (
            Settings.model_fields
        ):
            monkeypatch.delenv(name)
    return Settings(_env_file=None, token=SecretStr(TOKEN), store="memory://")


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    """The Bot API fake; any violation recorded during the test fails it at teardown."""
    fake = FakeBotApi()
    yield fake
    fake.assert_clean()


@pytest.fixture
def store() -> SessionStore:
    return MemoryStore()


@pytest.fixture
async def app(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> AsyncIterator[AnyApplication]:
    """The real Application on the fake, with post_init/post_shutdown run as run_polling would."""
    async with running(build_application(settings, kb, store, request=api)) as application:
        yield application


@pytest.fixture
def driver(app: AnyApplication, api: FakeBotApi) -> ChatDriver:
    """One user in a private chat with the bot."""
    return ChatDriver(app, api)
