"""Fixtures for the transport tests: the fake Bot API on loopback and a PTB Bot wired to it.

Every test here opens loopback sockets, so all of them request the root `real_network` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from bot.telegram.api.transport import AiohttpRequest
from tests.telegram.api.transport.fake_bot_api import FakeBotApi, start_api
from tests.telegram.api.transport.helpers import make_bot

PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _loopback_only(real_network: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Allow sockets (these tests serve on 127.0.0.1) but keep httpx off any exported proxy."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """Serve a fresh fake Bot API on 127.0.0.1."""
    fake = FakeBotApi()
    server = await start_api(fake)
    yield fake
    await server.close()


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    """Yield an initialized Bot on AiohttpRequest, shut down afterwards."""
    async with make_bot(api.base_url, AiohttpRequest()) as ready:
        yield ready
