"""/card against the fake Bot API (validated by the spec): ask, send, pin, edit in place, forget.

The real Application runs on FakeBotApi, which checks every call (pinChatMessage and
deleteMessage included) against ../shared/telegram/api.json and keeps what the user sees, the
pinned messages too.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.config import Settings
from bot.engine.card import TripPlan
from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import KnowledgeBase
from bot.engine.numbers.table import EmergencyTable, lookup
from bot.render.card import card_text
from bot.store.base import CARD, PLAN, PROFILE, SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.features.card import CardRecord, PlanRecord
from bot.telegram.features.country import PROMPT
from tests.fakes.botapi import FakeBotApi, SentMessage
from tests.fakes.driver import ChatDriver
from tests.fakes.impatient import Person, World, buttons, run_in_virtual_time


@pytest.fixture(scope="module")
def table() -> EmergencyTable:
    return load_tables().numbers


def today() -> date:
    return datetime.now(UTC).date()


def expected_card(
    kb: KnowledgeBase,
    table: EmergencyTable,
    code: str,
    language: str = "en",
    plan: TripPlan | None = None,
) -> str:
    return card_text(
        kb,
        language,
        country=lookup(table, code),
        checked=table.checked,
        plan=plan,
        today=today(),
    )


def key(driver: ChatDriver, scope: str) -> SessionKey:
    return SessionKey(driver.chat_id, driver.user_id, scope=scope)


async def card_record(store: MemoryStore, driver: ChatDriver) -> CardRecord | None:
    record = await store.get(key(driver, CARD))
    return None if record is None else CardRecord.model_validate_json(record.data)


def card_message(driver: ChatDriver) -> SentMessage:
    titles = ("🧭 TRIP CARD", "🧭 TURKORT")
    found = [m for m in driver.bot_messages() if m.text.startswith(titles)]
    assert len(found) == 1, [m.text[:40] for m in driver.bot_messages()]
    return found[0]


def sent_texts(api: FakeBotApi) -> list[str]:
    return [str(call.params["text"]) for call in api.calls_to("sendMessage")]


async def make_card(driver: ChatDriver, country: str = "Norway") -> SentMessage:
    await driver.send("/card")
    await driver.press(country)
    return card_message(driver)


# ------------------------------------------------------------------ asking --
async def test_card_asks_where_the_trip_goes_with_share_location_and_the_picker(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send("/card")

    share, picker = api.calls_to("sendMessage")[-2:]
    assert share.params["text"] == kb.text("trip_card_where", "en")
    keyboard = share.params["reply_markup"]["keyboard"]
    assert keyboard[0][0]["request_location"] is True
    assert picker.params["text"] == kb.text("trip_card_pick", "en")
    assert driver.current_buttons()[:3] == ["Norway", "Sweden", "Denmark"], "no country known"
    assert (await card_record(store, driver) or CardRecord()).is_wanted
    assert await store.get(key(driver, PROMPT)) is not None, "the /country prompt takes text"


async def test_choosing_a_country_sends_the_card_instead_of_the_confirmation_and_offers_a_pin(
    driver: ChatDriver,
    api: FakeBotApi,
    kb: KnowledgeBase,
    store: MemoryStore,
    table: EmergencyTable,
) -> None:
    card = await make_card(driver)

    assert card.text == expected_card(kb, table, "NO")
    assert card.reply_markup is None, "the card carries no buttons"
    assert driver.last_text() == kb.text("trip_card_pin_offer", "en")
    assert driver.current_buttons() == ["📌 Pin it", "Not now"]
    assert not any(text.startswith("📞 Norway") for text in sent_texts(api)), "no 2nd numbers"
    record = await card_record(store, driver)
    assert record is not None
    assert (record.message_id, record.is_wanted, record.country) == (card.message_id, False, "NO")
    profile = await store.get(SessionKey(0, driver.user_id, scope=PROFILE))
    assert profile is not None
    assert json.loads(profile.data)["country"] == "NO"
    assert driver.unanswered_callbacks() == []


async def test_a_typed_country_brings_the_card_in_norwegian(
    app: Any, api: FakeBotApi, kb: KnowledgeBase, table: EmergencyTable
) -> None:
    driver = ChatDriver(app, api, language_code="nb")
    await driver.send("/card")
    await driver.send("sveits")

    card = card_message(driver)
    assert card.text.startswith("🧭 TURKORT · Sveits\n")
    assert card.text == expected_card(kb, table, "CH", "nb")
    assert driver.last_text() == kb.text("trip_card_pin_offer", "nb")


async def test_the_deep_link_start_card_asks_for_the_trip_and_starts_no_questionnaire(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, store: MemoryStore
) -> None:
    await driver.send("/start card")

    assert sent_texts(api)[-2:] == [
        kb.text("trip_card_where", "en"),
        kb.text("trip_card_pick", "en"),
    ]
    assert await store.get(key(driver, "sess")) is None


async def test_the_welcome_and_every_result_carry_the_trip_card_button(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    label = kb.text("trip_card_button", "en")
    await driver.send("/start")
    welcome = api.calls_to("sendMessage")[0]
    assert welcome.params["text"].startswith(kb.text("welcome", "en"))
    assert welcome.params["reply_markup"]["inline_keyboard"] == [
        [{"text": label, "callback_data": "t:o"}]
    ]

    await driver.press("☐ Chest pain")  # an emergency: a result at once

    assert driver.screen_text().startswith("🚨")
    assert driver.current_buttons()[-1] == label
    await driver.press(label)
    assert sent_texts(api)[-1] == kb.text("trip_card_pick", "en")


async def test_a_known_country_is_offered_to_keep(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore, table: EmergencyTable
) -> None:
    await driver.send("/country")
    await driver.press("Switzerland")

    await driver.send("/card")
    assert driver.current_buttons()[:2] == ["✅ Keep Switzerland", "Norway"]
    await driver.press("✅ Keep Switzerland")

    assert card_message(driver).text == expected_card(kb, table, "CH")


async def test_a_second_tap_on_the_card_button_asks_once(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await driver.send("/start")
    welcome = driver.bot_messages()[0].message_id
    await driver.press_data("t:o", message_id=welcome)
    asked = len(api.calls_to("sendMessage"))

    await driver.press_data("t:o", message_id=welcome)

    assert len(api.calls_to("sendMessage")) == asked
    assert driver.unanswered_callbacks() == []


# -------------------------------------------------------------------- pins --
async def test_pin_it_pins_the_card_quietly_and_says_so(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, store: MemoryStore
) -> None:
    card = await make_card(driver)

    await driver.press("📌 Pin it")

    pin = api.last("pinChatMessage")
    assert pin.params["message_id"] == card.message_id
    assert pin.params["disable_notification"] in (True, "true", "True")
    assert api.pinned[driver.chat_id] == [card.message_id]
    assert driver.last_text() == kb.text("trip_card_pinned", "en")
    assert driver.current_buttons() == [], "the offer lost its buttons"
    assert (await card_record(store, driver) or CardRecord()).is_pinned


async def test_not_now_leaves_the_card_unpinned(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await make_card(driver)

    await driver.press("Not now")

    assert api.calls_to("pinChatMessage") == []
    assert driver.last_text() == kb.text("trip_card_not_pinned", "en")


async def test_a_new_country_edits_the_pinned_card_in_place(
    driver: ChatDriver,
    api: FakeBotApi,
    kb: KnowledgeBase,
    store: MemoryStore,
    table: EmergencyTable,
) -> None:
    card = await make_card(driver)
    await driver.press("📌 Pin it")
    sends = len(api.calls_to("sendMessage"))

    await driver.send("/country")
    await driver.press("Sweden")

    edited = card_message(driver)
    assert edited.message_id == card.message_id
    assert edited.text == expected_card(kb, table, "SE")
    assert "🚨 CALL 112 OR PRESS SOS NOW IF" in edited.text
    assert api.pinned[driver.chat_id] == [card.message_id], "still the one pinned"
    note = kb.text("trip_card_updated", "en").format(country="Sweden")
    assert driver.last_text() == note
    assert driver.current_buttons() != ["📌 Pin it", "Not now"], "pinned: no second offer"
    new = sent_texts(api)[sends:]
    assert not any(text.startswith("🧭 TRIP CARD") for text in new), "no second card"
    assert (await card_record(store, driver) or CardRecord()).country == "SE"


async def test_card_again_edits_the_card_in_place(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, table: EmergencyTable
) -> None:
    card = await make_card(driver)

    await driver.send("/card")
    await driver.press("Austria")

    assert card_message(driver).message_id == card.message_id
    assert card_message(driver).text == expected_card(kb, table, "AT")
    assert driver.current_buttons() == ["📌 Pin it", "Not now"], "not pinned yet: offered again"


async def test_a_card_the_user_deleted_is_sent_anew(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, table: EmergencyTable
) -> None:
    card = await make_card(driver)
    del api.messages[driver.chat_id, card.message_id]  # deleted in the app

    await driver.send("/card")
    await driver.press("Norway")

    fresh = card_message(driver)
    assert fresh.message_id != card.message_id
    assert fresh.text == expected_card(kb, table, "NO")
    assert driver.last_text() == kb.text("trip_card_pin_offer", "en")


async def test_pinning_a_card_deleted_since_says_so_politely(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    card = await make_card(driver)
    del api.messages[driver.chat_id, card.message_id]

    await driver.press("📌 Pin it")

    assert api.last("pinChatMessage").params["message_id"] == card.message_id
    assert api.pinned[driver.chat_id] == []
    assert driver.last_text() == kb.text("trip_card_gone", "en")


# ------------------------------------------------------------- stale, forged --
@pytest.mark.parametrize("data", ["t:p:999", "t:n:999", "t:x", "t:p:-1", "t:p:01", "t:o:5"])
async def test_a_stale_or_forged_card_button_gets_a_polite_answer_and_nothing_else(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, data: str
) -> None:
    await make_card(driver)
    calls = len(api.calls)

    await driver.press_data(data)

    answer = api.last("answerCallbackQuery")
    assert answer.params.get("text") == kb.text("trip_card_stale", "en")
    assert [call.method for call in api.calls[calls:]] == ["answerCallbackQuery"]
    assert len(kb.text("trip_card_stale", "en")) <= 200
    assert driver.unanswered_callbacks() == []


async def test_the_pin_button_of_a_replaced_card_is_stale(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    card = await make_card(driver)
    offer = driver.bot_messages()[-1].message_id
    del api.messages[driver.chat_id, card.message_id]
    await driver.send("/card")
    await driver.press("Norway")  # a new card, since the old one is gone

    await driver.press_data(f"t:p:{card.message_id}", message_id=offer)

    assert api.last("answerCallbackQuery").params.get("text") == kb.text("trip_card_stale", "en")
    assert api.calls_to("pinChatMessage") == []


# ------------------------------------------------------------------ forget --
async def test_forget_deletes_the_pinned_card_and_its_records(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, store: MemoryStore
) -> None:
    card = await make_card(driver)
    await driver.press("📌 Pin it")
    offer = driver.bot_messages()[-1].message_id

    await driver.send("/forget")
    await driver.press("Yes, delete")

    assert api.last("deleteMessage").params["message_id"] == card.message_id
    assert (driver.chat_id, card.message_id) not in api.messages
    assert api.pinned[driver.chat_id] == []
    assert await store.get(key(driver, CARD)) is None
    assert driver.last_text() == kb.text("forgotten", "en")

    await driver.press_data(f"t:p:{card.message_id}", message_id=offer)
    assert api.last("answerCallbackQuery").params.get("text") == kb.text("trip_card_stale", "en")


async def test_forget_blanks_and_unpins_a_card_too_old_to_delete(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase, store: MemoryStore
) -> None:
    card = await make_card(driver)
    await driver.press("📌 Pin it")
    api.fail_next(
        "deleteMessage",
        status=400,
        description="Bad Request: message can't be deleted for everyone",
    )

    await driver.send("/forget")
    await driver.press("Yes, delete")

    assert api.messages[driver.chat_id, card.message_id].text == kb.text("trip_card_deleted", "en")
    assert api.last("unpinChatMessage").params["message_id"] == card.message_id
    assert api.pinned[driver.chat_id] == []
    assert await store.get(key(driver, CARD)) is None


async def test_forget_without_a_card_deletes_no_message(
    driver: ChatDriver, api: FakeBotApi
) -> None:
    await driver.send("/forget")
    await driver.press("Yes, delete")

    assert api.calls_to("deleteMessage") == []


# -------------------------------------------------------------- drinking plan --
async def test_a_plan_made_with_sweat_goes_on_the_card_and_is_kept_with_its_date(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore, table: EmergencyTable
) -> None:
    await driver.send("/sweat")
    await driver.press("No")
    for typed in ("70", "68.6", "1.0", "2"):  # 0.8 L/h, 200 mL per 15 minutes
        await driver.send(typed)
    await driver.press("Skip")
    await driver.press("No")

    stored = await store.get(key(driver, PLAN))
    assert stored is not None
    plan = PlanRecord.model_validate_json(stored.data).plan
    assert (plan.made_on, plan.kind) == (today(), "plan")
    assert plan.litres_per_hour == pytest.approx(0.8)
    assert "weight" not in stored.data, "the amounts only, never the weights"

    card = await make_card(driver)
    assert card.text == expected_card(kb, table, "NO", plan=plan)
    assert f"💧 Your /sweat plan ({today().isoformat()}): at most 0.8 L/h, 200 mL per 15 min." in (
        card.text
    )


@pytest.mark.parametrize(("age", "is_shown"), [(29, True), (30, True), (31, False)])
async def test_a_stored_plan_shows_on_the_card_for_30_days(
    driver: ChatDriver, kb: KnowledgeBase, store: MemoryStore, age: int, is_shown: bool
) -> None:
    made = today() - timedelta(days=age)
    plan = TripPlan(made_on=made, kind="plan", litres_per_hour=0.5, ml_per_15_min=125)
    await store.put(
        key(driver, PLAN), PlanRecord(plan=plan).model_dump_json(), expected_revision=0
    )

    card = await make_card(driver)

    assert ("0.5 L/h, 130 mL per 15 min" in card.text) is is_shown
    assert (kb.text("trip_card_drink", "en") in card.text) is not is_shown


# ------------------------------------------------------------- urgent first --
def test_an_emergency_result_goes_before_trip_card_messages_still_waiting(
    kb: KnowledgeBase, settings: Settings
) -> None:
    """The card and its pin offer wait for the chat's turn in the outbox; a red flag ticked
    meanwhile is shown first (the real request chain and pacing, in virtual time)."""
    chat = 700_000

    async def main() -> World:
        world = World(kb, settings, seed=0)
        await world.start()
        person = Person(world, chat)
        person.send("/start")
        await world.settle(quiet=3)
        welcome, question = world.keyboards(chat)
        person.press(welcome, "t:o", "trip card")  # the question where the trip goes: 2 sends
        person.send("Norway")  # the card and the pin offer, behind the chat's token bucket
        tick = next(b for b in buttons(question.reply_markup) if b["text"] == "☐ Chest pain")
        await asyncio.sleep(0.05)
        person.press(question, str(tick["callback_data"]), "chest pain")
        await world.settle()
        await world.stop()
        return world

    world = run_in_virtual_time(main)

    shown = [
        str(call.params.get("text", ""))
        for call in world.monitor.calls
        if call.chat == chat and call.method in ("sendMessage", "editMessageText") and call.ok
    ]
    urgent = next(i for i, text in enumerate(shown) if text.startswith("🚨"))
    card = next(i for i, text in enumerate(shown) if text.startswith("🧭 TRIP CARD"))
    assert urgent < card, shown
    assert not world.monitor.violations, [str(v) for v in world.monitor.violations]
