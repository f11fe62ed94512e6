"""AiohttpRequest against a real loopback fake Bot API: calls, wire format, pool, lifecycle."""

from __future__ import annotations

import asyncio
import gc
import io
import re
import warnings
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaDocument,
    Message,
    MessageEntity,
    User,
)
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram.api.transport import AiohttpRequest
from tests.telegram.api.transport.fake_bot_api import FILES, TOKEN, Call, FakeBotApi, Upload
from tests.telegram.api.transport.helpers import TRANSPORTS, Transport, make_bot

KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes", callback_data="q:3:0"),
            InlineKeyboardButton("No", callback_data="q:3:1"),
        ]
    ]
)
Script = Callable[[Bot], Awaitable[object]]


async def test_bot_methods_reach_the_api_and_parse_results(bot: Bot, api: FakeBotApi) -> None:
    """getMe, sendMessage, answerCallbackQuery, editMessageText and getUpdates round-trip."""
    sent = await bot.send_message(chat_id=42, text="Where is the cramp?", reply_markup=KEYBOARD)
    answered = await bot.answer_callback_query("cbq-1", text="Noted")
    edited = await bot.edit_message_text("Calf, noted.", chat_id=42, message_id=sent.message_id)
    updates = await bot.get_updates(timeout=0)

    assert bot.bot == User(123, "CrampCheck", is_bot=True, username="crampcheck_bot")
    assert isinstance(sent, Message)
    assert (sent.chat_id, sent.text) == (42, "Where is the cramp?")
    assert answered is True
    assert isinstance(edited, Message)
    assert edited.text == "Calf, noted."
    assert updates == ()
    assert [call.method for call in api.calls] == [
        "getMe",
        "sendMessage",
        "answerCallbackQuery",
        "editMessageText",
        "getUpdates",
    ]
    assert api.calls_of("sendMessage")[0].params == {
        "chat_id": "42",
        "text": "Where is the cramp?",
        "reply_markup": KEYBOARD.to_json(),
    }


async def test_requests_carry_ptb_user_agent_and_post_everything(
    bot: Bot, api: FakeBotApi
) -> None:
    await bot.send_message(chat_id=42, text="hi")

    assert {call.headers["User-Agent"] for call in api.calls} == {BaseRequest.USER_AGENT}
    assert all(call.target.startswith(f"/bot{TOKEN}/") for call in api.calls)


async def _plain_calls(bot: Bot) -> None:
    await bot.get_me()
    await bot.send_message(
        chat_id=-100123,
        text="<b>Calf</b> cramp: stretch & hydrate? ünïcödé ✓ 100%",
        parse_mode="HTML",
        reply_markup=KEYBOARD,
        entities=[MessageEntity(MessageEntity.BOLD, 0, 4)],
        disable_notification=True,
    )
    await bot.answer_callback_query("cbq-7", text="Saved", show_alert=True, cache_time=0)
    await bot.edit_message_text("Done", chat_id=5, message_id=7, reply_markup=KEYBOARD)
    await bot.get_updates(offset=10, limit=5, timeout=0, allowed_updates=["callback_query"])
    await bot.send_message(chat_id=1, text="x" * 70_000)  # a body over one 64 KiB slice


async def _upload_calls(bot: Bot) -> None:
    await bot.send_document(
        chat_id=42,
        document=InputFile(b"%PDF fake\x00\xff" * 3, filename='отчёт "q"\\1.pdf'),
        caption="Your cramp log ✓",
        reply_markup=KEYBOARD,
    )
    handle = io.BytesIO(b"a handle, not bytes")
    handle.read(3)  # PTB uploads from the start even if the handle was read
    await bot.send_document(
        chat_id=42, document=InputFile(handle, filename="log.txt", read_file_handle=False)
    )
    await bot.send_document(
        chat_id=42, document=InputFile(bytes(range(256)) * 1024, filename="big.bin")
    )
    media = [InputMediaDocument(b"one", filename="1.txt"), InputMediaDocument(b"two")]
    await bot.send_media_group(chat_id=42, media=media)


def _wire_view(call: Call, *, raw: bool) -> str:
    """What two transports must agree on: what the server reads, and with `raw` the bytes too.

    PTB names media-group attachments ``attached<uuid4 hex>``; they are numbered in order here.
    """
    view = repr((call.method, call.target, call.fields, call.uploads))
    if raw:
        framing = [call.headers.get(name) for name in ("Content-Length", "Transfer-Encoding")]
        view += repr((call.content_type, call.body, framing))
    names: dict[str, str] = {}
    return re.sub(
        "attached[0-9a-f]{32}", lambda m: names.setdefault(m[0], f"attached-{len(names)}"), view
    )


async def _through_each_transport(api: FakeBotApi, script: Script) -> dict[str, list[Call]]:
    seen: dict[str, list[Call]] = {}
    for name, transport in TRANSPORTS.items():
        api.calls.clear()
        async with make_bot(api.base_url, transport()) as bot:
            await script(bot)
        seen[name] = list(api.calls)
    return seen


async def test_plain_calls_reach_the_server_as_the_fields_httpx_sends(api: FakeBotApi) -> None:
    """Without files httpx sends a form and AiohttpRequest a JSON object of the same texts:
    the server reads the same fields from both (fake_bot_api.py reads them as
    td's parse_json_parameters does), and each body goes with its length."""
    seen = await _through_each_transport(api, _plain_calls)

    calls = seen["aiohttp"]
    assert len(calls) > 4
    assert [_wire_view(c, raw=False) for c in calls] == [
        _wire_view(c, raw=False) for c in seen["httpx"]
    ]
    with_body = [call for call in calls if call.body]
    assert {call.content_type for call in with_body} == {"application/json"}
    assert all(int(call.headers["Content-Length"]) == len(call.body) for call in with_body)
    assert not any("Transfer-Encoding" in call.headers for call in calls)
    assert max(len(call.body) for call in with_body) > 64 * 1024  # fed in slices


async def test_uploads_match_httpx_byte_for_byte(api: FakeBotApi) -> None:
    """With files both send the same multipart body, byte for byte."""
    seen = await _through_each_transport(api, _upload_calls)

    uploads = [call for call in seen["aiohttp"] if call.method != "getMe"]
    assert len(uploads) == 4
    assert {call.content_type for call in uploads} == {"multipart/form-data"}
    assert [_wire_view(c, raw=True) for c in seen["aiohttp"]] == [
        _wire_view(c, raw=True) for c in seen["httpx"]
    ]


@pytest.mark.parametrize("transport", TRANSPORTS.values(), ids=TRANSPORTS.keys())
async def test_file_download_gets_the_bytes(api: FakeBotApi, transport: Transport) -> None:
    async with make_bot(api.base_url, transport()) as bot:
        telegram_file = await bot.get_file("doc-1")
        content = await telegram_file.download_as_bytearray()

    assert content == FILES["documents/file_1.txt"]
    assert api.calls[-1].method == "GET file"
    assert api.calls[-1].target == f"/file/bot{quote(TOKEN)}/documents/file_1.txt"  # PTB quotes


async def test_upload_arrives_as_multipart_with_filename_and_content(
    bot: Bot, api: FakeBotApi
) -> None:
    content = b"day,cramps\nmon,2\n" * 1000

    message = await bot.send_document(
        chat_id=42, document=InputFile(content, filename="cramp-log.csv"), caption="log"
    )

    call = api.calls_of("sendDocument")[0]
    assert call.content_type == "multipart/form-data"
    assert call.params == {"chat_id": "42", "caption": "log"}
    assert call.uploads == [Upload("document", "cramp-log.csv", "text/csv", content)]
    assert message.document is not None
    assert message.document.file_name == "cramp-log.csv"


async def test_concurrent_requests_stay_within_the_pool(api: FakeBotApi) -> None:
    """200 concurrent sends over 8 connections all succeed, never more than 8 at once."""
    api.delays["sendMessage"] = 0.01
    request = AiohttpRequest(connection_pool_size=8, pool_timeout=30)
    async with make_bot(api.base_url, request) as bot:
        sends = [bot.send_message(chat_id=n, text=f"press {n}") for n in range(200)]
        messages = await asyncio.gather(*sends)

    assert sorted(message.chat_id for message in messages) == list(range(200))
    assert api.max_in_flight == 8
    assert len(api.peers) <= 8


@pytest.mark.parametrize("transport", TRANSPORTS.values(), ids=TRANSPORTS.keys())
async def test_per_call_timeout_overrides_the_default(
    api: FakeBotApi, transport: Transport
) -> None:
    """A timeout passed to the call wins over the instance default; None means no limit."""
    api.delays["sendMessage"] = 0.3
    async with make_bot(api.base_url, transport(read_timeout=0.05)) as bot:
        with pytest.raises(TimedOut):
            await bot.send_message(chat_id=1, text="default read timeout")
        longer = await bot.send_message(chat_id=1, text="longer", read_timeout=5)
        unlimited = await bot.send_message(chat_id=1, text="unlimited", read_timeout=None)

    assert (longer.text, unlimited.text) == ("longer", "unlimited")


def test_read_timeout_property_reports_the_default() -> None:
    assert AiohttpRequest(read_timeout=7.5).read_timeout == 7.5
    assert AiohttpRequest(read_timeout=None).read_timeout is None
    assert AiohttpRequest().read_timeout == HTTPXRequest().read_timeout == 5.0


def _collect_resource_warnings() -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    return [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_shutdown_closes_the_session_without_resource_warnings(api: FakeBotApi) -> None:
    request = AiohttpRequest()
    bot = make_bot(api.base_url, request)
    await bot.initialize()
    await bot.send_message(chat_id=1, text="hi")

    await request.shutdown()
    await request.shutdown()

    with pytest.raises(NetworkError, match="not initialized"):
        await bot.send_message(chat_id=1, text="after shutdown")
    await bot.shutdown()
    del bot, request
    assert _collect_resource_warnings() == []


async def test_initialize_and_shutdown_twice_then_reuse(api: FakeBotApi) -> None:
    request = AiohttpRequest()
    bot = make_bot(api.base_url, request)
    await request.initialize()
    await request.initialize()
    await bot.get_me()
    await bot.get_me()
    assert len(api.peers) == 1, "one keep-alive connection serves both calls"

    await request.shutdown()
    await request.shutdown()
    await request.initialize()
    await bot.get_me()
    await request.shutdown()

    assert len(api.calls) == 3
    assert _collect_resource_warnings() == []


async def test_first_request_opens_the_session_lazily(api: FakeBotApi) -> None:
    request = AiohttpRequest()
    bot = make_bot(api.base_url, request)

    user = await bot.get_me()  # no initialize() first

    assert user.username == "crampcheck_bot"
    await request.shutdown()
    assert _collect_resource_warnings() == []


async def test_context_manager_initializes_and_shuts_down(api: FakeBotApi) -> None:
    async with AiohttpRequest() as request:
        bot = make_bot(api.base_url, request)
        await bot.get_me()

    with pytest.raises(NetworkError, match="not initialized"):
        await bot.get_me()
