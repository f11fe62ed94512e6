"""Reading updates: a plain press is built by intake itself, with the pressed message's chat, id
and date only; anything else is PTB's `Update.de_json`."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Bot, InaccessibleMessage, MaybeInaccessibleMessage, Message, Update

from bot.telegram.api.intake import parse_update

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "q:0:a0"}]]}
DATE = 1_700_000_000


def press(message: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    user = {"id": 7, "is_bot": False, "first_name": "A", "language_code": "de"}
    query: dict[str, Any] = {"id": "1", "from": user, "chat_instance": "c", "data": "q:0:a0"}
    if message is not None:
        query["message"] = message
    return {"update_id": 5, "callback_query": query | extra}


def pressed_message(date: int = DATE) -> dict[str, Any]:
    chat = {"id": 7, "type": "private", "first_name": "A"}
    bot = {"id": 99, "is_bot": True, "first_name": "CrampCheck"}
    return {
        "message_id": 3,
        "date": date,
        "chat": chat,
        "from": bot,
        "text": "Q?",
        "reply_markup": KEYBOARD,
    }


def test_a_press_keeps_what_ptb_reads_and_the_pressed_messages_chat_id_and_date() -> None:
    bot = Bot("1:T")
    data = press(pressed_message())
    original = copy.deepcopy(data)

    update = parse_update(data, bot)
    full = Update.de_json(copy.deepcopy(data), bot)  # PTB's own reading, for comparison

    query, expected = update.callback_query, full.callback_query
    assert query is not None
    assert expected is not None
    assert (query.id, query.from_user, query.chat_instance, query.data) == (
        expected.id,
        expected.from_user,
        expected.chat_instance,
        expected.data,
    )
    assert query.from_user.language_code == "de"
    assert (update.update_id, update.effective_chat, update.effective_user) == (
        5,
        full.effective_chat,
        full.effective_user,
    )
    message = query.message
    assert type(message) is MaybeInaccessibleMessage  # not the whole Message
    assert (message.message_id, message.chat.id, message.is_accessible) == (3, 7, True)
    assert expected.message is not None
    assert message.date == datetime.fromtimestamp(DATE, UTC) == expected.message.date
    assert update.get_bot() is bot  # query.answer() and the other shortcuts need it
    assert query.get_bot() is bot
    assert data == original  # the caller's dict is not changed


def test_a_press_on_a_message_telegram_hides_reads_as_inaccessible() -> None:
    update = parse_update(press(pressed_message(date=0)), None)

    assert update.callback_query is not None
    assert isinstance(update.callback_query.message, InaccessibleMessage)
    assert update.callback_query.message.message_id == 3


def test_a_press_without_a_message_has_none() -> None:
    update = parse_update(press(None, inline_message_id="im-1"), None)

    assert update.callback_query is not None
    assert update.callback_query.message is None
    assert update.callback_query.inline_message_id == "im-1"


def test_a_press_with_a_field_intake_does_not_know_goes_to_ptb_whole() -> None:
    update = parse_update(press(pressed_message(), newer_field=1), None)

    assert update.callback_query is not None
    assert update.callback_query.api_kwargs == {"newer_field": 1}
    assert isinstance(update.callback_query.message, Message)


@pytest.mark.parametrize(
    "broken",
    [
        {"date": "yesterday"},
        {"date": 10**30},
        {"chat": None},
        {"chat": "seven"},
        {"message_id": None} | {"chat": []},
    ],
    ids=["date-text", "date-huge", "chat-null", "chat-text", "chat-list"],
)
def test_a_press_with_a_broken_message_is_an_empty_update(broken: dict[str, Any]) -> None:
    update = parse_update(press(pressed_message() | broken), None)

    assert update.update_id == 5
    assert update.callback_query is None


def test_presses_by_one_person_share_the_user_and_chat_ptb_would_build() -> None:
    bot = Bot("1:T")
    first, second = (
        parse_update(press(pressed_message()), bot),
        parse_update(press(pressed_message()), bot),
    )
    full = Update.de_json(press(pressed_message()), bot)

    assert first.effective_user is second.effective_user  # PTB's objects are frozen
    assert first.effective_chat is second.effective_chat
    assert first.effective_user is not None
    assert full.effective_user is not None
    assert first.effective_user.to_dict() == full.effective_user.to_dict()
    assert first.effective_chat is not None
    assert full.effective_chat is not None
    assert first.effective_chat.to_dict() == full.effective_chat.to_dict()


def test_a_person_whose_details_changed_gets_a_user_of_their_own() -> None:
    data = press(pressed_message())
    renamed = copy.deepcopy(data)
    renamed["callback_query"]["from"]["language_code"] = "nb"

    before, after = parse_update(data, None), parse_update(renamed, None)

    assert before.effective_user is not None
    assert after.effective_user is not None
    assert (before.effective_user.language_code, after.effective_user.language_code) == (
        "de",
        "nb",
    )


def test_a_user_with_a_nested_field_is_parsed_without_sharing() -> None:
    data = press(pressed_message())
    data["callback_query"]["from"]["newer_field"] = {"nested": True}

    first, second = parse_update(data, None), parse_update(copy.deepcopy(data), None)

    assert first.effective_user is not None
    assert first.effective_user.api_kwargs == {"newer_field": {"nested": True}}
    assert first.effective_user is not second.effective_user


def typed(text: str = "/start", **extra: Any) -> dict[str, Any]:
    message = {
        "message_id": 11,
        "from": {"id": 7, "is_bot": False, "first_name": "A", "language_code": "de"},
        "chat": {"id": 7, "type": "private", "first_name": "A"},
        "date": DATE,
        "text": text,
        "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
    }
    return {"update_id": 6, "message": message | extra}


@pytest.mark.parametrize(
    "data",
    [
        typed(),
        typed("Cramp in my calf", entities=[]),
        {"update_id": 6, "message": {k: v for k, v in typed()["message"].items() if k != "from"}
         | {"chat": {"id": -5, "type": "group", "title": "Trip"}}},
        {"update_id": 6, "message": {k: v for k, v in typed()["message"].items()
                                     if k != "entities"}},
    ],
    ids=["command", "no-entities", "group-without-sender", "entities-left-out"],
)  # fmt: skip
def test_a_typed_message_is_the_update_ptb_would_build(data: dict[str, Any]) -> None:
    bot = Bot("1:T")
    original = copy.deepcopy(data)

    update = parse_update(data, bot)
    full = Update.de_json(copy.deepcopy(data), bot)

    assert update.to_dict() == full.to_dict()
    assert update.message is not None
    assert update.message.get_bot() is bot  # reply_text() and the other shortcuts need it
    assert update.get_bot() is bot
    assert data == original


@pytest.mark.parametrize(
    "extra",
    [
        {"reply_to_message": typed()["message"]},
        {"entities": [{"type": "text_link", "offset": 0, "length": 1, "url": "https://x.org"}]},
        {"newer_field": 1},
    ],
    ids=["reply", "entity-with-url", "unknown-field"],
)
def test_a_message_with_more_than_text_goes_to_ptb_whole(extra: dict[str, Any]) -> None:
    data = typed(**extra)

    assert (
        parse_update(data, None).to_dict() == Update.de_json(copy.deepcopy(data), None).to_dict()
    )


@pytest.mark.parametrize(
    "broken", [{"date": "today"}, {"chat": "seven"}, {"text": 5}, {"entities": [{"type": 1}]}]
)
def test_a_typed_message_that_breaks_the_api_is_an_empty_update(broken: dict[str, Any]) -> None:
    update = parse_update(typed() | {"message": typed()["message"] | broken}, None)

    assert update.update_id == 6
    assert update.message is None
