"""The questionnaire over Telegram: real Application, FakeBotApi, updates through ChatDriver."""

from __future__ import annotations

import pytest

from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.store.base import SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.state.conversation import Conversation
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.telegram.helpers import stored

MOVED_ON = "That question has moved on"


async def test_start_greets_then_asks_the_first_question_with_buttons(
    driver: ChatDriver, kb: KnowledgeBase
) -> None:
    await driver.send("/start")

    welcome, question = driver.bot_messages()
    assert welcome.text.startswith(kb.text("welcome", "en"))
    assert kb.text("disclaimer", "en") in welcome.text
    assert question.text.startswith("First, a safety check.")
    assert driver.current_buttons()[:2] == ["☐ Cramp right now", "☐ Chest pain"]
    assert driver.current_buttons()[-3:] == [
        "None of these",
        "Not sure about some of these",
        "↺ Restart",
    ]


async def test_options_are_one_per_row_and_back_appears_after_an_answer(
    driver: ChatDriver, api: FakeBotApi
) -> None:
    await driver.send("/start")
    await driver.press("None of these")

    sent = api.latest_message(driver.chat_id, with_keyboard=True)
    assert sent is not None
    assert sent.reply_markup is not None
    rows = sent.reply_markup["inline_keyboard"]
    assert all(len(row) == 1 for row in rows[:-1])
    assert [button["text"] for button in rows[-1]] == ["⬅ Back", "↺ Restart"]


async def test_answering_yes_to_cramp_now_sends_the_first_aid_card_then_the_next_question(
    driver: ChatDriver,
) -> None:
    await driver.send("/start")
    await driver.press("☐ Cramp right now")

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-2].startswith("🩹 First aid now")
    assert texts[-1].startswith("First, a safety check.")
    assert driver.last_text() == texts[-1]
    keyboards = driver.questionnaire_keyboards()
    assert len(keyboards) == 1, "only the current question keeps live buttons"


async def test_questions_advance_by_editing_one_message(driver: ChatDriver) -> None:
    await driver.send("/start")
    first = driver.bot_messages()[-1].message_id
    await driver.press("None of these")

    assert driver.bot_messages()[-1].message_id == first
    assert driver.last_text().startswith("About the muscle")


async def test_checklist_ticks_show_and_done_label_switches(driver: ChatDriver) -> None:
    await driver.send("/start")
    await driver.press("None of these")
    await driver.press("None of these")
    assert "None of these" in driver.current_buttons()

    await driver.press("☐ Puffy or bloated")

    assert "☑ Puffy or bloated" in driver.current_buttons()
    assert "☑ Puffy or bloated:" in driver.last_text()
    assert "Done" in driver.current_buttons()
    assert "None of these" not in driver.current_buttons()

    await driver.press("☑ Puffy or bloated")

    assert "☐ Puffy or bloated" in driver.current_buttons()
    assert "None of these" in driver.current_buttons()


async def test_back_returns_to_the_previous_question(
    driver: ChatDriver, store: MemoryStore
) -> None:
    await driver.send("/start")
    await driver.press("None of these")

    await driver.press("⬅ Back")

    assert driver.last_text().startswith("First, a safety check.")
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.session.answers == ()


async def test_restart_button_begins_again(driver: ChatDriver, store: MemoryStore) -> None:
    await driver.send("/start")

    await driver.press("↺ Restart")

    assert driver.last_text().startswith("First, a safety check.")
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.session.answers == ()


async def test_stale_button_says_moved_on_and_shows_the_current_question(
    driver: ChatDriver, api: FakeBotApi
) -> None:
    await driver.send("/start")

    await driver.press_data("q:0:a0")  # the first question's "Yes", pressed again

    assert api.last("answerCallbackQuery").params.get("text") == MOVED_ON
    assert driver.last_text().startswith("First, a safety check.")
    assert driver.unanswered_callbacks() == []
    assert api.calls[-1].method == "answerCallbackQuery", "the chat shows the step: no re-show"
    assert not any(m.text.startswith("Sorry") for m in driver.bot_messages())


async def test_a_press_on_the_last_shown_screen_while_a_newer_one_is_owed_gets_no_moved_on(
    driver: ChatDriver, api: FakeBotApi, store: MemoryStore, kb: KnowledgeBase
) -> None:
    """A restart (or a kill) kept the newer screen, which goes into a new message, from the
    chat: the person pressed the newest buttons they could see, so the press is answered
    quietly and the owed screen is shown, instead of "moved on"."""
    await driver.send("/start")
    shown = driver.bot_messages()[-1].message_id
    key = SessionKey(driver.chat_id, driver.user_id)
    record = await store.get(key)
    assert record is not None
    conversation = Conversation.load(record.data)
    session, _ = machine.done(kb, conversation.session)  # committed, never shown
    view = conversation.view + 1
    drawn = {"session": session, "view": view, "fresh": view, "screen_rev": session.rev}
    owed = conversation.model_copy(update=drawn)
    await store.put(key, owed.dump(), expected_revision=record.revision)

    await driver.press_data("q:0:t1", message_id=shown)

    assert api.last("answerCallbackQuery").params.get("text") in (None, "")
    assert driver.bot_messages()[-1].message_id != shown
    assert driver.bot_messages()[-1].text.startswith("About the muscle")
    assert driver.unanswered_callbacks() == []


async def test_stale_button_on_an_old_message_is_moved_on_and_sends_nothing(
    driver: ChatDriver, api: FakeBotApi
) -> None:
    """The current question is the newest message already: no old screen comes back."""
    await driver.send("/start")
    old = driver.bot_messages()[-1].message_id
    await driver.press("☐ Cramp right now")  # the card moves the checklist to a new message
    await driver.press("Done")  # the next question, drawn over the checklist's new message
    before = len(driver.bot_messages())

    await driver.press_data("q:0:t1", message_id=old)  # a tick on the first copy, later on

    assert api.last("answerCallbackQuery").params.get("text") == MOVED_ON
    assert len(driver.bot_messages()) == before
    assert driver.bot_messages()[-1].text.startswith("About the muscle")


async def test_ticks_on_a_checklist_drawn_a_tick_ago_count_and_a_double_tap_is_one_tick(
    driver: ChatDriver, api: FakeBotApi, store: MemoryStore
) -> None:
    """Fast fingers: ticks pressed before the last tick's redraw arrived are applied."""
    await driver.send("/start")
    checklist = driver.bot_messages()[-1].message_id
    shown = api.latest_message(driver.chat_id, with_keyboard=True)
    assert shown is not None
    assert shown.reply_markup is not None
    rows = shown.reply_markup["inline_keyboard"]
    drawn = {button["text"]: button["callback_data"] for row in rows for button in row}

    await driver.press_data(drawn["☐ Cramp right now"], message_id=checklist)
    await driver.press_data(drawn["☐ Cramp right now"], message_id=checklist)  # a double tap

    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.session.ticked == ("cramp_now",)  # ticked once, not ticked and unticked
    answers = [call.params.get("text") for call in api.calls_to("answerCallbackQuery")]
    assert MOVED_ON not in answers
    assert driver.unanswered_callbacks() == []


@pytest.mark.parametrize(
    "data",
    ["q:0:a99", "q:0:t99", "q:0:c", "q:0:w", "q:0:m", "q:99999:t0", "nonsense", "q:0:a\u0663"],
)
async def test_forged_or_invalid_data_is_answered_and_changes_nothing(
    driver: ChatDriver, api: FakeBotApi, store: MemoryStore, data: str
) -> None:
    await driver.send("/start")
    before = await store.get(SessionKey(driver.chat_id, driver.user_id))

    await driver.press_data(data)

    assert api.last("answerCallbackQuery").params.get("text") == MOVED_ON
    assert await store.get(SessionKey(driver.chat_id, driver.user_id)) == before
    assert driver.last_text().startswith("First, a safety check.")


async def test_every_callback_is_answered_before_any_message_changes(
    driver: ChatDriver, api: FakeBotApi
) -> None:
    await driver.send("/start")
    for label in ["☐ Cramp right now", "☐ Chest pain", "Why?", "↺ Restart"]:
        api.clear()
        await driver.press(label)
        assert api.calls[0].method == "answerCallbackQuery", label
    api.clear()
    await driver.press_data("q:0:zz")
    assert api.calls[0].method == "answerCallbackQuery"
    assert driver.unanswered_callbacks() == []


async def test_result_shows_banner_and_why_sends_the_reasons(driver: ChatDriver) -> None:
    await driver.send("/start")
    await driver.press("☐ Chest pain")

    assert driver.screen_text().startswith("🚨 ")
    assert driver.current_buttons()[:3] == ["Why?", "📋 Summary", "↺ Restart"]

    await driver.press("Why?")

    assert driver.bot_messages()[-1].text.startswith("Why this level:")
    assert driver.unanswered_callbacks() == []


async def test_restart_from_a_result_keeps_the_result_in_the_chat(driver: ChatDriver) -> None:
    await driver.send("/start")
    await driver.press("☐ Chest pain")

    await driver.press("↺ Restart")

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-3].startswith("🚨 ")  # then the location offer, then the new questionnaire
    assert texts[-1].startswith("First, a safety check.")


async def test_press_without_a_session_is_answered_and_offers_start(
    driver: ChatDriver, api: FakeBotApi
) -> None:
    await driver.send("/start")
    question = driver.bot_messages()[-1].message_id
    await driver.send("/cancel")

    await driver.press_data("q:0:a0", message_id=question)

    assert "/start" in api.last("answerCallbackQuery").params["text"]
    assert "/start" in driver.last_text()
    assert driver.unanswered_callbacks() == []


async def test_message_that_cannot_be_edited_is_sent_anew_and_tracked(
    driver: ChatDriver, api: FakeBotApi, store: MemoryStore
) -> None:
    await driver.send("/start")
    tracked = driver.bot_messages()[-1].message_id
    del api.messages[driver.chat_id, tracked]  # as if the user deleted it

    await driver.press_data("q:0:d", message_id=tracked)  # None of these: the next screen

    assert driver.last_text().startswith("About the muscle")
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.message_id == driver.bot_messages()[-1].message_id != tracked


@pytest.mark.parametrize(
    "description",
    ["Bad Request: message can't be edited", "Bad Request: message to edit not found"],
)
async def test_edit_refused_by_telegram_sends_the_question_anew(
    driver: ChatDriver, api: FakeBotApi, store: MemoryStore, description: str
) -> None:
    await driver.send("/start")
    tracked = driver.bot_messages()[-1].message_id
    api.fail_next("editMessageText", status=400, description=description)

    await driver.press("None of these")

    newest = driver.bot_messages()[-1]
    assert newest.text.startswith("About the muscle")
    assert newest.message_id != tracked
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.message_id == newest.message_id


class RacingStore(MemoryStore):
    """A store where another process writes the same key just before our next put."""

    def __init__(self) -> None:
        super().__init__()
        self.rival: str | None = None

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            await super().put(key, rival, expected_revision=expected_revision)
        return await super().put(key, data, expected_revision=expected_revision)


@pytest.fixture
def store() -> RacingStore:
    return RacingStore()


async def test_lost_race_reloads_once_and_never_applies_the_answer_twice(
    driver: ChatDriver, store: RacingStore, kb: KnowledgeBase
) -> None:
    """A double tap handled by another process first: ours loses the compare-and-set."""
    await driver.send("/start")
    key = SessionKey(driver.chat_id, driver.user_id)
    record = await store.get(key)
    conversation = await stored(store, driver)
    assert record is not None
    assert conversation is not None
    answered, _ = machine.done(kb, conversation.session)
    # As its commit writes it: the next view, a new question drawn at the new revision.
    rival = {"session": answered, "view": conversation.view + 1, "screen_rev": answered.rev}
    store.rival = conversation.model_copy(update=rival).dump()

    await driver.press("None of these")

    final = await store.get(key)
    assert final is not None
    loaded = Conversation.load(final.data)
    assert loaded.session.rev == 1, "the answer was applied once, by the rival"
    assert len(loaded.session.answers) == 1
    assert driver.last_text().startswith("About the muscle")
    assert driver.unanswered_callbacks() == []
