"""Commands, typed text, other messages, other chats, errors: each answered, nothing leaked."""

from __future__ import annotations

import logging

import pytest

from bot import __version__
from bot.engine.errors import StoreError
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.freetext import mentions_emergency
from bot.store.base import Record, SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.app import COMMANDS, AnyApplication
from bot.telegram.state.conversation import Conversation
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.telegram.helpers import PHOTO, feed, stored, user_message

FIRST_QUESTION = "First, a safety check."
CANARY = "canary-7f3e9 my calf hurts"


def test_set_my_commands_is_called_at_init_with_kb_descriptions(
    app: AnyApplication, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    calls = api.calls_to("setMyCommands")
    assert len(calls) == len(kb.languages), "one command menu per language"
    by_language = {call.params.get("language_code"): call.params["commands"] for call in calls}
    for language in kb.languages:
        commands = by_language[None if language == kb.languages[0] else language]
        assert [command["command"] for command in commands] == list(COMMANDS)
        assert commands[0]["description"] == kb.text("command_start", language)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/help", "/forget"),
        ("/privacy", "24 hours without activity"),
        ("/about", f"CrampCheck {__version__}"),
    ],
)
async def test_information_commands_reply_with_their_text(
    driver: ChatDriver, command: str, expected: str
) -> None:
    await driver.send(command)

    assert expected in driver.last_text()


async def test_about_names_the_knowledge_base_version(
    driver: ChatDriver, kb: KnowledgeBase
) -> None:
    await driver.send("/about")

    assert kb.version in driver.last_text()


async def test_privacy_says_no_free_text_or_location_is_stored(driver: ChatDriver) -> None:
    await driver.send("/privacy")

    text = driver.last_text()
    assert "chat and user id" in text
    assert "/forget" in text
    assert "Typed messages, photos and locations are never stored" in text


async def test_cancel_deletes_the_session_and_says_how_to_start_again(
    driver: ChatDriver, store: MemoryStore
) -> None:
    await driver.send("/start")

    await driver.send("/cancel")

    assert await stored(store, driver) is None
    assert "/start" in driver.last_text()
    assert driver.questionnaire_keyboards() == [], "the question's buttons are gone"


async def test_restart_command_asks_the_first_question_again(driver: ChatDriver) -> None:
    await driver.send("/start")

    await driver.send("/restart")

    assert driver.last_text().startswith(FIRST_QUESTION)
    assert len(driver.questionnaire_keyboards()) == 1


async def test_forget_asks_then_deletes_every_record_of_the_user(
    driver: ChatDriver, store: MemoryStore
) -> None:
    await driver.send("/start")
    other_chat = SessionKey(chat_id=-100123, user_id=driver.user_id)
    await store.put(other_chat, "{}", expected_revision=0)

    await driver.send("/forget")
    assert driver.current_buttons() == ["Yes, delete", "No, keep"]
    await driver.press("Yes, delete")

    assert await stored(store, driver) is None
    assert await store.get(other_chat) is None
    assert driver.last_text().startswith("Done: everything stored about you is deleted")
    assert driver.unanswered_callbacks() == []


async def test_forget_no_keeps_the_session(driver: ChatDriver, store: MemoryStore) -> None:
    await driver.send("/start")
    await driver.send("/forget")

    await driver.press("No, keep")

    assert await stored(store, driver) is not None
    assert driver.last_text() == "Nothing was deleted."


@pytest.mark.parametrize(
    "text",
    [
        "My friend has CHEST PAIN",
        "I can\u2019t breathe properly",
        "he collapsed on the trail",
        "she is confused and hot",
        "he had a fit",
        "I think it is heatstroke",
    ],
)
async def test_emergency_phrase_gets_the_emergency_card_at_once(
    driver: ChatDriver, store: MemoryStore, text: str
) -> None:
    await driver.send(text)

    assert driver.last_text().startswith(
        "🚨 That could be an emergency. Call the emergency number"
    )
    assert await stored(store, driver) is None, "typed text is never stored"


@pytest.mark.parametrize("text", ["I am fit and well", "my calf hurts", "breathing is fine"])
def test_ordinary_text_is_not_an_emergency(kb: KnowledgeBase, text: str) -> None:
    assert not mentions_emergency(kb, text)


async def test_other_text_shows_the_current_question_again_as_a_new_message(
    driver: ChatDriver, store: MemoryStore
) -> None:
    await driver.send("/start")

    await driver.send("what now?")

    assert driver.bot_messages()[-1].text.startswith("First, a safety check.")
    assert len(driver.questionnaire_keyboards()) == 1
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.message_id == driver.bot_messages()[-1].message_id


@pytest.mark.parametrize("text", ["hello", "/unknown"])
async def test_text_without_a_session_points_to_start(driver: ChatDriver, text: str) -> None:
    await driver.send(text)

    assert "/start" in driver.last_text()


async def test_sticker_and_photo_get_a_polite_reply_and_a_location_its_numbers(
    driver: ChatDriver,
) -> None:
    await driver.send_sticker()
    assert driver.last_text().startswith("Sorry, I can only read button presses")
    await feed(driver, "message", user_message(driver, photo=PHOTO))
    await driver.send_location(61.5, 8.3)

    assert sum(m.text.startswith("Sorry, I can only") for m in driver.bot_messages()) == 2
    assert driver.last_text().startswith("📞 Norway: medical emergency 113")


async def test_edited_message_is_not_an_answer_but_an_emergency_still_counts(
    driver: ChatDriver,
) -> None:
    await driver.send("/start")
    edited = user_message(driver, text="no", edit_date=1)
    await feed(driver, "edited_message", edited)
    assert driver.last_text().startswith("I don't act on edited messages")

    await feed(driver, "edited_message", user_message(driver, text="chest pain", edit_date=1))

    assert driver.last_text().startswith("🚨 That could be an emergency")


async def test_group_chats_and_channel_posts_are_ignored(
    app: AnyApplication, api: FakeBotApi
) -> None:
    group = ChatDriver(app, api, chat_id=-100777, user_id=55)
    api.chats[group.chat_id] = {"id": group.chat_id, "type": "group", "title": "Hikers"}
    api.clear()

    await group.send("/start")
    await group.send("chest pain")
    await group.send_sticker()
    channel = {"id": -100888, "type": "channel", "title": "News"}
    post = {"message_id": 1, "chat": channel, "date": 0, "text": "/start"}
    await feed(group, "channel_post", post)

    assert api.calls == []


async def test_outdated_session_restarts_politely(
    driver: ChatDriver, store: MemoryStore, kb: KnowledgeBase
) -> None:
    session, _ = machine.start(kb)
    old = Conversation(session=session.model_copy(update={"kb": "2020.1"}), message_id=None)
    await store.put(SessionKey(driver.chat_id, driver.user_id), old.dump(), expected_revision=0)

    await driver.send("hello")

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-2] == "The questionnaire was updated, so we are starting again."
    assert texts[-1].startswith(FIRST_QUESTION)
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.session.kb == kb.version


async def test_outdated_session_button_restarts_politely(
    driver: ChatDriver, store: MemoryStore
) -> None:
    await driver.send("/start")
    key = SessionKey(driver.chat_id, driver.user_id)
    record = await store.get(key)
    assert record is not None
    old = Conversation.load(record.data)
    outdated = old.model_copy(update={"session": old.session.model_copy(update={"kb": "old"})})
    await store.put(key, outdated.dump(), expected_revision=record.revision)

    await driver.press("None of these")

    assert "The questionnaire was updated" in [m.text for m in driver.bot_messages()][-2]
    assert driver.last_text().startswith(FIRST_QUESTION)
    assert driver.unanswered_callbacks() == []


async def test_error_handler_apologises_and_logs_ids_only(
    driver: ChatDriver,
    store: MemoryStore,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="bot")
    await driver.send("/start")
    real_get = store.get
    calls = 0

    async def get_failing_once(key: SessionKey) -> Record | None:  # a bug, not a passing fault
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("injected")
        return await real_get(key)

    monkeypatch.setattr(store, "get", get_failing_once)

    update = await driver.send(CANARY)

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-2] == "Sorry, something went wrong on my side. Here is where we were."
    assert texts[-1].startswith("First, a safety check.")
    failures = [record for record in caplog.records if record.exc_info]
    assert failures
    assert str(update.update_id) in failures[0].getMessage()
    formatter = logging.Formatter()
    for record in caplog.records:
        logged = formatter.format(record)
        assert "canary" not in logged.lower()
        assert "chest pain" not in logged.lower()


async def test_unreadable_record_counts_as_no_session(
    driver: ChatDriver, store: MemoryStore
) -> None:
    key = SessionKey(driver.chat_id, driver.user_id)
    await store.put(key, '{"format": 99}', expected_revision=0)

    await driver.send("hello")
    assert "/start" in driver.last_text()
    await driver.send("/start")

    assert driver.last_text().startswith(FIRST_QUESTION)


async def test_store_failure_on_a_press_still_answers_and_apologises(
    driver: ChatDriver, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await driver.send("/start")

    async def broken(key: SessionKey) -> None:
        raise StoreError("store down")

    monkeypatch.setattr(store, "get", broken)
    await driver.press("None of these")

    assert driver.unanswered_callbacks() == []
    assert driver.last_text().startswith("Sorry, something went wrong on my side.")
