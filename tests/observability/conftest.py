"""Fixtures for the operations tests: an observed bot on a real SQLite file and the fake API."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import Metrics
from bot.observability.observer import Observer
from bot.store.sqlite import SqliteStore
from bot.telegram.app import AnyApplication, build_application
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.shared import running

CHAT_ID = 987_654_321_987
"""Long and unusual, so that finding it in a metric or log line cannot be a coincidence."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def metrics(kb: KnowledgeBase) -> Metrics:
    """Metrics on a registry of their own: nothing leaks between tests."""
    return Metrics(kb)


@pytest.fixture
def observer(settings: Settings, kb: KnowledgeBase, metrics: Metrics) -> Observer:
    return Observer(settings, kb, metrics=metrics)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A store on a real SQLite file, closed afterwards (closing twice is harmless)."""
    store = await SqliteStore.open(tmp_path / "sessions.db")
    yield store
    await store.close()


@pytest.fixture
async def observed_app(
    settings: Settings,
    kb: KnowledgeBase,
    sqlite_store: SqliteStore,
    api: FakeBotApi,
    observer: Observer,
) -> AsyncIterator[AnyApplication]:
    """The real Application with an Observer, on SQLite and the fake, started as PTB would."""
    application = build_application(settings, kb, sqlite_store, request=api, observer=observer)
    async with running(application):
        yield application


@pytest.fixture
def observed_driver(observed_app: AnyApplication, api: FakeBotApi) -> ChatDriver:
    """One user in a private chat with the observed bot."""
    return ChatDriver(observed_app, api, chat_id=CHAT_ID)
