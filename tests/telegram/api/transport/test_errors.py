"""AiohttpRequest failures: the same PTB exceptions as HTTPXRequest, for the same causes."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import time
from typing import Any

import pytest
from aiohttp.test_utils import unused_port
from telegram import Bot, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.telegram.api.transport import POOL_TIMEOUT_MESSAGE, AiohttpRequest
from tests.telegram.api.transport.fake_bot_api import (
    FakeBotApi,
    Handler,
    drop_after_headers,
    never_read,
    reset_after_headers,
    throttled_reader,
)
from tests.telegram.api.transport.helpers import (
    BY_TRANSPORT,
    STALLING_UPLOAD,
    TRANSPORTS,
    Transport,
    error_of,
    make_bot,
    raw_bot,
)

STATUS_CASES: dict[str, tuple[int, Any, type[TelegramError]]] = {
    "400": (
        400,
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
        BadRequest,
    ),
    "401": (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, InvalidToken),
    "403": (
        403,
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
        Forbidden,
    ),
    "409": (
        409,
        {"ok": False, "error_code": 409, "description": "Conflict: other getUpdates"},
        Conflict,
    ),
    "429": (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": 3},
        },
        RetryAfter,
    ),
    "migrated": (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "migrated",
            "parameters": {"migrate_to_chat_id": -1009},
        },
        ChatMigrated,
    ),
    "500": (
        500,
        {"ok": False, "error_code": 500, "description": "Internal Server Error"},
        NetworkError,
    ),
    "502 not JSON": (502, "<html>Bad Gateway</html>", NetworkError),
}


@pytest.mark.parametrize("case", STATUS_CASES.values(), ids=STATUS_CASES.keys())
async def test_error_statuses_surface_as_ptb_exceptions_like_httpx(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch, case: tuple[int, Any, type[TelegramError]]
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after warns without it
    status, payload, expected = case
    raised: dict[str, TelegramError] = {}
    for name, transport in TRANSPORTS.items():
        async with make_bot(api.base_url, transport()) as bot:
            api.reply("sendMessage", status, payload)
            raised[name] = await error_of(bot.send_message(chat_id=1, text="hi"))
            api.replies.clear()

    assert type(raised["aiohttp"]) is type(raised["httpx"]) is expected
    assert str(raised["aiohttp"]) == str(raised["httpx"])


async def test_retry_after_carries_the_servers_delay(
    api: FakeBotApi, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    api.reply("sendMessage", *STATUS_CASES["429"][:2])

    error = await error_of(bot.send_message(chat_id=1, text="hi"))

    assert isinstance(error, RetryAfter)
    assert error.retry_after == dt.timedelta(seconds=3)


@BY_TRANSPORT
async def test_slow_response_raises_timed_out(api: FakeBotApi, transport: Transport) -> None:
    api.delays["sendMessage"] = 1.0
    async with make_bot(api.base_url, transport(read_timeout=0.1)) as bot:
        error = await error_of(bot.send_message(chat_id=1, text="hi"))

    assert type(error) is TimedOut


@BY_TRANSPORT
@pytest.mark.parametrize(
    "handler", [drop_after_headers, reset_after_headers], ids=["closed", "reset"]
)
async def test_broken_connection_raises_network_error(
    transport: Transport, handler: Handler
) -> None:
    async with raw_bot(handler, transport()) as bot:
        error = await error_of(bot.get_me())

    assert type(error) is NetworkError
    assert str(error).startswith(("aiohttp.", "httpx."))


@BY_TRANSPORT
async def test_refused_connection_raises_network_error(transport: Transport) -> None:
    request = transport()
    bot = make_bot(f"http://127.0.0.1:{unused_port()}/bot", request)

    error = await error_of(bot.get_me())
    await request.shutdown()

    assert type(error) is NetworkError
    assert str(error).startswith(
        ("aiohttp.ClientConnectorError: Cannot connect to host 127", "httpx.")
    )


@BY_TRANSPORT
async def test_full_pool_raises_timed_out_with_the_pool_message(
    api: FakeBotApi, transport: Transport
) -> None:
    api.delays["sendMessage"] = 0.5
    async with make_bot(api.base_url, transport(connection_pool_size=1, pool_timeout=0.05)) as bot:
        first = asyncio.create_task(bot.send_message(chat_id=1, text="holds the only connection"))
        api.received.clear()
        await api.received.wait()
        error = await error_of(bot.send_message(chat_id=2, text="waits for the pool"))
        await first

    assert type(error) is TimedOut
    assert str(error) == POOL_TIMEOUT_MESSAGE
    assert [call.params["chat_id"] for call in api.calls_of("sendMessage")] == ["1"]


@BY_TRANSPORT
async def test_stalled_upload_times_out_after_the_media_write_timeout(
    transport: Transport,
) -> None:
    """Uploads get media_write_timeout by default; a server that stops reading trips it."""
    request = transport(write_timeout=60, media_write_timeout=0.3)
    async with raw_bot(never_read, request) as bot:
        started = time.monotonic()
        error = await error_of(bot.send_document(chat_id=1, document=InputFile(STALLING_UPLOAD)))

    assert type(error) is TimedOut
    assert time.monotonic() - started < 20


@BY_TRANSPORT
async def test_per_call_write_timeout_overrides_the_media_default(
    transport: Transport,
) -> None:
    request = transport(media_write_timeout=60)
    async with raw_bot(never_read, request) as bot:
        started = time.monotonic()
        upload = bot.send_document(
            chat_id=1, document=InputFile(STALLING_UPLOAD), write_timeout=0.3
        )
        error = await error_of(upload)

    assert type(error) is TimedOut
    assert time.monotonic() - started < 20


SLOW_READER = throttled_reader(chunk=256 * 1024, pause=0.01)  # at most 25 MiB/s


@BY_TRANSPORT
async def test_slow_upload_from_a_handle_only_needs_each_64k_write_in_time(
    transport: Transport,
) -> None:
    """httpx writes a file handle 64 KiB at a time, each write with its own write timeout."""
    document = InputFile(io.BytesIO(STALLING_UPLOAD), filename="big.bin", read_file_handle=False)
    async with raw_bot(SLOW_READER, transport(media_write_timeout=0.4)) as bot:
        started = time.monotonic()
        message = await bot.send_document(chat_id=1, document=document)
        elapsed = time.monotonic() - started

    assert message.chat_id == 1
    assert elapsed > 0.8, "the upload must outlast the write timeout for this test to mean much"


@BY_TRANSPORT
async def test_slow_upload_of_bytes_must_finish_within_the_write_timeout(
    transport: Transport,
) -> None:
    """httpx writes in-memory file content in one write, so the timeout covers all of it."""
    async with raw_bot(SLOW_READER, transport(media_write_timeout=0.4)) as bot:
        error = await error_of(bot.send_document(chat_id=1, document=InputFile(STALLING_UPLOAD)))

    assert type(error) is TimedOut


async def test_write_deadline_ends_once_the_body_is_sent(api: FakeBotApi) -> None:
    """After the upload, waiting for the answer is the read timeout's business only."""
    async with make_bot(api.base_url, AiohttpRequest(media_write_timeout=0.3)) as bot:
        api.delays["sendDocument"] = 0.8
        message = await bot.send_document(chat_id=1, document=InputFile(b"x" * 3_000_000))

    assert message.document is not None
