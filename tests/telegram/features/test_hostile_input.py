"""/country, locations and /sweat on input the Bot API never sends: a polite answer, no crash.

`intake.py` screens such updates before they reach the application; these tests bypass it (the
driver, or `Update.de_json` on a raw dict, fed straight to the application) to show that the
feature handlers are safe on their own. Every test fails if any error handler runs.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from telegram import Update
from telegram.ext import ContextTypes

from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import KnowledgeBase
from bot.engine.sweat import flow
from bot.engine.sweat.config import SweatConfig
from bot.engine.sweat.flow import RESTRICTED, SweatDraft
from bot.render.questionnaire import apology_text
from bot.render.sweat import render_error
from bot.store.base import PROFILE, SessionKey, SessionStore
from bot.telegram.api.intake import broken_promise
from bot.telegram.app import AnyApplication
from bot.telegram.features.country import PROMPT, PromptRecord
from bot.telegram.features.sweat import SCOPE, SweatRecord
from tests.fakes.driver import ChatDriver

NAN, INF = float("nan"), float("inf")
OFF_THE_GLOBE = [
    (90.0001, 7.0),
    (-91.0, 7.0),
    (60.0, 180.5),
    (60.0, -181.0),
    (NAN, 7.0),
    (60.0, NAN),
    (INF, 7.0),
    (60.0, -INF),
    (1e308, 1e308),
    ("north", 7.0),
    (None, 7.0),
    (True, 7.0),
]
ODD_NUMBERS = ["1e309", "-1e309", "-70", "nan", "NaN", "inf", "-0", "9" * 400, " ", "\u3000"]
ODD_NUMBERS += [
    "1,2,3",
    "0x46",
    "1e-400",
    "\u0667\u0660\u0660",
    "\uff17\uff10kg",
    "\u200b70",
    "²",
    "70 kg",
    "\x00",
]


@pytest.fixture(scope="module")
def config() -> SweatConfig:
    return load_tables().sweat


@pytest.fixture
def failures(app: AnyApplication) -> list[BaseException | None]:
    """Every error any handler raised: the error handlers run for each, and this one records."""
    seen: list[BaseException | None] = []

    async def record(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(context.error)

    app.add_error_handler(record)
    return seen


def raw_update(driver: ChatDriver, kind: str, payload: dict[str, Any]) -> Update:
    """Return an `Update` built straight from Telegram JSON, as intake would never pass it."""
    data = {"update_id": driver.api.next_update_id(), kind: payload}
    update = Update.de_json(data, driver.app.bot)
    assert update is not None
    return update


def message(driver: ChatDriver, *, sender: bool = True, **content: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": driver.api.next_message_id(driver.chat_id),
        "chat": driver.api.chat(driver.chat_id),
        "date": int(time.time()),
        **content,
    }
    if sender:
        body["from"] = driver.user
    if str(content.get("text", "")).startswith("/"):
        length = len(str(content["text"]).split()[0])
        body["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return body


def press(driver: ChatDriver, data: str) -> dict[str, Any]:
    """Return a press on the chat's latest message without a sender (`from`)."""
    sent = driver.api.latest_message(driver.chat_id)
    assert sent is not None
    query_id = driver.api.new_callback_query_id()
    driver.query_ids.append(query_id)
    return {
        "id": query_id,
        "chat_instance": "-1",
        "message": driver.api.message_json(sent),
        "data": data,
    }


def texts(driver: ChatDriver) -> list[str]:
    return [sent.text for sent in driver.bot_messages()]


def question(config: SweatConfig, field: str) -> str:
    return next(q for q in config.questions if q.field == field).text["en"]


async def sweat_asks_weight(driver: ChatDriver) -> None:
    await driver.send("/sweat")
    await driver.press("No")


# --- shared locations -------------------------------------------------------------------------


@pytest.mark.parametrize(("latitude", "longitude"), OFF_THE_GLOBE)
async def test_a_location_off_the_globe_gets_the_picker_and_stores_no_country(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    failures: list[BaseException | None],
    latitude: object,
    longitude: object,
) -> None:
    location = {"latitude": latitude, "longitude": longitude}
    update = raw_update(driver, "message", message(driver, location=location))
    await driver.process(update)

    assert failures == []
    assert driver.last_text() == kb.text("country_unknown", "en")
    assert "Norway" in driver.current_buttons()
    assert await store.get(SessionKey(0, driver.user_id, scope=PROFILE)) is None
    prompt = await store.get(SessionKey(driver.chat_id, driver.user_id, scope=PROMPT))
    assert prompt is not None, "typed text now reaches the picker"
    assert PromptRecord.model_validate_json(prompt.data).is_open


@pytest.mark.parametrize(("latitude", "longitude"), [(90, 180), (-90, -180), (0, 0)])
async def test_a_location_on_the_edge_of_the_globe_gets_its_position(
    driver: ChatDriver, failures: list[BaseException | None], latitude: int, longitude: int
) -> None:
    await driver.send_location(latitude, longitude)

    assert failures == []
    assert f"{abs(latitude):.4f} " in driver.last_text()


async def test_a_location_without_a_sender_gets_an_apology_and_changes_nothing(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    failures: list[BaseException | None],
) -> None:
    location = {"latitude": 60.1234, "longitude": 7.5678}
    update = raw_update(driver, "message", message(driver, sender=False, location=location))
    assert broken_promise(update) is not None, "intake would have screened it"

    await driver.process(update)

    assert failures == []
    assert driver.last_text() == apology_text(kb, "en", has_session=False)
    assert await store.count() == 0


# --- messages and presses without a sender ----------------------------------------------------


@pytest.mark.parametrize("text", ["/sweat", "/country", "/cancel", "/start", "/help", "70"])
async def test_a_message_without_a_sender_gets_an_apology(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    failures: list[BaseException | None],
    text: str,
) -> None:
    await sweat_asks_weight(driver)
    records = await store.count()

    await driver.process(raw_update(driver, "message", message(driver, sender=False, text=text)))

    assert failures == []
    assert driver.last_text() == apology_text(kb, "en", has_session=False)
    assert await store.count() == records


@pytest.mark.parametrize("data", ["p:1:n", "g:NO", "s:3", "c:3:h", "k:b"])
async def test_a_press_without_a_sender_is_answered_and_changes_nothing(
    driver: ChatDriver, store: SessionStore, failures: list[BaseException | None], data: str
) -> None:
    await sweat_asks_weight(driver)
    before = await store.get(SessionKey(driver.chat_id, driver.user_id, scope=SCOPE))

    await driver.process(raw_update(driver, "callback_query", press(driver, data)))

    after = await store.get(SessionKey(driver.chat_id, driver.user_id, scope=SCOPE))
    assert failures == []
    assert driver.unanswered_callbacks() == []
    assert after == before


# --- text that is not a string ----------------------------------------------------------------


@pytest.mark.parametrize("text", [70, 1.5, ["70"], {"text": "70"}])
async def test_text_that_is_not_a_string_gets_a_note_and_the_sweat_question_again(
    driver: ChatDriver,
    kb: KnowledgeBase,
    config: SweatConfig,
    failures: list[BaseException | None],
    text: object,
) -> None:
    await sweat_asks_weight(driver)

    await driver.process(raw_update(driver, "message", message(driver, text=text)))

    assert failures == []
    assert texts(driver)[-2] == kb.text("not_text", "en")
    assert question(config, "weight_before_kg") in driver.last_text()


async def test_text_that_is_not_a_string_gets_a_note_and_the_picker_again(
    driver: ChatDriver, kb: KnowledgeBase, failures: list[BaseException | None]
) -> None:
    await driver.send("/country")

    await driver.process(raw_update(driver, "message", message(driver, text=42)))

    assert failures == []
    assert texts(driver)[-2] == kb.text("not_text", "en")
    assert driver.last_text() == kb.text("country_prompt", "en")
    assert "Norway" in driver.current_buttons()


async def test_text_that_is_not_a_string_without_a_prompt_gets_the_note_alone(
    driver: ChatDriver, kb: KnowledgeBase, failures: list[BaseException | None]
) -> None:
    await driver.process(raw_update(driver, "message", message(driver, text=7)))

    assert failures == []
    assert texts(driver) == [kb.text("not_text", "en")]


# --- odd numbers and damaged drafts in /sweat -------------------------------------------------


@pytest.mark.parametrize("typed", ODD_NUMBERS)
async def test_an_odd_number_gets_a_refusal_and_the_question_again(
    driver: ChatDriver,
    store: SessionStore,
    config: SweatConfig,
    failures: list[BaseException | None],
    typed: str,
) -> None:
    await sweat_asks_weight(driver)
    key = SessionKey(driver.chat_id, driver.user_id, scope=SCOPE)

    await driver.send(typed)

    record = await store.get(key)
    refused = flow.answer_text(config, SweatDraft(flags={RESTRICTED: False}), typed)
    assert refused.error is not None, "/sweat refuses it"
    assert failures == []
    assert record is not None
    assert SweatRecord.model_validate_json(record.data).numbers == {}
    assert texts(driver)[-2] == render_error(config, refused.error, "en")
    assert question(config, "weight_before_kg") in driver.last_text()


@pytest.mark.parametrize(
    "typed", ["\u0667\u0660", "70", "\uff17\uff10", "70,0", "\U0001d7d5\U0001d7ce"]
)
async def test_digits_of_any_script_are_read_as_the_number(
    driver: ChatDriver,
    store: SessionStore,
    config: SweatConfig,
    failures: list[BaseException | None],
    typed: str,
) -> None:
    await sweat_asks_weight(driver)

    await driver.send(typed)

    record = await store.get(SessionKey(driver.chat_id, driver.user_id, scope=SCOPE))
    assert failures == []
    assert record is not None
    assert json.loads(record.data)["numbers"] == {"weight_before_kg": 70.0}
    assert question(config, "weight_after_kg") in driver.last_text()


DAMAGED = [
    {"numbers": {"weight_before_kg": 70, "bogus": 1}, "flags": {"fluid_restricted": False}},
    {"numbers": {}, "flags": {"fluid_restricted": False, "weight_before_kg": True}},
]
"""Drafts no version of the bot writes, which /sweat cannot go on from."""


def complete(damage: dict[str, Any]) -> str:
    """Return a draft with every question answered, plus `damage`."""
    numbers = {"weight_before_kg": 70, "weight_after_kg": 69, "fluid_l": 1, "duration_h": 1}
    numbers |= {"urine_l": 0, **damage["numbers"]}
    flags = {"salty_sweater": False, **damage["flags"]}
    return json.dumps({"format": 2, "numbers": numbers, "flags": flags})


@pytest.mark.parametrize("damage", DAMAGED)
@pytest.mark.parametrize("typed", ["70", "I have chest pain", "/nonsense"])
async def test_a_damaged_draft_starts_the_numbers_again_instead_of_failing(
    driver: ChatDriver,
    store: SessionStore,
    config: SweatConfig,
    failures: list[BaseException | None],
    damage: dict[str, Any],
    typed: str,
) -> None:
    key = SessionKey(driver.chat_id, driver.user_id, scope=SCOPE)
    await store.put(key, complete(damage), expected_revision=0)

    await driver.send(typed)

    record = await store.get(key)
    assert failures == []
    assert record is not None
    assert texts(driver)[-2] == config.text("restart_numbers", "en")
    assert question(config, "weight_before_kg") in driver.last_text()
    stored = SweatRecord.model_validate_json(record.data)
    assert stored.numbers == {}
    assert set(stored.flags) <= {"fluid_restricted", "salty_sweater"}
