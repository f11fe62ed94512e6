"""Over the real HTTP stack: the bot's HTTP client and webhook server against a loopback Bot API.

A small aiohttp server on 127.0.0.1 stands in for api.telegram.org and hands every request to a
FakeBotApi, so the calls are checked exactly as in the in-process tests. Polling fetches queued
updates over HTTP; webhook mode receives them on the bot's own server
(bot/telegram/delivery/webhook.py, run by `serve` as `crampcheck run` does), which must refuse a
request without the right X-Telegram-Bot-Api-Secret-Token.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from bench import wire
from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.memory import MemoryStore
from bot.telegram.app import ALLOWED_UPDATES, AnyApplication, build_application
from bot.telegram.delivery.serving import serve
from tests.fakes.botapi import FakeBotApi

CHAT_ID = 4242
SECRET = "loopback-secret_1"
FIRST_QUESTION = "First, a safety check."


def start_update(api: FakeBotApi) -> dict[str, Any]:
    user = {"id": CHAT_ID, "is_bot": False, "first_name": "Alex", "language_code": "en"}
    message = {
        "message_id": api.next_message_id(CHAT_ID),
        "from": user,
        "chat": api.chat(CHAT_ID),
        "date": int(time.time()),
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": api.next_update_id(), "message": message}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def loopback_bot_api(api: FakeBotApi) -> AsyncIterator[str]:
    """Serve `api` over HTTP; yield the base URL in PTB's convention (".../bot")."""

    async def handle(request: web.Request) -> web.Response:
        data = SimpleNamespace(parameters=await wire.params(request))
        status, body = await api.do_request(str(request.url), request.method, data)  # type: ignore[arg-type]
        return web.Response(status=status, body=body, content_type="application/json")

    server = web.Application()
    server.router.add_route("POST", "/{path:.*}", handle)
    runner = web.AppRunner(server)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/bot"
    finally:
        await runner.cleanup()


async def wait_until(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the bot")
        await asyncio.sleep(0.02)


async def post_when_listening(
    client: aiohttp.ClientSession, url: str, update: dict[str, Any], headers: dict[str, str]
) -> int:
    """POST `update` to `url` once the server there listens (it starts after setWebhook)."""
    deadline = time.monotonic() + 5.0
    while True:
        try:
            async with client.post(url, json=update, headers=headers) as response:
                return response.status
        except aiohttp.ClientConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


def has_asked_first_question(api: FakeBotApi) -> bool:
    sent = api.latest_message(CHAT_ID, with_keyboard=True)
    return sent is not None and sent.text.startswith(FIRST_QUESTION)


@pytest.fixture
def api(real_network: None) -> FakeBotApi:
    """The fake behind the loopback server, registered with one private chat."""
    fake = FakeBotApi()
    fake.register_chat(CHAT_ID, first_name="Alex")
    return fake


@asynccontextmanager
async def running_app(settings: Settings, kb: KnowledgeBase) -> AsyncIterator[AnyApplication]:
    app = build_application(settings, kb, MemoryStore())
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        yield app
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        await app.stop()
    assert app.post_shutdown is not None
    await app.post_shutdown(app)


async def test_polling_over_http_answers_start(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    async with loopback_bot_api(api) as base_url:
        polling = settings.model_copy(update={"api_url": base_url})
        async with running_app(polling, kb) as app:
            assert app.updater is not None
            api.queue_update(start_update(api))
            await app.updater.start_polling(poll_interval=0, allowed_updates=ALLOWED_UPDATES)
            await app.start()
            await wait_until(lambda: has_asked_first_question(api))

    assert api.calls_to("setMyCommands")
    assert api.last("getUpdates").params["allowed_updates"] == ALLOWED_UPDATES
    api.assert_clean()


async def test_webhook_over_http_checks_the_secret_then_answers_start(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    async with loopback_bot_api(api) as base_url:
        webhook = settings.model_copy(
            update={
                "api_url": base_url,
                "mode": "webhook",
                "webhook_url": "https://bot.example/telegram/hook",
                "webhook_secret": SecretStr(SECRET),
                "port": free_port(),
            }
        )
        store = MemoryStore()
        app = build_application(webhook, kb, store)
        stop = asyncio.Event()
        running = asyncio.create_task(
            serve(app, webhook, store, allowed_updates=ALLOWED_UPDATES, stop=stop)
        )
        url = f"http://127.0.0.1:{webhook.port}/telegram/hook"
        try:
            async with aiohttp.ClientSession() as client:
                forged = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                assert await post_when_listening(client, url, start_update(api), forged) == 403
                assert api.calls_to("sendMessage") == []
                genuine = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with client.post(url, json=start_update(api), headers=genuine) as response:
                    assert response.status == 200
            await wait_until(lambda: has_asked_first_question(api))
        finally:
            stop.set()
            await running

    assert api.last("setWebhook").params["secret_token"] == SECRET
    assert api.webhook_url == "https://bot.example/telegram/hook"
    api.assert_clean()
