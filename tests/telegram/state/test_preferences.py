"""Language: from the Telegram app's language_code, overridable with /language, remembered."""

from __future__ import annotations

import pytest

from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import localize
from bot.engine.questionnaire.freetext import mentions_emergency
from bot.store.base import PROFILE, SessionKey, SessionStore
from bot.telegram.app import AnyApplication
from bot.telegram.state.preferences import language_from_code
from bot.telegram.ui.callbacks import decode_language, encode_language
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver


def first_question(kb: KnowledgeBase, language: str) -> str:
    return localize(kb.questions[0].text, language)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("nb", "nb"),
        ("nb-NO", "nb"),
        ("nn", "nb"),
        ("no", "nb"),
        ("NO", "nb"),
        ("en", "en"),
        ("en-GB", "en"),
        ("de", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_telegram_language_codes_map_to_bokmal_or_english(
    kb: KnowledgeBase, code: str | None, expected: str
) -> None:
    assert language_from_code(kb, code) == expected


def test_language_button_data_round_trips_and_rejects_forgeries() -> None:
    assert decode_language(encode_language("nb")) == "nb"
    for forged in ("l:", "l:NB", "l:nbx", "x:nb", "l:n\u00e6", None, 5):
        with pytest.raises(ValueError, match="malformed"):
            decode_language(forged)
    with pytest.raises(ValueError, match="two-letter"):
        encode_language("nb-NO")


async def test_a_norwegian_telegram_app_gets_norwegian_questions(
    app: AnyApplication, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    driver = ChatDriver(app, api, language_code="nb")
    await driver.send("/start")
    assert driver.last_text().startswith(first_question(kb, "nb"))
    assert kb.text("unsure_some", "nb") in driver.current_buttons()


async def test_language_command_switches_the_live_question_and_is_remembered(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore
) -> None:
    await driver.send("/start")
    assert driver.last_text().startswith(first_question(kb, "en"))
    question_id = driver.bot_messages()[-1].message_id

    await driver.send("/language")
    assert driver.current_buttons() == ["English", "Norsk (bokmål)"]
    await driver.press("Norsk (bokmål)")

    redrawn = next(m for m in driver.bot_messages() if m.message_id == question_id)
    assert redrawn.text.startswith(first_question(kb, "nb"))
    assert kb.text("language_set", "nb") in driver.bot_messages()[-1].text  # the prompt
    await driver.send("/cancel")
    await driver.send("/start")
    assert driver.last_text().startswith(first_question(kb, "nb")), "the choice outlives /cancel"
    assert driver.unanswered_callbacks() == []


async def test_forget_erases_the_language_choice_too(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore
) -> None:
    await driver.send("/language")
    await driver.press("Norsk (bokmål)")
    profile = SessionKey(0, driver.user_id, scope=PROFILE)
    assert await store.get(profile) is not None

    await driver.send("/forget")
    await driver.press(kb.text("forget_yes", "nb"))

    assert await store.get(profile) is None
    await driver.send("/start")
    assert driver.last_text().startswith(first_question(kb, "en"))


async def test_a_forged_language_button_is_answered_and_changes_nothing(
    driver: ChatDriver, kb: KnowledgeBase
) -> None:
    await driver.send("/start")
    await driver.press_data("l:de")
    await driver.send("/help")
    assert driver.last_text() == kb.text("help", "en")
    assert driver.unanswered_callbacks() == []


@pytest.mark.parametrize(
    "text",
    [
        "my friend is muddled and keeps asking where we are",
        "he's not making sense",
        "hun virrer og vet ikke hvor hun er",
        "Han snakker usammenhengende",
        "I have CHEST PAIN",
        "jeg har brystsmerter",
    ],
)
def test_muddled_or_incoherent_companions_count_as_confusion(kb: KnowledgeBase, text: str) -> None:
    """BRIEF 3: a companion saying the person is muddled is treated as confusion (emergency)."""
    assert mentions_emergency(kb, text)
