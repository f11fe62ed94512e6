"""The right emergency number: shared locations, /country, and results that name the number."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from bot.engine.kb.models import KnowledgeBase
from bot.store.base import PROFILE, SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.app import COMMANDS
from bot.telegram.features.country import PROMPT
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.telegram.helpers import feed, user_message

HARDANGERVIDDA = (60.1234, 7.5678)
MID_ATLANTIC = (45.0, -30.0)


def profile_key(driver: ChatDriver) -> SessionKey:
    return SessionKey(0, driver.user_id, scope=PROFILE)


def prompt_key(driver: ChatDriver) -> SessionKey:
    return SessionKey(driver.chat_id, driver.user_id, scope=PROMPT)


async def stored_profile(store: MemoryStore, driver: ChatDriver) -> dict[str, Any] | None:
    record = await store.get(profile_key(driver))
    return None if record is None else dict(json.loads(record.data))


def sent_markups(api: FakeBotApi) -> list[dict[str, Any]]:
    return [call.params.get("reply_markup") or {} for call in api.calls_to("sendMessage")]


async def drive_to_emergency(driver: ChatDriver, *, language: str = "en") -> None:
    await driver.send("/start")
    await driver.press("☐ Cramp right now" if language == "en" else "☐ Krampe akkurat nå")
    await driver.press("☐ Chest pain" if language == "en" else "☐ Brystsmerter")


async def test_shared_location_gets_numbers_and_position_and_only_the_code_is_stored(
    driver: ChatDriver, api: FakeBotApi, store: MemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await driver.send_location(*HARDANGERVIDDA)

    text = driver.last_text()
    assert text.startswith("📞 Norway: medical emergency 113 (112 also works from mobiles)")
    assert "📍 Your position, to read out to the operator: 60.1234 N, 7.5678 E" in text
    assert sent_markups(api)[-1] == {"remove_keyboard": True}
    assert await stored_profile(store, driver) == {"language": None, "country": "NO"}
    assert await store.count() == 1, "nothing but the profile: no position, no prompt"
    assert "60.12" not in caplog.text
    assert "7.56" not in caplog.text


async def test_location_at_sea_asks_politely_for_the_country_with_the_picker(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send_location(*MID_ATLANTIC)

    assert kb.text("country_unknown", "en") in driver.last_text()
    assert "45.0000 N, 30.0000 W" in driver.last_text()
    assert driver.current_buttons()[:3] == ["Norway", "Sweden", "Denmark"]
    assert await stored_profile(store, driver) is None

    await driver.press("Norway")

    assert (await stored_profile(store, driver) or {})["country"] == "NO"
    assert driver.last_text().startswith("📞 Norway: medical emergency 113")
    assert await store.get(prompt_key(driver)) is None, "the prompt is closed"
    assert driver.unanswered_callbacks() == []


async def test_country_command_offers_share_location_then_the_picker(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await driver.send("/country")

    share = sent_markups(api)[-2]
    assert share["keyboard"] == [[{"text": "📍 Share location", "request_location": True}]]
    assert share["one_time_keyboard"] is True
    assert driver.last_text() == kb.text("country_prompt", "en")
    assert "Peru" in driver.current_buttons()
    assert "Nepal" in driver.current_buttons()


async def test_typed_country_is_read_only_while_the_prompt_is_open(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send("Sveits")
    assert await stored_profile(store, driver) is None, "no prompt: text is not a country"

    await driver.send("/country")
    await driver.send("Atlantis")
    assert driver.last_text() == kb.text("country_not_found", "en")
    assert "Norway" in driver.current_buttons()

    await driver.send("Sveits")
    assert (await stored_profile(store, driver) or {})["country"] == "CH"
    assert driver.last_text().startswith("📞 Switzerland: medical emergency 144")
    assert await store.get(prompt_key(driver)) is None


async def test_picked_country_shows_its_number_on_an_emergency_result(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await driver.send("/country")
    await driver.press("United Kingdom")
    await drive_to_emergency(driver)

    # The emergency first, the location offer after it.
    *_, result, offer = driver.bot_messages()
    assert result.text.splitlines()[0].startswith("🚨 ")
    assert result.text.splitlines()[1] == "📞 United Kingdom: medical emergency 999 or 112"
    assert offer.text == kb.text("location_offer", "en")
    assert sent_markups(api)[-1]["keyboard"][0][0]["request_location"] is True


async def test_without_a_country_the_result_keeps_the_generic_numbers(
    driver: ChatDriver, kb: KnowledgeBase
) -> None:
    await drive_to_emergency(driver)
    *_, result, offer = driver.bot_messages()
    assert "📞" not in result.text
    assert "112 (Europe and most mobile phones), 999 (UK) or 911" in result.text
    assert offer.text == kb.text("location_offer", "en")


async def test_norwegian_user_picks_a_country_and_gets_its_number_in_norwegian(
    app: Any, api: FakeBotApi
) -> None:
    driver = ChatDriver(app, api, language_code="nb")
    await driver.send("/country")
    await driver.press("Sverige")
    assert driver.last_text().startswith("📞 Sverige: medisinsk nødnummer 112")

    await drive_to_emergency(driver, language="nb")
    result = driver.bot_messages()[-2]  # the location offer follows it
    assert result.text.splitlines()[1] == "📞 Sverige: medisinsk nødnummer 112"


async def test_emergency_phrase_while_the_prompt_is_open_gets_the_card_then_the_picker(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send("/country")
    await driver.send("he collapsed")

    texts = [message.text for message in driver.bot_messages()]
    assert texts[-2] == kb.text("emergency_card", "en")
    assert texts[-1] == kb.text("country_prompt", "en")
    assert await store.get(prompt_key(driver)) is not None, "the prompt stays open"


async def test_cancel_closes_the_country_prompt(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send("/country")
    await driver.send("/cancel")
    assert driver.last_text() == kb.text("flow_stopped", "en")
    assert await store.get(prompt_key(driver)) is None
    await driver.send("/cancel")
    assert driver.last_text() == kb.text("no_session", "en")


async def test_forget_erases_the_country(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send_location(*HARDANGERVIDDA)
    await driver.send("/language")
    await driver.press("Norsk (bokmål)")
    assert await stored_profile(store, driver) == {"language": "nb", "country": "NO"}

    await driver.send("/forget")
    await driver.press(kb.text("forget_yes", "nb"))

    assert await stored_profile(store, driver) is None
    await drive_to_emergency(driver)
    assert "📞" not in driver.last_text()


async def test_live_location_updates_are_ignored(driver: ChatDriver, api: FakeBotApi) -> None:
    location = {"latitude": HARDANGERVIDDA[0], "longitude": HARDANGERVIDDA[1], "live_period": 900}
    await feed(driver, "edited_message", user_message(driver, location=location, edit_date=1))
    assert api.calls_to("sendMessage") == []


@pytest.mark.parametrize("language", ["en", "nb"])
async def test_country_and_sweat_are_in_the_menu_and_in_help(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, language: str
) -> None:
    assert {"country", "sweat"} <= set(COMMANDS)
    menu = {
        call.params.get("language_code"): call.params["commands"]
        for call in api.calls_to("setMyCommands")
    }
    commands = menu[None if language == "en" else language]
    described = {command["command"]: command["description"] for command in commands}
    assert described["country"] == kb.text("command_country", language)
    assert described["sweat"] == kb.text("command_sweat", language)
    assert "/country" in kb.text("help", language)
    assert "/sweat" in kb.text("help", language)
