"""Reading updates: the pressed message's keyboard is left out, everything else is kept."""

from __future__ import annotations

import copy
from typing import Any

from bot.telegram.intake import parse_update

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "q:0:a0"}]]}


def press(message: dict[str, Any] | None) -> dict[str, Any]:
    user = {"id": 7, "is_bot": False, "first_name": "A"}
    query: dict[str, Any] = {"id": "1", "from": user, "chat_instance": "c", "data": "q:0:a0"}
    if message is not None:
        query["message"] = message
    return {"update_id": 5, "callback_query": query}


def pressed_message() -> dict[str, Any]:
    chat = {"id": 7, "type": "private", "first_name": "A"}
    return {"message_id": 3, "date": 0, "chat": chat, "text": "Q?", "reply_markup": KEYBOARD}


def test_a_press_is_read_without_the_keyboard_of_the_pressed_message() -> None:
    data = press(pressed_message())
    original = copy.deepcopy(data)

    update = parse_update(data, None)

    query = update.callback_query
    assert query is not None
    assert query.data == "q:0:a0"
    assert query.message is not None
    assert query.message.message_id == 3
    assert query.message.chat.id == 7
    assert getattr(query.message, "reply_markup", None) is None
    assert data == original  # the caller's dict is not changed


def test_a_press_without_a_message_or_keyboard_reads_as_before() -> None:
    bare = pressed_message()
    del bare["reply_markup"]
    for data in (press(None), press(bare)):
        update = parse_update(data, None)
        assert update.callback_query is not None
        assert update.callback_query.data == "q:0:a0"
