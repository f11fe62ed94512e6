"""At most once beyond the questionnaire: /sweat, /country, shared locations and check-ins.

`UpdateProcessor` judges an update against the conversation record only. These features keep
records of their own, and each write carries the update's id (`ledger.py`), so a redelivery
after a crash (before the processor stamped the conversation, or when there is none) changes
nothing and sends nothing. A crash is a cancelled task held at an exact store write; the
redelivery goes through a new `UpdateProcessor`, as in a restarted process.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import CARD, CHECKIN, PROFILE, SessionKey, SessionStore
from bot.telegram.app import AnyApplication, build_application
from bot.telegram.features.card import CardRecord
from bot.telegram.features.checkins import CheckIn, CheckinScheduler
from bot.telegram.features.country import PROMPT, PromptRecord
from bot.telegram.features.sweat import SCOPE, SweatRecord
from bot.telegram.state import ledger
from bot.telegram.state.conversation import Conversation
from bot.telegram.state.ledger import Verdict
from tests.engine.helpers import walk
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    CHAT,
    GatedStore,
    SettledProcessor,
    message_update,
    parse,
    press_update,
    running,
    texts,
    wait_until,
)

T0 = 1_700_000_000.0
HARDANGERVIDDA = {"latitude": 60.1234, "longitude": 7.5678}
PLANNER_NUMBERS = ("70", "68.6", "1.0", "2")


@pytest.fixture
def gated(store: SessionStore) -> GatedStore:
    return GatedStore(store)


@pytest.fixture
def scheduler(kb: KnowledgeBase, gated: GatedStore) -> CheckinScheduler:
    return CheckinScheduler(kb, gated, clock=lambda: T0)


@pytest.fixture
async def bot(
    settings: Settings,
    kb: KnowledgeBase,
    gated: GatedStore,
    api: FakeBotApi,
    scheduler: CheckinScheduler,
) -> AsyncIterator[AnyApplication]:
    application = build_application(settings, kb, gated, request=api, checkins=scheduler)
    async with running(application) as app:
        yield app


class Bot:
    """The bot on the gated store: deliver updates, crash it at a store write, restart it."""

    def __init__(self, app: AnyApplication, gated: GatedStore, api: FakeBotApi) -> None:
        self.app, self.gated, self.api = app, gated, api
        self.processor = SettledProcessor(app, gated)

    async def deliver(self, data: dict[str, Any]) -> None:
        await self.processor.process(parse(self.app, data))

    async def crash(self, data: dict[str, Any], *, at_put: int, committed: bool = False) -> None:
        """Deliver `data` and kill the process at its `at_put`-th store write (after the write
        when `committed`): Telegram will deliver it again."""
        self.gated.hold(at_put, after=committed)
        task = asyncio.create_task(self.processor.process(parse(self.app, data)))
        await wait_until(self.gated.held.is_set)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def redeliver(self, data: dict[str, Any]) -> list[str]:
        """Deliver `data` to a restarted process; return the Bot API methods it called."""
        self.processor = SettledProcessor(self.app, self.gated)
        before = len(self.api.calls)
        await self.processor.process(parse(self.app, data))
        return [call.method for call in self.api.calls[before:]]

    async def say(self, *typed: str) -> None:
        for text in typed:
            await self.deliver(message_update(self.api, text))

    async def press(self, data: str) -> dict[str, Any]:
        press = press_update(self.api, data)
        await self.deliver(press)
        return press


@pytest.fixture
def user(bot: AnyApplication, gated: GatedStore, api: FakeBotApi) -> Bot:
    return Bot(bot, gated, api)


async def sweat_record(store: SessionStore) -> SweatRecord | None:
    record = await store.get(SessionKey(CHAT, CHAT, scope=SCOPE))
    return None if record is None else SweatRecord.model_validate_json(record.data)


async def prompt(store: SessionStore) -> PromptRecord | None:
    record = await store.get(SessionKey(CHAT, CHAT, scope=PROMPT))
    return None if record is None else PromptRecord.model_validate_json(record.data)


async def profile(store: SessionStore) -> dict[str, Any] | None:
    record = await store.get(SessionKey(0, CHAT, scope=PROFILE))
    return None if record is None else dict(json.loads(record.data))


# --- /sweat ---------------------------------------------------------------------------------


async def test_a_typed_weight_redelivered_after_a_crash_is_taken_once(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    """The conversation exists, but the crash came before the processor stamped it."""
    await user.say("/start", "/sweat")
    await user.press("p:0:n")
    weight = message_update(api, "70")
    await user.crash(weight, at_put=2)  # /sweat's write and its reply went through

    methods = await user.redeliver(weight)

    draft = await sweat_record(gated)
    assert draft is not None
    assert methods == []
    assert draft.numbers == {"weight_before_kg": 70.0}, "not taken as the weight after too"
    assert weight["update_id"] in draft.updates


async def test_a_redelivered_sweat_press_changes_and_sends_nothing(
    user: Bot, gated: GatedStore
) -> None:
    await user.say("/sweat")
    press = await user.press("p:0:n")

    methods = await user.redeliver(press)

    draft = await sweat_record(gated)
    assert draft is not None
    assert methods == []
    assert draft.flags == {"fluid_restricted": False}


async def test_a_redelivered_last_answer_does_not_send_the_plan_again(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    await user.say("/sweat")
    await user.press("p:0:n")
    await user.say(*PLANNER_NUMBERS)
    await user.press("p:5:s")
    last = await user.press("p:6:n")
    assert texts(api)[-1].startswith("Your drinking plan")

    methods = await user.redeliver(last)

    closed = await sweat_record(gated)
    assert methods == []
    assert closed is not None
    assert (closed.is_open, closed.numbers, closed.flags) == (False, {}, {}), "answers dropped"
    assert last["update_id"] in closed.updates


async def test_an_older_unrecorded_sweat_press_is_only_answered(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    await user.say("/sweat")
    older = press_update(api, "p:0:y")  # built first, delivered after a newer one
    await user.press("p:0:n")

    methods = await user.redeliver(older)

    draft = await sweat_record(gated)
    assert draft is not None
    assert methods == ["answerCallbackQuery"]
    assert older["callback_query"]["id"] in api.answered_callback_queries
    assert "text" not in api.last("answerCallbackQuery").params, "skipped, not judged moved on"
    assert draft.flags == {"fluid_restricted": False}


async def test_an_emergency_phrase_redelivered_while_the_sweat_asks_sends_nothing(
    user: Bot, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await user.say("/sweat")
    phrase = message_update(api, "I have chest pain")
    await user.deliver(phrase)
    assert texts(api)[-2] == kb.text("emergency_card", "en")

    assert await user.redeliver(phrase) == []


async def test_a_redelivered_cancel_says_stopped_once(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    await user.say("/sweat")
    cancel = message_update(api, "/cancel")
    await user.deliver(cancel)

    assert await user.redeliver(cancel) == []
    assert await sweat_record(gated) is not None, "a closed record keeps the ledger"


async def test_redelivered_country_then_sweat_leave_the_sweat_open(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    """Replaying /country must not close /sweat the later /sweat opened."""
    country, sweat = message_update(api, "/country"), message_update(api, "/sweat")
    await user.deliver(country)
    await user.deliver(sweat)

    methods = [*await user.redeliver(country), *await user.redeliver(sweat)]

    draft, closed = await sweat_record(gated), await prompt(gated)
    assert methods == []
    assert draft is not None
    assert draft.is_open
    assert closed is not None
    assert not closed.is_open


# --- /country and shared locations ------------------------------------------------------------


async def test_a_typed_country_redelivered_after_a_crash_is_confirmed_once(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    await user.say("/country")
    typed = message_update(api, "Sveits")
    await user.crash(typed, at_put=1, committed=True)  # the profile took it; nothing was sent

    methods = await user.redeliver(typed)

    stored = await profile(gated)
    assert methods == []
    assert stored is not None
    assert stored["country"] == "CH"
    assert stored["updates"] == [typed["update_id"]]


async def test_a_redelivered_location_replies_once(user: Bot, api: FakeBotApi) -> None:
    location = message_update(api, "")
    del location["message"]["text"]
    location["message"]["location"] = HARDANGERVIDDA
    await user.deliver(location)
    assert texts(api)[-1].startswith("📞 Norway")

    assert await user.redeliver(location) == []


async def test_a_redelivered_location_at_sea_does_not_repeat_the_picker(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    location = message_update(api, "")
    del location["message"]["text"]
    location["message"]["location"] = {"latitude": 45.0, "longitude": -30.0}
    await user.deliver(location)

    assert await user.redeliver(location) == []
    opened = await prompt(gated)
    assert opened is not None
    assert opened.is_open


async def test_a_redelivered_country_button_changes_and_sends_nothing(
    user: Bot, gated: GatedStore
) -> None:
    await user.say("/country")
    choice = await user.press("g:SE")

    assert await user.redeliver(choice) == []
    stored = await profile(gated)
    assert stored is not None
    assert stored["country"] == "SE"


# --- the trip card (/card) ---------------------------------------------------------------------


async def card_record(store: SessionStore) -> CardRecord | None:
    record = await store.get(SessionKey(CHAT, CHAT, scope=CARD))
    return None if record is None else CardRecord.model_validate_json(record.data)


async def test_a_redelivered_card_command_asks_nothing_again(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    command = message_update(api, "/card")
    await user.deliver(command)

    methods = await user.redeliver(command)

    assert methods == []
    record = await card_record(gated)
    assert record is not None
    assert command["update_id"] in record.updates


async def test_a_redelivered_country_choice_sends_the_card_once(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    await user.say("/card")
    choice = await user.press("g:NO")
    cards = [text for text in texts(api) if text.startswith("🧭 TRIP CARD")]

    methods = await user.redeliver(choice)

    assert methods == []
    assert [text for text in texts(api) if text.startswith("🧭 TRIP CARD")] == cards == cards[:1]


async def test_a_redelivered_pin_press_pins_once_and_sends_nothing(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    await user.say("/card")
    await user.press("g:NO")
    record = await card_record(gated)
    assert record is not None
    press = await user.press(f"t:p:{record.message_id}")
    assert len(api.calls_to("pinChatMessage")) == 1

    methods = await user.redeliver(press)

    assert methods == []
    assert len(api.calls_to("pinChatMessage")) == 1
    pinned = await card_record(gated)
    assert pinned is not None
    assert pinned.is_pinned


# --- check-ins ------------------------------------------------------------------------------


async def show_result(user: Bot, kb: KnowledgeBase, gated: GatedStore) -> str:
    """Store a finished questionnaire, show its result; return its 30-minute offer's data."""
    session = walk(kb, {"cramp_now": "no"}).steps[-1][0]
    key = SessionKey(CHAT, CHAT)
    await gated.put(key, Conversation(session=session).dump(), expected_revision=0)
    await user.say("hello again")
    sent = user.api.latest_message(CHAT, with_keyboard=True)
    assert sent is not None
    assert sent.reply_markup is not None
    buttons = [button for row in sent.reply_markup["inline_keyboard"] for button in row]
    return next(str(b["callback_data"]) for b in buttons if str(b["callback_data"]).endswith("h"))


async def test_a_check_in_booking_redelivered_after_a_crash_books_and_says_so_once(
    user: Bot, api: FakeBotApi, kb: KnowledgeBase, gated: GatedStore
) -> None:
    offer = press_update(api, await show_result(user, kb, gated))
    await user.crash(offer, at_put=2)  # booked and confirmed; the conversation never stamped

    methods = await user.redeliver(offer)

    record = await gated.get(SessionKey(CHAT, CHAT, scope=CHECKIN))
    assert record is not None
    assert methods == []
    assert texts(api).count(kb.text("checkin_scheduled_30min", "en")) == 1
    assert CheckIn.model_validate_json(record.data).updates == (offer["update_id"],)
    assert await gated.due(T0 + 99_999) == [(SessionKey(CHAT, CHAT, scope=CHECKIN), T0 + 1800)]


async def test_a_check_in_answer_redelivered_sends_its_note_once(
    user: Bot, api: FakeBotApi, kb: KnowledgeBase, gated: GatedStore, scheduler: CheckinScheduler
) -> None:
    """The questionnaire has expired by the time of the answer: only the profile records it."""
    await user.press(await show_result(user, kb, gated))
    assert await scheduler.run_due(now=T0 + 1800) == 1
    await gated.delete(SessionKey(CHAT, CHAT))
    answer = await user.press("k:b")

    methods = await user.redeliver(answer)

    stored = await profile(gated)
    assert methods == []
    assert stored is not None
    assert stored["updates"] == [answer["update_id"]]


# --- the ledger itself and older records ---------------------------------------------------------


def test_verdict_joins_ledgers_and_is_new_outside_the_processor() -> None:
    def judged() -> list[Verdict]:
        ledger.current_update.set(9)
        return [ledger.verdict((3,), (9, 12)), ledger.verdict((3,), (12,)), ledger.verdict()]

    assert ledger.verdict((3, 9), (12,)) is Verdict.NEW
    assert contextvars.copy_context().run(judged) == [
        Verdict.DUPLICATE,
        Verdict.STALE,
        Verdict.NEW,
    ]


def test_a_duplicate_marks_the_update_skipped_for_the_processor() -> None:
    def judged() -> tuple[bool, bool]:
        ledger.current_update.set(9)
        ledger.verdict((3,), (12,))  # stale: not skipped as applied
        is_stale_skipped = ledger.skipped.get()
        ledger.verdict((9,))
        return is_stale_skipped, ledger.skipped.get()

    assert contextvars.copy_context().run(judged) == (False, True)
    assert not ledger.skipped.get()


async def test_records_of_the_earlier_formats_still_work(
    user: Bot, gated: GatedStore, kb: KnowledgeBase
) -> None:
    """A bare sweat draft (format 1) goes on; an old country marker reads as an open prompt."""
    draft = '{"format":1,"numbers":{},"flags":{"fluid_restricted":false}}'
    await gated.put(SessionKey(CHAT, CHAT, scope=SCOPE), draft, expected_revision=0)
    await user.say("70")
    taken = await sweat_record(gated)
    assert taken is not None
    assert taken.numbers == {"weight_before_kg": 70.0}

    await user.say("/cancel")
    await gated.put(SessionKey(CHAT, CHAT, scope=PROMPT), '{"format":1}', expected_revision=0)
    await user.say("Sveits")
    assert (await profile(gated) or {}).get("country") == "CH"
    old = {"format": 1, "offer": "30min", "level": "self_care", "revision": 3}
    checkin = CheckIn.model_validate({**old, "language": "en", "due_at": T0})
    assert checkin.updates == ()


async def no_wait(delay: float) -> None:
    """The processor's pause between attempts, without the waiting."""


async def test_a_sweat_reply_that_failed_after_its_commit_is_sent_again_not_lost(
    user: Bot, api: FakeBotApi, gated: GatedStore
) -> None:
    """The outbox tries a failed reply again; the number typed is kept once."""
    await user.say("/sweat")
    await user.press("p:0:n")
    user.processor = SettledProcessor(user.app, gated, sleep=no_wait)
    asked = len(texts(api))
    api.fail_next("sendMessage", status=502)  # the next question, after the answer's commit

    await user.say("70")

    draft = await sweat_record(gated)
    assert draft is not None
    assert draft.numbers == {"weight_before_kg": 70.0}
    question = texts(api)[-1]
    assert texts(api)[asked:] == [question, question]  # failed once, then sent
    assert [m.text for m in api.messages.values()].count(question) == 1  # shown once
    assert not any(text.startswith("Sorry") for text in texts(api))
