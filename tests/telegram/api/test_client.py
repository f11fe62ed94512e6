"""`CrampBot`'s own calls: exactly what PTB's methods send; a keyboard given as JSON text goes out
exactly as a PTB object would."""

from __future__ import annotations

import json

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError
from telegram.ext import ExtBot
from telegram.request import BaseRequest, RequestData

from bot.telegram.api.client import CrampBot
from bot.telegram.app import AnyApplication
from bot.telegram.ui.keyboards import as_object, callback_data, keyboard_json
from tests.fakes.botapi import FakeBotApi

CHAT = 4242
ROWS = [[("Yes, right now", "q:0:a0")], [("Back", "q:0:b"), ("Restart", "q:0:r")]]


@pytest.fixture
def bot(app: AnyApplication, api: FakeBotApi) -> CrampBot:
    api.register_chat(CHAT, first_name="Alex")
    assert isinstance(app.bot, CrampBot)
    return app.bot


async def test_send_text_returns_the_id_and_the_keyboard_arrives_whole(
    bot: CrampBot, api: FakeBotApi
) -> None:
    message_id = await bot.send_text(CHAT, "Is it cramping now?", markup=keyboard_json(ROWS))

    sent = api.latest_message(CHAT, with_keyboard=True)
    assert sent is not None
    assert sent.reply_markup is not None
    assert sent.message_id == message_id
    assert sent.text == "Is it cramping now?"
    buttons = [
        [(b["text"], b["callback_data"]) for b in row]
        for row in sent.reply_markup["inline_keyboard"]
    ]
    assert buttons == [[tuple(button) for button in row] for row in ROWS]


async def test_a_json_keyboard_and_the_same_ptb_keyboard_are_the_same_on_the_wire(
    bot: CrampBot, api: FakeBotApi
) -> None:
    as_json = keyboard_json(ROWS)
    as_ptb = InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in ROWS]
    )
    first = await bot.send_text(CHAT, "Q", markup=as_json)
    second = await bot.send_text(CHAT, "Q", markup=as_ptb)

    assert api.messages[CHAT, first].reply_markup == api.messages[CHAT, second].reply_markup
    assert as_object(as_json) == as_ptb
    assert callback_data(as_json) == ["q:0:a0", "q:0:b", "q:0:r"]
    assert json.loads(as_json) == as_ptb.to_dict()


async def test_edit_text_with_the_same_json_keyboard_is_not_modified(
    bot: CrampBot, api: FakeBotApi
) -> None:
    """Telegram refuses an edit that changes nothing; a redelivery's re-show relies on it."""
    message_id = await bot.send_text(CHAT, "Q", markup=keyboard_json(ROWS))

    with pytest.raises(TelegramError, match=r"(?i)message is not modified"):
        await bot.edit_text(CHAT, message_id, "Q", markup=keyboard_json(ROWS))


class AnswersTrue(BaseRequest):
    """A transport whose every call is answered `{"ok": true, "result": true}`."""

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def do_request(self, *args: object, **kwargs: object) -> tuple[int, bytes]:
        return 200, b'{"ok": true, "result": true}'


async def test_send_text_refuses_an_answer_without_a_message_id() -> None:
    """A broken server or proxy answering sendMessage without a message is an error, not 0."""
    bot = CrampBot("123:TEST", request=AnswersTrue(), get_updates_request=AnswersTrue())

    with pytest.raises(TelegramError, match="without a message id"):
        await bot.send_text(CHAT, "Q", markup=None)


class Recording(BaseRequest):
    """A transport that records each call's URL and parameters as they go on the wire."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *_: object,
        **timeouts: object,
    ) -> tuple[int, bytes]:
        assert request_data is not None
        assert not request_data.multipart_data
        self.calls.append((url, request_data.json_parameters))
        chat = {"id": CHAT, "type": "private"}
        message = {"message_id": 9, "date": 1_700_000_000, "chat": chat, "text": "Q"}
        result = True if url.endswith("answerCallbackQuery") else message
        return 200, json.dumps({"ok": True, "result": result}).encode()


async def test_the_bots_own_calls_go_out_as_ptbs_methods_send_them() -> None:
    """edit_text, send_text and a plain answer skip `_post`, not a byte of the wire."""
    ours, theirs = Recording(), Recording()
    crampbot = CrampBot("123:TEST", request=ours, get_updates_request=ours)
    ptb = ExtBot("123:TEST", request=theirs, get_updates_request=theirs)
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in ROWS]
    )

    await crampbot.edit_text(CHAT, 9, "Q ✓", markup=keyboard_json(ROWS))
    await ptb.edit_message_text("Q ✓", chat_id=CHAT, message_id=9, reply_markup=markup)
    await crampbot.send_text(CHAT, "Q", markup=markup)
    await ptb.send_message(CHAT, "Q", reply_markup=markup)
    await crampbot.send_text(CHAT, "Q", markup=None)
    await ptb.send_message(CHAT, "Q")
    for bot in (crampbot, ptb):
        await bot.answer_callback_query("cbq-1")
        await bot.answer_callback_query("cbq-2", "That question has moved on")
        await bot.answer_callback_query("cbq-3", "Alert", show_alert=True, cache_time=5)

    assert len(ours.calls) == 6
    assert [_read(call) for call in ours.calls] == [_read(call) for call in theirs.calls]


def _read(call: tuple[str, dict[str, str]]) -> tuple[str, dict[str, object]]:
    """Return a call as the server reads it: a keyboard's JSON decoded, key order aside."""
    url, parameters = call
    return url, {
        name: json.loads(v) if name == "reply_markup" else v for name, v in parameters.items()
    }


async def test_a_press_is_answered_once_however_often_it_is_asked(
    bot: CrampBot, api: FakeBotApi
) -> None:
    query_id = api.new_callback_query_id()
    assert await bot.answer_callback_query(query_id, "That question has moved on")
    assert await bot.answer_callback_query(query_id)

    assert api.answered_callback_queries == [query_id]


async def test_an_answer_that_fails_is_dropped_without_failing_the_caller(
    bot: CrampBot, api: FakeBotApi
) -> None:
    api.fail_next("answerCallbackQuery", status=400, description="Bad Request: query is too old")

    assert await bot.answer_callback_query(api.new_callback_query_id()) is False
    assert api.answered_callback_queries == []
