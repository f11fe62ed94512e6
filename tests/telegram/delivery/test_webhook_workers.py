"""Two webhook workers sharing one real Redis: one chat's updates never run side by side.

Both workers are full stacks (aiohttp server on loopback, Application, UpdateProcessor with
the local and the Redis chat lock, RedisStore); one FakeBotApi plays Telegram for both. Users
double-tap buttons and their presses go to both workers at once, as Telegram may do with
several webhook connections.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis.asyncio
from aiohttp.test_utils import TestClient, TestServer
from telegram import Update

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.locks import ChainedLocks, ChatLocks, LocalLocks, RedisLocks
from bot.store.redis import RedisStore
from bot.telegram.api.retry import RetryingRequest, RetryPolicy
from bot.telegram.app import AnyApplication, build_application
from bot.telegram.delivery.webhook import build_webhook_app
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    SettledProcessor,
    conversation,
    first_button,
    message_update,
    press_update,
    running,
)
from tests.shared import REDIS_URL
from tests.telegram.delivery.test_webhook import GENUINE, PATH, webhook_settings

CHATS = 12
TAPS = 4


class Overlaps:
    """Counts handler runs per chat across both workers; notes any chat run twice at once."""

    def __init__(self) -> None:
        self.active: Counter[int] = Counter()
        self.chats: set[int] = set()

    def watch(self, app: AnyApplication) -> None:
        original = app.process_update

        async def process_update(update: object) -> None:
            assert isinstance(update, Update)
            assert update.effective_chat is not None
            chat = update.effective_chat.id
            self.active[chat] += 1
            if self.active[chat] > 1:
                self.chats.add(chat)
            try:
                await asyncio.sleep(0.005)  # widen the window a race would need
                await original(update)
            finally:
                self.active[chat] -= 1

        app.process_update = process_update  # type: ignore[method-assign]


Locks = Callable[[str], ChatLocks]


async def workers(
    stack: AsyncExitStack,
    settings: Settings,
    kb: KnowledgeBase,
    api: FakeBotApi,
    namespace: str,
    locks: Locks,
    overlaps: Overlaps,
) -> tuple[list[TestClient[Any, Any]], RedisStore]:
    hooked = webhook_settings(settings)
    clients = []
    for _ in range(2):
        store = RedisStore.from_url(REDIS_URL, ttl_seconds=3600, namespace=namespace)
        request = RetryingRequest(api, policy=RetryPolicy(base_delay=0.001))
        app = await stack.enter_async_context(
            running(build_application(hooked, kb, store, request=request))
        )
        processor = SettledProcessor(app, store, locks=locks(namespace))
        overlaps.watch(app)
        server = TestServer(build_webhook_app(processor, hooked), host="127.0.0.1")
        clients.append(await stack.enter_async_context(TestClient(server)))
    reader = RedisStore.from_url(REDIS_URL, namespace=namespace)
    stack.push_async_callback(reader.close)
    return clients, reader


def shared_locks(stack: AsyncExitStack) -> Locks:
    def make(namespace: str) -> ChatLocks:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        stack.push_async_callback(client.aclose)
        return ChainedLocks(LocalLocks(), RedisLocks(client, namespace=namespace))

    return make


async def post(client: TestClient[Any, Any], update: dict[str, Any]) -> int:
    body = io.BytesIO(json.dumps(update).encode())
    async with client.post(PATH, data=body, headers=GENUINE) as response:
        return response.status


async def double_taps(
    clients: list[TestClient[Any, Any]], api: FakeBotApi, seed: int
) -> list[dict[str, Any]]:
    """Start a questionnaire in each chat, then tap its first answer TAPS times at once."""
    rng = random.Random(seed)  # noqa: S311 - a seeded workload, not a secret
    chats = [7000 + index for index in range(CHATS)]
    for chat in chats:
        api.register_chat(chat, first_name="Tester")
        assert await post(clients[0], message_update(api, "/start", chat_id=chat)) == 200
    presses = [
        press_update(api, first_button(api, chat), chat_id=chat)
        for chat in chats
        for _ in range(TAPS)
    ]
    rng.shuffle(presses)
    statuses = await asyncio.gather(*(post(rng.choice(clients), press) for press in presses))
    assert set(statuses) == {200}
    return presses


async def test_double_taps_on_two_workers_apply_one_answer_per_chat_and_answer_every_tap(
    settings: Settings,
    kb: KnowledgeBase,
    api: FakeBotApi,
    redis_namespace: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    overlaps = Overlaps()
    async with AsyncExitStack() as stack:
        locks = shared_locks(stack)
        clients, reader = await workers(stack, settings, kb, api, redis_namespace, locks, overlaps)
        presses = await double_taps(clients, api, seed=1)
        stored = [await conversation(reader, 7000 + index) for index in range(CHATS)]

    assert overlaps.chats == set()  # never two handlers of one chat at once, across workers
    assert all(record is not None and len(record.session.answers) == 1 for record in stored)
    answered = set(api.answered_callback_queries)
    assert all(press["callback_query"]["id"] in answered for press in presses)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.getMessage().startswith("conflict on")]


async def test_without_the_redis_lock_two_workers_do_run_one_chat_at_once(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi, redis_namespace: str
) -> None:
    """The control: with process-local locks only, the same load does overlap."""
    overlaps = Overlaps()
    async with AsyncExitStack() as stack:
        clients, reader = await workers(
            stack, settings, kb, api, redis_namespace, lambda _: LocalLocks(), overlaps
        )
        await double_taps(clients, api, seed=2)
        stored = [await conversation(reader, 7000 + index) for index in range(CHATS)]

    assert overlaps.chats  # the race is real without the shared lock...
    # ...and compare-and-set still keeps every chat at exactly one answer.
    assert all(record is not None and len(record.session.answers) == 1 for record in stored)
