"""Helpers shared by the transport tests: the transports compared, bots wired to loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram.api.transport import AiohttpRequest
from tests.telegram.api.transport.fake_bot_api import TOKEN, Handler, RawServer

Transport = Callable[..., BaseRequest]
TRANSPORTS: dict[str, Transport] = {"httpx": HTTPXRequest, "aiohttp": AiohttpRequest}
BY_TRANSPORT = pytest.mark.parametrize("transport", TRANSPORTS.values(), ids=TRANSPORTS.keys())
STALLING_UPLOAD = b"\0" * (32 * 1024 * 1024)  # far beyond loopback socket buffers


def make_bot(base_url: str, request: BaseRequest) -> Bot:
    """Build a PTB Bot that talks to base_url; getUpdates gets its own request of the same kind."""
    return Bot(
        token=TOKEN,
        base_url=base_url,
        base_file_url=base_url.removesuffix("/bot") + "/file/bot",
        request=request,
        get_updates_request=type(request)(),
    )


@asynccontextmanager
async def raw_bot(handler: Handler, request: BaseRequest) -> AsyncIterator[Bot]:
    """Yield an uninitialized Bot whose server is a raw socket handler (it cannot answer getMe)."""
    async with RawServer(handler) as server:
        try:
            yield make_bot(f"http://127.0.0.1:{server.port}/bot", request)
        finally:
            await request.shutdown()


async def error_of(call: Awaitable[object]) -> TelegramError:
    """Return the TelegramError call raises; a hung call fails with TimeoutError instead."""
    with pytest.raises(TelegramError) as caught:
        async with asyncio.timeout(30):
            await call
    return caught.value
