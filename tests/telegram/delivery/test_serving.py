"""`serve`: the whole run, polling or webhook, from start-up to a clean stop."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import redis.asyncio
from pydantic import SecretStr

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import Record, SessionKey
from bot.store.cached import CachingStore
from bot.store.locks import ChainedLocks, LocalLocks, RedisLocks
from bot.store.memory import MemoryStore
from bot.telegram.app import ALLOWED_UPDATES, build_application, build_bot
from bot.telegram.delivery.polling import PollingOptions
from bot.telegram.delivery.serving import remember_own_writes, serve
from bot.telegram.delivery.webhook import SECRET_HEADER
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    CHAT,
    first_button,
    latest_screen,
    message_update,
    press_update,
    wait_until,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_polling_serves_until_stopped_and_confirms_what_it_handled(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    store = MemoryStore()
    app = build_application(settings, kb, store, request=api)
    start = message_update(api, "/start")
    api.queue_update(start)
    stop = asyncio.Event()
    options = PollingOptions(poll_timeout=0)
    running = asyncio.create_task(
        serve(app, settings, store, allowed_updates=ALLOWED_UPDATES, stop=stop, polling=options)
    )

    await wait_until(lambda: latest_screen(api) is not None)
    stop.set()
    await running

    assert api.calls_to("deleteWebhook")
    assert api.calls_to("setMyCommands")  # post_init ran
    assert api.last("getUpdates").params["offset"] == start["update_id"] + 1
    assert not app.running


async def test_webhook_mode_registers_the_secret_and_serves_until_stopped(
    real_network: None, settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    hooked = settings.model_copy(
        update={
            "mode": "webhook",
            "webhook_url": "https://bot.example/tg/hook",
            "webhook_secret": SecretStr("s3cret_token"),
            "port": free_port(),
        }
    )
    store = MemoryStore()
    app = build_application(hooked, kb, store, request=api)
    stop = asyncio.Event()
    running = asyncio.create_task(
        serve(app, hooked, store, allowed_updates=ALLOWED_UPDATES, stop=stop)
    )
    url = f"http://127.0.0.1:{hooked.port}/tg/hook"
    await wait_until(lambda: api.webhook_url is not None)

    async with aiohttp.ClientSession() as client:
        for _ in range(100):  # the server may take a moment to listen
            try:
                body = json.dumps(message_update(api, "/start"))
                headers = {SECRET_HEADER: "s3cret_token", "Content-Type": "application/json"}
                async with client.post(url, data=body, headers=headers) as response:
                    status = response.status
                break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
    stop.set()
    await running

    assert status == 200
    assert api.last("setWebhook").params["secret_token"] == "s3cret_token"
    assert api.last("setWebhook").params["allowed_updates"] == ALLOWED_UPDATES
    assert latest_screen(api) is not None


class ReadCountingStore(MemoryStore):
    """A memory store that records which keys its reads asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[SessionKey] = []

    async def get(self, key: SessionKey) -> Record | None:
        self.read.append(key)
        return await super().get(key)


async def test_one_polling_process_reads_its_own_writes_from_memory(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    """Polling: this process handles every chat, so a press reads the record its last write
    left (bot/store/cached.py) instead of asking the store again."""
    inner = ReadCountingStore()
    parts = build_bot(settings, kb, inner, request=api)
    stop = asyncio.Event()
    options = PollingOptions(poll_timeout=0)
    running = asyncio.create_task(parts.serve(settings, stop=stop, polling=options))
    api.queue_update(message_update(api, "/start"))
    await wait_until(lambda: latest_screen(api) is not None)
    await parts.handlers.outbox.drain(5)
    first = latest_screen(api)
    reads_before = len(inner.read)

    api.queue_update(press_update(api, first_button(api)))
    await wait_until(lambda: latest_screen(api) != first or api.calls_to("editMessageText") != [])
    await parts.handlers.outbox.drain(5)
    stop.set()
    await running

    chat = SessionKey(CHAT, CHAT)
    assert chat in inner.read[:reads_before]  # /start read the store
    assert chat not in inner.read[reads_before:]  # the press and its screen: from memory


def test_only_a_process_that_handles_every_chat_remembers_its_writes(settings: Settings) -> None:
    """Webhook workers on Redis share the chats: another worker's write may come any time."""
    alone, among_workers = CachingStore(MemoryStore()), CachingStore(MemoryStore())
    shared = ChainedLocks(LocalLocks(), RedisLocks(redis.asyncio.Redis()))  # never connects

    remember_own_writes(alone, LocalLocks(), settings)
    remember_own_writes(among_workers, shared, settings)

    assert alone.remembers_writes
    assert not among_workers.remembers_writes
