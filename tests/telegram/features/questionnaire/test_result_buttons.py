"""Issue 13 over Telegram: "Not sure about some of these", the interim answer with "Tailor my
advice", and "More" under a result."""

from __future__ import annotations

from bot.engine.kb.models import KnowledgeBase
from bot.store.memory import MemoryStore
from tests.fakes.driver import ChatDriver
from tests.telegram.helpers import stored

TAILOR = "Tailor my advice (3 quick questions)"


async def none_of_these_to_the_interim_answer(driver: ChatDriver) -> None:
    await driver.send("/start")
    for _ in range(4):
        await driver.press("None of these")


async def test_not_sure_on_a_red_flag_screen_leaves_its_signs_unknown(
    driver: ChatDriver, store: MemoryStore, kb: KnowledgeBase
) -> None:
    await driver.send("/start")

    await driver.press("Not sure about some of these")

    assert driver.last_text().startswith("About the muscle")
    conversation = await stored(store, driver)
    assert conversation is not None
    assert conversation.session.findings(kb)["chest_pain"] == "unknown"


async def test_the_interim_answer_offers_tailoring_and_tailor_asks_the_activity(
    driver: ChatDriver,
) -> None:
    await none_of_these_to_the_interim_answer(driver)

    assert driver.last_text().startswith("🟢 ")
    assert driver.current_buttons()[0] == TAILOR
    await driver.press(TAILOR)

    assert driver.last_text() == "What were you doing when it started?"
    await driver.press("⬅ Back")
    assert driver.current_buttons()[0] == TAILOR


async def test_more_sends_the_causes_and_the_full_advice_below_the_result(
    driver: ChatDriver,
) -> None:
    await none_of_these_to_the_interim_answer(driver)
    result = driver.last_text()

    await driver.press("More")

    assert driver.bot_messages()[-1].text.startswith(("Likely causes:", "What to do:"))
    assert any(message.text == result for message in driver.bot_messages())
    assert driver.unanswered_callbacks() == []


async def test_an_emergency_has_no_more_button(driver: ChatDriver) -> None:
    await driver.send("/start")
    await driver.press("☐ Chest pain")

    assert "More" not in driver.current_buttons()
    assert driver.current_buttons()[:3] == ["Why?", "📋 Summary", "↺ Restart"]
