"""/sweat over the Bot API double: the guided sweat, its refusals, its record in the store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import KnowledgeBase
from bot.engine.sweat.config import SweatConfig
from bot.store.base import SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.features.sweat import SCOPE
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver

WORDS = {
    "en": {"no": "No", "yes": "Yes", "skip": "Skip"},
    "nb": {"no": "Nei", "yes": "Ja", "skip": "Hopp over"},
}


@pytest.fixture(scope="module")
def config() -> SweatConfig:
    return load_tables().sweat


def draft_key(driver: ChatDriver) -> SessionKey:
    return SessionKey(driver.chat_id, driver.user_id, scope=SCOPE)


def question(config: SweatConfig, field: str, language: str = "en") -> str:
    return next(q for q in config.questions if q.field == field).text[language]


@pytest.mark.parametrize(
    ("language", "numbers", "expected"),
    [
        (
            "en",
            ["70", "68.6", "1.0", "2"],
            ["1.2 L per hour", "0.8 L per hour", "200 mL", "1.6 L"],
        ),
        ("nb", ["70", "68,6", "1,0", "2"], ["1,2 liter i timen", "0,8 liter i timen", "200 ml"]),
    ],
)
async def test_sweat_walks_the_questions_and_shows_the_hand_checked_plan(
    app: Any,
    api: FakeBotApi,
    store: MemoryStore,
    config: SweatConfig,
    language: str,
    numbers: list[str],
    expected: list[str],
) -> None:
    # 70 -> 68.6 kg, 1.0 L in 2 h: loss 2.4 L, 1.2 L/h; plan min(0.96, ceiling 0.8) = 0.8 L/h,
    # 200 mL per 15 minutes, 1.6 L in the 2 hours.
    driver = ChatDriver(app, api, language_code=language)
    words = WORDS[language]
    await driver.send("/sweat")
    intro = driver.bot_messages()[-2].text
    assert intro.startswith(config.text("intro", language, count="7"))
    assert intro.endswith(config.text("cancel_hint", language))
    assert question(config, "fluid_restricted", language) in driver.last_text()
    assert driver.current_buttons() == [words["yes"], words["no"]]

    await driver.press(words["no"])
    assert question(config, "weight_before_kg", language) in driver.last_text()
    for typed in numbers:
        await driver.send(typed)
    assert driver.current_buttons() == [words["skip"]]
    await driver.press(words["skip"])
    await driver.press(words["no"])

    plan = driver.last_text()
    assert plan.startswith(config.text("title", language))
    for figure in expected:
        assert figure in plan
    assert await store.get(draft_key(driver)) is None, "deleted once the plan is shown"
    assert driver.unanswered_callbacks() == []


async def test_an_invalid_number_gets_a_clear_error_and_the_question_again(
    driver: ChatDriver, store: MemoryStore, config: SweatConfig
) -> None:
    await driver.send("/sweat")
    await driver.press("No")
    await driver.send("seventy")

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-2] == config.text("error_not_a_number", "en")
    assert question(config, "weight_before_kg") in texts[-1]

    await driver.send("700")
    assert "Body weight must be between" in driver.bot_messages()[-2].text
    await driver.send("70,5")
    assert question(config, "weight_after_kg") in driver.last_text()
    record = await store.get(draft_key(driver))
    assert record is not None
    assert json.loads(record.data)["numbers"] == {"weight_before_kg": 70.5}


async def test_heart_or_kidney_condition_gets_the_contraindication_and_no_numbers(
    driver: ChatDriver, store: MemoryStore, config: SweatConfig
) -> None:
    await driver.send("/sweat")
    await driver.press("Yes")

    text = driver.last_text()
    assert text.startswith(config.text("contraindication", "en"))
    assert not any(char.isdigit() for char in text)
    assert await store.get(draft_key(driver)) is None
    await driver.send("70")
    assert config.text("not_running", "en") not in driver.last_text()  # back to the questionnaire


async def test_norwegian_heart_or_kidney_yes_typed_gets_the_contraindication(
    app: Any, api: FakeBotApi, config: SweatConfig
) -> None:
    driver = ChatDriver(app, api, language_code="nb")
    await driver.send("/sweat")
    await driver.send("ja")
    assert driver.last_text().startswith(config.text("contraindication", "nb"))


async def test_an_old_sweat_button_only_gets_moved_on(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await driver.send("/sweat")
    await driver.press("No")
    await driver.press_data("p:0:y")
    assert api.last("answerCallbackQuery").params["text"] == kb.text("moved_on", "en")
    await driver.press_data("p:zz")
    assert driver.unanswered_callbacks() == []


async def test_cancel_stops_the_sweat_and_deletes_its_record(
    driver: ChatDriver, store: MemoryStore, kb: KnowledgeBase, config: SweatConfig
) -> None:
    await driver.send("/sweat")
    await driver.press("No")
    await driver.send("/cancel")
    assert driver.last_text() == kb.text("flow_stopped", "en")
    assert await store.get(draft_key(driver)) is None
    await driver.press_data("p:1:y")
    assert driver.unanswered_callbacks() == []


async def test_an_emergency_phrase_gets_the_card_then_the_sweat_question_again(
    driver: ChatDriver, store: MemoryStore, kb: KnowledgeBase, config: SweatConfig
) -> None:
    await driver.send("/sweat")
    await driver.press("No")
    before = await store.get(draft_key(driver))
    await driver.send("I have chest pain")

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-2] == kb.text("emergency_card", "en")
    assert question(config, "weight_before_kg") in texts[-1]
    after = await store.get(draft_key(driver))
    assert before is not None
    assert after is not None
    assert after.data == before.data, "the phrase is not taken as an answer"


async def test_start_closes_the_sweat(driver: ChatDriver, store: MemoryStore) -> None:
    await driver.send("/sweat")
    await driver.send("/start")
    assert await store.get(draft_key(driver)) is None
    assert driver.last_text().startswith("First, a safety check.")


async def test_forget_erases_the_sweat_record(
    driver: ChatDriver, store: MemoryStore, kb: KnowledgeBase
) -> None:
    await driver.send("/sweat")
    await driver.press("No")
    await driver.send("70")
    assert await store.get(draft_key(driver)) is not None

    await driver.send("/forget")
    await driver.press(kb.text("forget_yes", "en"))

    assert await store.get(draft_key(driver)) is None
    assert await store.count() == 0
