"""Fuzz: 10,000 hostile updates; no crash, no unanswered press, no broken record, no leak.

Every update goes the production way: parsed defensively (`intake`), then `UpdateProcessor`,
the real Application and handlers, `RetryingRequest` and the FakeBotApi, which also fails the
test on any call the real Bot API would refuse. Every log record of every logger is captured
at DEBUG, PTB's and httpx's included, and searched for the canaries: the text every fuzzed
message carries, and the bot token. Malformed webhook bodies go over loopback HTTP.
"""

from __future__ import annotations

import io
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import PROFILE, SESSION
from bot.store.memory import MemoryStore
from bot.telegram.api.intake import decode_body, parse_update, update_id_of
from bot.telegram.api.retry import RetryingRequest, RetryPolicy
from bot.telegram.app import build_application
from bot.telegram.delivery.processing import Outcome
from bot.telegram.delivery.webhook import build_webhook_app
from bot.telegram.state.conversation import Conversation
from bot.telegram.state.preferences import Profile
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import SettledProcessor, running
from tests.reliability.hostile import CANARY, MALFORMED_BODIES, TOKEN_CANARY, Hostile
from tests.telegram.delivery.test_webhook import GENUINE, PATH, webhook_settings

UPDATES = 10_000
SEED = 20_260_401
SCOPES = (SESSION, PROFILE, "chk", "ctry", "sweat")
LOGGERS = ("", "telegram", "httpx", "httpcore", "aiohttp", "asyncio", "bot")


class Capture(logging.Handler):
    """Keeps every record, fully rendered: message, arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> Iterator[str]:
        formatter = logging.Formatter()
        for record in self.records:
            yield formatter.format(record)
            yield repr(record.args)
            if record.exc_info and record.exc_info[1] is not None:
                yield "".join(traceback.format_exception(record.exc_info[1]))


@pytest.fixture
def capture() -> Iterator[Capture]:
    """Capture every record of every logger at DEBUG; restore the levels afterwards."""
    handler = Capture()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)  # everything propagates to the root
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def no_wait(delay: float) -> None:
    """The processor's pause between attempts, without the waiting."""


def assert_no_canary(capture: Capture) -> None:
    leaks = [text[:200] for text in capture.texts() if CANARY in text or TOKEN_CANARY in text]
    assert leaks == [], f"{len(leaks)} log texts leak a canary, e.g. {leaks[:3]}"
    token_secret = TOKEN_CANARY.split(":")[1]
    assert not [text for text in capture.texts() if token_secret in text]


async def assert_every_record_loads(store: MemoryStore) -> int:
    """Count the stored records; fail on any that its reader cannot load."""
    count = 0
    for scope in SCOPES:
        async for _, record in store.scan(scope):
            count += 1
            assert isinstance(json.loads(record.data), dict)
            if scope == SESSION:
                Conversation.load(record.data)
            elif scope == PROFILE:
                Profile.model_validate_json(record.data)
    return count


@pytest.mark.slow  # about 50 s
async def test_ten_thousand_hostile_updates_crash_nothing_leave_nothing_leak_nothing(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi, capture: Capture
) -> None:
    secret_settings = settings.model_copy(update={"token": SecretStr(TOKEN_CANARY)})
    store = MemoryStore()
    request = RetryingRequest(api, policy=RetryPolicy(base_delay=0.001))
    hostile = Hostile(api, seed=SEED)
    async with running(build_application(secret_settings, kb, store, request=request)) as app:
        processor = SettledProcessor(app, store, sleep=no_wait)
        for data in hostile.updates(UPDATES):
            await processor.process(parse_update(data, app.bot))
        records = await assert_every_record_loads(store)

    failures = [r for r in capture.records if r.levelno >= logging.ERROR]
    assert failures == [], [f"{r.name}: {r.getMessage()}" for r in failures[:5]]
    assert processor.counts[Outcome.RETRY] == 0
    assert sum(processor.counts.values()) == UPDATES
    unanswered = set(hostile.query_ids) - set(api.answered_callback_queries)
    assert unanswered == set()
    assert records > 0
    assert_no_canary(capture)


async def test_malformed_webhook_bodies_are_refused_and_logged_without_content(
    real_network: None, settings: Settings, kb: KnowledgeBase, api: FakeBotApi, capture: Capture
) -> None:
    hooked = webhook_settings(settings).model_copy(update={"token": SecretStr(TOKEN_CANARY)})
    store = MemoryStore()
    statuses: dict[int, int] = {}
    async with running(build_application(hooked, kb, store, request=RetryingRequest(api))) as app:
        processor = SettledProcessor(app, store, sleep=no_wait)
        server = TestServer(build_webhook_app(processor, hooked), host="127.0.0.1")
        async with TestClient(server) as client:
            for body in MALFORMED_BODIES * 20:
                expected = 200 if update_id_of(decode_body(body)) is not None else 400
                async with client.post(PATH, data=io.BytesIO(body), headers=GENUINE) as response:
                    assert response.status == expected, body[:60]
                    statuses[response.status] = statuses.get(response.status, 0) + 1
        async for _, record in store.scan(SESSION):
            Conversation.load(record.data)

    assert statuses[400] > 0
    assert not [r for r in capture.records if r.levelno >= logging.ERROR]
    assert_no_canary(capture)


def test_the_generator_covers_every_kind_it_promises(api: FakeBotApi) -> None:
    kinds: dict[str, int] = {}
    for update in Hostile(api, seed=SEED).updates(2000):
        for key in update:
            kinds[key] = kinds.get(key, 0) + 1
    expected: dict[str, Any] = dict.fromkeys(
        ("message", "callback_query", "edited_message", "channel_post", "inline_query")
    )
    assert set(expected) <= set(kinds)
