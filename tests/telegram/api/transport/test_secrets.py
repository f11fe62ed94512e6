"""AiohttpRequest secrets: the bot token never shows in errors or logs; proxies and credentials."""

from __future__ import annotations

import base64
import logging
import traceback
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest
from aiohttp.test_utils import unused_port
from telegram import Bot, File, InputFile
from telegram.error import NetworkError
from telegram.request import BaseRequest

from bot.telegram.api.transport import AiohttpRequest
from tests.telegram.api.transport.fake_bot_api import (
    TOKEN,
    FakeBotApi,
    drop_after_headers,
    never_read,
)
from tests.telegram.api.transport.helpers import STALLING_UPLOAD, error_of, make_bot, raw_bot


def test_socks_proxies_are_refused_with_a_clear_error() -> None:
    for url in ("socks5://user:pw@127.0.0.1:1080", "socks5h://127.0.0.1:1080", "socks4://h:1"):
        with pytest.raises(ValueError, match="aiohttp-socks") as caught:
            AiohttpRequest(proxy=url)
        assert "pw" not in str(caught.value)
    with pytest.raises(ValueError, match="http:// or https://"):
        AiohttpRequest(proxy="ftp://127.0.0.1:21")


async def test_http_proxy_carries_the_requests(api: FakeBotApi) -> None:
    """An http proxy gets absolute-form targets, with the credentials from its URL."""
    unreachable = f"http://127.0.0.1:{unused_port()}/bot"
    request = AiohttpRequest(proxy=f"http://cramp:s3cret@127.0.0.1:{api.port}")
    async with make_bot(unreachable, request) as bot:
        await bot.send_message(chat_id=1, text="via proxy")

    assert [call.target for call in api.calls] == [
        f"{unreachable}{TOKEN}/getMe",
        f"{unreachable}{TOKEN}/sendMessage",
    ]
    credentials = base64.b64encode(b"cramp:s3cret").decode()
    assert {call.headers["Proxy-Authorization"] for call in api.calls} == {f"Basic {credentials}"}
    assert api.calls[1].params == {"chat_id": "1", "text": "via proxy"}


async def test_unreachable_proxy_raises_network_error_without_its_credentials() -> None:
    request = AiohttpRequest(proxy=f"http://cramp:s3cret@127.0.0.1:{unused_port()}")
    bot = make_bot(f"http://127.0.0.1:{unused_port()}/bot", request)

    error = await error_of(bot.get_me())
    await request.shutdown()

    printed = "".join(traceback.format_exception(error))
    assert type(error) is NetworkError
    assert "s3cret" not in printed
    assert not _shows_token(printed)


FailingCall = Callable[[FakeBotApi], Awaitable[object]]


async def _with_request(
    base_url: str, request: BaseRequest, call: Callable[[Bot], Awaitable[object]]
) -> object:
    try:
        return await call(make_bot(base_url, request))
    finally:
        await request.shutdown()


async def _refused(api: FakeBotApi) -> object:
    return await _with_request(
        f"http://127.0.0.1:{unused_port()}/bot", AiohttpRequest(), Bot.get_me
    )


async def _connect_timeout(api: FakeBotApi) -> object:
    """aiohttp's own message for this one holds the whole URL."""
    return await _with_request(api.base_url, AiohttpRequest(connect_timeout=1e-6), Bot.get_me)


async def _file_connect_timeout(api: FakeBotApi) -> object:
    """The file URL has the token mid-path: /file/bot<token>/documents/file_1.txt."""
    telegram_file = await _with_request(api.base_url, AiohttpRequest(), _get_file)
    assert isinstance(telegram_file, File)
    slow_connect = AiohttpRequest(connect_timeout=1e-6)
    telegram_file.set_bot(make_bot(api.base_url, slow_connect))
    try:
        return await telegram_file.download_as_bytearray()
    finally:
        await slow_connect.shutdown()


async def _get_file(bot: Bot) -> File:
    return await bot.get_file("doc-1")


async def _read_timeout(api: FakeBotApi) -> object:
    api.delays["getMe"] = 1.0
    return await _with_request(api.base_url, AiohttpRequest(read_timeout=0.05), Bot.get_me)


async def _closed(api: FakeBotApi) -> object:
    async with raw_bot(drop_after_headers, AiohttpRequest()) as bot:
        return await bot.get_me()


async def _stalled(api: FakeBotApi) -> object:
    async with raw_bot(never_read, AiohttpRequest(media_write_timeout=0.2)) as bot:
        return await bot.send_document(chat_id=1, document=InputFile(STALLING_UPLOAD))


async def _bad_gateway(api: FakeBotApi) -> object:
    api.reply("getMe", 502, "<html>Bad Gateway</html>")
    return await _with_request(api.base_url, AiohttpRequest(), Bot.get_me)


async def _shut_down(api: FakeBotApi) -> object:
    request = AiohttpRequest()
    await request.initialize()
    await request.shutdown()
    return await make_bot(api.base_url, request).get_me()


@pytest.mark.parametrize(
    "failing_call",
    [
        _refused,
        _connect_timeout,
        _file_connect_timeout,
        _read_timeout,
        _closed,
        _stalled,
        _bad_gateway,
        _shut_down,
    ],
)
async def test_token_never_shows_in_errors_or_logs(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture, failing_call: FailingCall
) -> None:
    """Neither the raised error (with its chained causes) nor any log record names the token.

    PTB's ``telegram.Bot`` logger itself prints URLs with the token at DEBUG (its base URLs when
    built, getFile results); that logger is PTB's business and is left out by name.
    """
    with caplog.at_level(logging.DEBUG):
        error = await error_of(failing_call(api))

    printed = "".join(traceback.format_exception(error))
    assert not _shows_token(printed), printed
    assert "Traceback" in printed
    formatter = logging.Formatter()
    leaks = [
        formatter.format(record)
        for record in caplog.records
        if _shows_token(formatter.format(record)) and record.name != "telegram.Bot"
    ]
    assert leaks == []


def _shows_token(text: str) -> bool:
    """Tell whether text holds the token, as is or percent-encoded (file URLs quote it)."""
    return TOKEN in text or quote(TOKEN) in text
