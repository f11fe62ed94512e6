"""Fixtures for the reliability tests: the Bot API fake with one chat, and the update processor.

The application (`app`) and the test Redis (`redis_url`, `redis_namespace`) come from
`tests/conftest.py`; `app` runs on the `api` defined here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.store.base import SessionStore
from bot.telegram.app import AnyApplication
from bot.telegram.delivery.processing import UpdateProcessor
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import CHAT, SettledProcessor


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    """The Bot API fake with one private chat; any violation fails the test at teardown."""
    fake = FakeBotApi()
    fake.register_chat(CHAT, first_name="Alex")
    yield fake
    fake.assert_clean()


@pytest.fixture
def processor(app: AnyApplication, store: SessionStore) -> UpdateProcessor:
    return SettledProcessor(app, store)
