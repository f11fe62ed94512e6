"""Tests for the fakes themselves: FakeBotApi answers like Telegram and ChatDriver plays a chat."""

from __future__ import annotations

import datetime as dt
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Location,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.warnings import PTBUserWarning

from tests.fakes.botapi import (
    CALLBACK_ANSWER_MAX,
    CALLBACK_DATA_MAX_BYTES,
    COMMAND_DESCRIPTION_MAX,
    MESSAGE_TEXT_MAX,
    SPEC_PATH,
    BotApiViolation,
    FakeBotApi,
    forbid_network,
)
from tests.fakes.driver import AnyApplication, ChatDriver

CHAT_ID = 4242
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes, both legs", callback_data="ans:yes"),
            InlineKeyboardButton("No", callback_data="ans:no"),
        ],
        [InlineKeyboardButton("Not sure", callback_data="ans:unsure")],
    ]
)


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_html("<b>Welcome</b> &amp; hello")


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        f"You said: {update.effective_message.text}", reply_markup=KEYBOARD
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"Chosen: {query.data}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)


@pytest.fixture
def api() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
def spec_api(api: FakeBotApi) -> FakeBotApi:
    """The fake with the Bot API spec loaded; skips on a fresh clone without ../shared/."""
    if not api.has_spec:
        pytest.skip(f"Bot API spec not found at {SPEC_PATH} (../shared/ exists in CI only)")
    return api


@pytest.fixture
def errors() -> list[BaseException]:
    return []


@pytest.fixture
async def app(api: FakeBotApi, errors: list[BaseException]) -> AsyncIterator[AnyApplication]:
    async def collect(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        errors.append(context.error)

    application = Application.builder().token("123:TEST").request(api).get_updates_request(api)
    built = application.build()
    built.add_handler(CommandHandler("start", on_start))
    built.add_handler(CallbackQueryHandler(on_button, pattern="^ans:"))
    built.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text))
    built.add_error_handler(collect)
    async with built:
        yield built


@pytest.fixture
def driver(app: AnyApplication, api: FakeBotApi) -> ChatDriver:
    return ChatDriver(app, api, chat_id=CHAT_ID, language_code="nb")


async def test_get_me_returns_the_bot_user_with_the_id_from_the_token(
    app: AnyApplication, api: FakeBotApi
) -> None:
    assert app.bot.id == 123
    assert app.bot.username == "crampcheck_bot"
    assert app.bot.can_join_groups is False
    assert api.calls_to("getMe")
    api.assert_clean()


async def test_send_message_is_recorded_and_parsed_into_a_message(
    app: AnyApplication, api: FakeBotApi
) -> None:
    first = await app.bot.send_message(CHAT_ID, "Where is the cramp?", reply_markup=KEYBOARD)
    second = await app.bot.send_message(CHAT_ID, "Second")

    assert isinstance(first, Message)
    assert (first.text, first.reply_markup, first.chat.type) == (
        "Where is the cramp?",
        KEYBOARD,
        "private",
    )
    assert first.from_user is not None
    assert first.from_user.is_bot
    assert second.message_id == first.message_id + 1
    call = api.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == CHAT_ID
    assert call.params["reply_markup"] == KEYBOARD.to_dict()
    assert api.messages[CHAT_ID, first.message_id].reply_markup == KEYBOARD.to_dict()
    api.assert_clean()


async def test_html_is_parsed_into_text_and_entities(app: AnyApplication, api: FakeBotApi) -> None:
    message = await app.bot.send_message(CHAT_ID, "<b>Calf</b> &lt;3 h", parse_mode="HTML")

    assert message.text == "Calf <3 h"
    assert message.entities == (MessageEntity(MessageEntity.BOLD, 0, 4),)
    api.assert_clean()


async def test_malformed_html_is_refused_like_the_real_server(
    app: AnyApplication, api: FakeBotApi
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await app.bot.send_message(CHAT_ID, "heart rate < 100", parse_mode="HTML")
    assert len(api.violations) == 1


async def test_unknown_method_is_a_violation_and_not_found(
    app: AnyApplication, spec_api: FakeBotApi
) -> None:
    with pytest.raises(EndPointNotFound):
        await app.bot.do_api_request("sendCrampReport", api_kwargs={"chat_id": CHAT_ID})

    assert [v.method for v in spec_api.violations] == ["sendCrampReport"]
    with pytest.raises(BotApiViolation, match="no such method"):
        spec_api.assert_clean()


async def test_missing_required_parameter_is_a_violation(
    app: AnyApplication, spec_api: FakeBotApi
) -> None:
    with (
        pytest.warns(PTBUserWarning, match="Please use 'Bot.sendMessage'"),
        pytest.raises(BadRequest, match=r"(?i)message text is empty"),
    ):
        await app.bot.do_api_request("sendMessage", api_kwargs={"chat_id": CHAT_ID})

    assert "required parameter 'text' missing" in str(spec_api.violations[0])


async def test_unknown_parameter_is_a_violation_but_succeeds_like_telegram(
    app: AnyApplication, spec_api: FakeBotApi
) -> None:
    message = await app.bot.send_message(CHAT_ID, "hi", api_kwargs={"severity": 3})

    assert message.text == "hi"
    assert "'severity' is not in the spec" in str(spec_api.violations[0])


async def test_callback_data_over_64_bytes_is_refused(
    app: AnyApplication, api: FakeBotApi
) -> None:
    data = "a" * (CALLBACK_DATA_MAX_BYTES - 1) + "é"  # 64 characters but 65 bytes
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data=data)]])

    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await app.bot.send_message(CHAT_ID, "Pick", reply_markup=markup)

    assert "65 bytes" in str(api.violations[0])
    assert not api.messages


async def test_text_over_4096_characters_is_refused(app: AnyApplication, api: FakeBotApi) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await app.bot.send_message(CHAT_ID, "x" * (MESSAGE_TEXT_MAX + 1))
    assert len(api.violations) == 1


async def test_reply_markup_that_is_not_json_is_refused(
    app: AnyApplication, api: FakeBotApi
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse reply keyboard markup"):
        await app.bot.send_message(CHAT_ID, "hi", api_kwargs={"reply_markup": "{not json"})
    assert "not valid JSON" in str(api.violations[0])


async def test_button_with_two_actions_is_refused(app: AnyApplication, api: FakeBotApi) -> None:
    button = {"text": "Both", "callback_data": "x", "url": "https://example.org"}
    markup = {"inline_keyboard": [[button]]}

    with pytest.raises(BadRequest):
        await app.bot.send_message(CHAT_ID, "hi", api_kwargs={"reply_markup": markup})
    assert "exactly one action field" in str(api.violations[0])


async def test_edit_with_identical_content_is_not_modified(
    app: AnyApplication, api: FakeBotApi
) -> None:
    message = await app.bot.send_message(CHAT_ID, "Same", reply_markup=KEYBOARD)

    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await message.edit_text("Same", reply_markup=KEYBOARD)
    edited = await message.edit_text("Same")  # dropping the keyboard is a change

    assert isinstance(edited, Message)
    assert edited.reply_markup is None
    assert api.messages[CHAT_ID, message.message_id].reply_markup is None
    api.assert_clean()


async def test_edit_of_unknown_message_is_not_found(app: AnyApplication, api: FakeBotApi) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await app.bot.edit_message_text("New", chat_id=CHAT_ID, message_id=999)
    api.assert_clean()


async def test_edit_reply_markup_keeps_the_text(app: AnyApplication, api: FakeBotApi) -> None:
    message = await app.bot.send_message(CHAT_ID, "<i>Keep</i>", parse_mode="HTML")

    edited = await message.edit_reply_markup(reply_markup=KEYBOARD)

    assert isinstance(edited, Message)
    assert (edited.text, edited.reply_markup) == ("Keep", KEYBOARD)
    assert edited.entities == (MessageEntity(MessageEntity.ITALIC, 0, 4),)
    api.assert_clean()


async def test_delete_message_forgets_it(app: AnyApplication, api: FakeBotApi) -> None:
    message = await app.bot.send_message(CHAT_ID, "Bye")

    assert await message.delete() is True
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await message.delete()
    assert not api.messages


async def test_pin_and_unpin_track_the_pinned_messages(
    app: AnyApplication, api: FakeBotApi
) -> None:
    first = await app.bot.send_message(CHAT_ID, "Card")
    second = await app.bot.send_message(CHAT_ID, "Another")

    assert await app.bot.pin_chat_message(CHAT_ID, first.message_id, disable_notification=True)
    assert await app.bot.pin_chat_message(CHAT_ID, second.message_id)
    assert api.pinned[CHAT_ID] == [first.message_id, second.message_id]
    assert api.last("pinChatMessage").params["message_id"] == second.message_id

    assert await app.bot.unpin_chat_message(CHAT_ID)
    assert api.pinned[CHAT_ID] == [first.message_id]
    assert await first.delete()
    assert api.pinned[CHAT_ID] == [], "a deleted message is unpinned"
    api.assert_clean()


async def test_pinning_a_message_that_is_gone_is_refused(
    app: AnyApplication, api: FakeBotApi
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message to pin not found"):
        await app.bot.pin_chat_message(CHAT_ID, 999)
    assert api.pinned[CHAT_ID] == []


async def test_pin_with_a_parameter_outside_the_spec_is_a_violation(
    app: AnyApplication, spec_api: FakeBotApi
) -> None:
    message = await app.bot.send_message(CHAT_ID, "Card")

    await app.bot.pin_chat_message(CHAT_ID, message.message_id, api_kwargs={"loud": True})

    assert "'loud' is not in the spec" in str(spec_api.violations[0])


async def test_429_fault_surfaces_as_retry_after(
    app: AnyApplication, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the opt-in, PTB 22 warns (PTBDeprecationWarning) on every RetryAfter it builds.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    api.fail_next("sendMessage", status=429, retry_after=7)

    with pytest.raises(RetryAfter) as raised:
        await app.bot.send_message(CHAT_ID, "hi")
    assert raised.value.retry_after == dt.timedelta(seconds=7)
    assert (await app.bot.send_message(CHAT_ID, "again")).text == "again"


async def test_timeout_and_500_faults_surface_as_network_errors(
    app: AnyApplication, api: FakeBotApi
) -> None:
    api.fail_next("sendMessage", status="timeout")
    api.fail_next("sendMessage", status=500)

    with pytest.raises(TimedOut):
        await app.bot.send_message(CHAT_ID, "hi")
    with pytest.raises(NetworkError, match=r"(?i)Internal Server Error"):
        await app.bot.send_message(CHAT_ID, "hi")
    assert not api.messages
    api.assert_clean()


async def test_set_my_commands_validates_and_is_returned_by_get(
    app: AnyApplication, api: FakeBotApi
) -> None:
    commands = [BotCommand("start", "Start the check"), BotCommand("cancel", "Stop")]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await app.bot.set_my_commands([BotCommand("Start", "Capitalised")])
    api.clear()

    await app.bot.set_my_commands(commands)

    assert await app.bot.get_my_commands() == tuple(commands)
    api.assert_clean()


async def test_callback_answer_over_200_characters_is_refused(
    app: AnyApplication, api: FakeBotApi
) -> None:
    query_id = api.new_callback_query_id()

    with pytest.raises(BadRequest):
        await app.bot.answer_callback_query(query_id, text="x" * (CALLBACK_ANSWER_MAX + 1))
    assert "limit 200" in str(api.violations[0])


async def test_answering_a_callback_twice_is_refused(app: AnyApplication, api: FakeBotApi) -> None:
    query_id = api.new_callback_query_id()
    await app.bot.answer_callback_query(query_id)

    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await app.bot.answer_callback_query(query_id)
    assert "already answered" in str(api.violations[0])


async def test_driver_plays_a_command_a_message_and_a_button(
    driver: ChatDriver, api: FakeBotApi, errors: list[BaseException]
) -> None:
    await driver.send("/start")
    assert driver.last_text() == "Welcome & hello"

    await driver.send("my calf")
    assert driver.last_text() == "You said: my calf"
    assert driver.current_buttons() == ["Yes, both legs", "No", "Not sure"]

    await driver.press("Yes")  # a unique prefix
    assert driver.last_text() == "Chosen: ans:yes"
    assert driver.current_buttons() == []
    assert driver.answered_callbacks() == driver.presses == 1
    assert not errors
    api.assert_clean()


async def test_driver_builds_realistic_updates(driver: ChatDriver, api: FakeBotApi) -> None:
    update = await driver.send("/start now")

    assert update.update_id == 1
    message = update.message
    assert message is not None
    assert message.from_user is not None
    assert message.from_user.language_code == "nb"
    assert message.get_bot() is driver.app.bot
    assert message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    # The user's message and the bot's reply share one message id sequence.
    assert api.last("sendMessage").params["chat_id"] == CHAT_ID
    assert driver.bot_messages()[0].message_id == message.message_id + 1


async def test_driver_presses_by_index_and_forged_data(driver: ChatDriver) -> None:
    await driver.send("knee")

    await driver.press(1)
    assert driver.last_text() == "Chosen: ans:no"
    await driver.send("again")
    await driver.press_data("ans:forged")
    assert driver.last_text() == "Chosen: ans:forged"
    assert driver.unanswered_callbacks() == []


async def test_driver_refuses_ambiguous_or_missing_buttons(driver: ChatDriver) -> None:
    with pytest.raises(LookupError, match="no inline keyboard"):
        await driver.press("Yes")
    await driver.send("foot")

    with pytest.raises(LookupError, match="no single button"):
        await driver.press("N")  # "No" and "Not sure"
    assert driver.screen().splitlines()[1:] == ["[Yes, both legs] [No]", "[Not sure]"]


async def test_driver_sends_location_and_sticker(driver: ChatDriver, api: FakeBotApi) -> None:
    located = await driver.send_location(61.5, 8.3)
    stickered = await driver.send_sticker()

    assert located.message is not None
    assert located.message.location == Location(longitude=8.3, latitude=61.5)
    assert stickered.message is not None
    assert stickered.message.sticker is not None
    assert not api.calls_to("sendMessage")  # the test app has no handler for these


async def test_driver_requires_the_fake_as_request(api: FakeBotApi) -> None:
    other = Application.builder().token("123:TEST").request(FakeBotApi()).build()
    with pytest.raises(ValueError, match="request"):
        ChatDriver(other, api)


async def test_fake_works_without_the_spec(tmp_path: Path) -> None:
    api = FakeBotApi(spec_path=tmp_path / "absent.json")
    application = Application.builder().token("123:TEST").request(api).get_updates_request(api)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="é" * 33)]])

    async with application.build() as app:
        with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
            await app.bot.send_message(CHAT_ID, "Pick", reply_markup=markup)
        message = await app.bot.send_message(CHAT_ID, "ok", api_kwargs={"anything": 1})

    assert not api.has_spec
    assert message.text == "ok"
    assert len(api.violations) == 1  # unknown parameters are only checked with the spec


def test_limits_quote_the_spec(spec_api: FakeBotApi) -> None:
    """The built-in limits are the ones the spec states, so a spec change shows up here."""
    assert spec_api.spec is not None
    methods, types = spec_api.spec.methods, spec_api.spec.types

    def description(entries: list[dict[str, Any]], name: str) -> str:
        return next(str(entry["description"]) for entry in entries if entry["name"] == name)

    assert f"1-{MESSAGE_TEXT_MAX} characters" in description(
        methods["sendMessage"]["fields"], "text"
    )
    button = types["InlineKeyboardButton"]["fields"]
    assert f"1-{CALLBACK_DATA_MAX_BYTES} bytes" in description(button, "callback_data")
    answer = methods["answerCallbackQuery"]["fields"]
    assert f"0-{CALLBACK_ANSWER_MAX} characters" in description(answer, "text")
    command = types["BotCommand"]["fields"]
    assert re.search(r"1-32 characters.*lowercase", description(command, "command"))
    assert f"1-{COMMAND_DESCRIPTION_MAX} characters" in description(command, "description")


def test_network_is_forbidden() -> None:
    with pytest.raises(AssertionError, match="real network access"):
        socket.create_connection(("api.telegram.org", 443))
