"""Shared fixtures: the real knowledge base, the Bot API fake, and the real Application on it.

No test reaches a network: `forbid_network` is autouse, except for the store tests and tests that
request `real_network` (a local Redis or a loopback HTTP server). PTB_TIMEDELTA=1 is set for the
whole session: without it PTB warns when reading `RetryAfter.retry_after` (the fake's 429), and
warnings are errors here.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.engine.loader import load_knowledge_base
from bot.engine.models import KnowledgeBase
from bot.store.base import SessionStore
from bot.store.memory import MemoryStore
from bot.telegram.app import AnyApplication, build_application
from tests.fakes.botapi import FakeBotApi, forbid_network
from tests.fakes.driver import ChatDriver

TOKEN = "123:TEST"
STORE_TESTS = Path(__file__).parent / "store"
NETWORK_FIXTURES = frozenset({"real_network", "redis_url", "backend"})


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
    return Settings(_env_file=None, token=SecretStr(TOKEN), store="memory://")  # type: ignore[call-arg]


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
    application = build_application(settings, kb, store, request=api)
    async with application:
        assert application.post_init is not None
        await application.post_init(application)
        yield application
    assert application.post_shutdown is not None
    await application.post_shutdown(application)


@pytest.fixture
def driver(app: AnyApplication, api: FakeBotApi) -> ChatDriver:
    """One user in a private chat with the bot."""
    return ChatDriver(app, api)
