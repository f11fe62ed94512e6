"""The webhook server: refuses strangers and junk, and answers 200 only after the commit.

Requests go over loopback HTTP (aiohttp's test server on 127.0.0.1) into the real aiohttp app,
the real Application and a FakeBotApi standing in for Telegram's side.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.memory import MemoryStore
from bot.telegram.api.retry import RetryingRequest, RetryPolicy
from bot.telegram.app import build_application
from bot.telegram.delivery.webhook import (
    MAX_BODY_BYTES,
    SECRET_HEADER,
    WEBHOOK_ANSWERS,
    build_webhook_app,
)
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    GatedStore,
    SettledProcessor,
    conversation,
    first_button,
    forgive_repeated_answers,
    message_update,
    press_update,
    running,
    wait_until,
)

SECRET = "webhook-secret_42"
PATH = "/tg/hook"
GENUINE = {SECRET_HEADER: SECRET}


async def no_wait(delay: float) -> None:
    """The processor's pause between attempts, without the waiting."""


def webhook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "mode": "webhook",
            "webhook_url": f"https://bot.example{PATH}",
            "webhook_secret": SecretStr(SECRET),
        }
    )


@pytest.fixture
def gated() -> GatedStore:
    return GatedStore(MemoryStore())


@pytest.fixture
async def client(
    real_network: None, settings: Settings, kb: KnowledgeBase, gated: GatedStore, api: FakeBotApi
) -> AsyncIterator[TestClient[Any, Any]]:
    hooked = webhook_settings(settings)
    request = RetryingRequest(api, policy=RetryPolicy(base_delay=0.001))
    async with running(build_application(hooked, kb, gated, request=request)) as app:
        processor = SettledProcessor(app, gated, sleep=no_wait)
        server = TestServer(build_webhook_app(processor, hooked), host="127.0.0.1")
        async with TestClient(server) as test_client:
            yield test_client


async def post(
    client: TestClient[Any, Any], body: Any, headers: dict[str, str] | None = None
) -> int:
    data = io.BytesIO(body if isinstance(body, bytes) else json.dumps(body).encode())
    async with client.post(PATH, data=data, headers=headers or GENUINE) as response:
        return response.status


async def test_a_genuine_update_is_answered_200_after_it_is_handled(
    client: TestClient[Any, Any], api: FakeBotApi, gated: GatedStore
) -> None:
    assert await post(client, message_update(api, "/start")) == 200

    assert api.latest_message(4242, with_keyboard=True) is not None
    assert client.app[WEBHOOK_ANSWERS][200] == 1


@pytest.mark.parametrize("headers", [{SECRET_HEADER: "wrong"}, {}, {SECRET_HEADER: SECRET + "x"}])
async def test_a_wrong_or_missing_secret_is_refused_with_403(
    client: TestClient[Any, Any], api: FakeBotApi, headers: dict[str, str]
) -> None:
    async with client.post(PATH, json=message_update(api, "/start"), headers=headers) as response:
        assert response.status == 403

    assert api.calls_to("sendMessage") == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_anything_but_post_is_refused_with_405(
    client: TestClient[Any, Any], method: str
) -> None:
    async with client.request(method, PATH, headers=GENUINE) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"


async def test_an_oversized_body_is_refused_with_413(client: TestClient[Any, Any]) -> None:
    assert await post(client, b"{" + b" " * MAX_BODY_BYTES + b"}") == 413


async def test_an_oversized_chunked_body_is_refused_with_413(client: TestClient[Any, Any]) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    async with client.post(PATH, data=chunks(), headers=GENUINE) as response:
        assert response.status == 413


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"message": {}}',
        b'{"update_id": "7"}',
        b"\xff\xfe",
        b"[" * 100_000,
    ],
    ids=["empty", "text", "list", "no-id", "string-id", "bad-utf8", "deep"],
)
async def test_a_body_that_is_not_an_update_is_refused_with_400(
    client: TestClient[Any, Any], api: FakeBotApi, body: bytes
) -> None:
    assert await post(client, body) == 400

    assert api.calls_to("sendMessage") == []


async def test_the_answer_waits_for_the_commit(
    client: TestClient[Any, Any], api: FakeBotApi, gated: GatedStore
) -> None:
    gated.hold(1)  # /start's commit
    answer = asyncio.create_task(post(client, message_update(api, "/start")))
    await wait_until(gated.held.is_set)
    await asyncio.sleep(0.05)

    assert not answer.done()  # Telegram has not been told "done" while nothing is committed
    gated.gate.set()
    assert await answer == 200
    assert await conversation(gated) is not None


async def test_a_store_that_stays_down_answers_500_so_telegram_delivers_again(
    client: TestClient[Any, Any], api: FakeBotApi, gated: GatedStore
) -> None:
    await post(client, message_update(api, "/start"))
    press = press_update(api, first_button(api))
    gated.fail(*range(1, 20))

    assert await post(client, press) == 500

    gated.fail()  # the store is back: the redelivery goes through
    assert await post(client, press) == 200
    forgive_repeated_answers(api)


async def test_a_redelivered_update_is_acknowledged_and_does_nothing(
    client: TestClient[Any, Any], api: FakeBotApi
) -> None:
    start = message_update(api, "/start")
    assert await post(client, start) == 200
    calls = len(api.calls)

    assert await post(client, start) == 200

    assert len(api.calls) == calls


async def test_the_secret_check_runs_before_the_body_is_read(
    client: TestClient[Any, Any],
) -> None:
    body = io.BytesIO(b"x" * (MAX_BODY_BYTES * 2))
    async with client.post(PATH, data=body, headers={}) as response:
        assert response.status == 403
