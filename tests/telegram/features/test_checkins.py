"""Follow-up check-ins: offered under a result, stored durably, sent when due, answered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

import pytest

from bot.config import Settings
from bot.engine.checkins import Offer, Reply
from bot.engine.errors import StoreError
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import localize
from bot.render.questionnaire import checkin_reply_text
from bot.store.base import CHECKIN, SessionKey, SessionStore
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore
from bot.telegram.app import AnyApplication, build_application
from bot.telegram.features.checkins import CheckIn, CheckinScheduler
from bot.telegram.state.conversation import Conversation
from bot.telegram.ui.callbacks import decode_offer, decode_reply, encode_offer, encode_reply
from tests.engine.helpers import walk
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver

T0 = 1_700_000_000.0
PLAIN = {"cramp_now": "no"}
OVERDRINKING = {
    "cramp_now": "no",
    "activity_context": "training",
    "fluid_intake": "lots_plain_water",
}
REPLIES: tuple[Reply, ...] = ("better", "same", "worse", "new")
OFFERS: tuple[Offer, ...] = ("30min", "morning")


class Clock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@asynccontextmanager
async def running(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi, clock: Clock
) -> AsyncIterator[tuple[AnyApplication, CheckinScheduler]]:
    """Run one bot process with a check-in scheduler on `clock`; shutting down closes `store`."""
    scheduler = CheckinScheduler(kb, store, clock=clock)
    app = build_application(settings, kb, store, request=api, checkins=scheduler)
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        yield app, scheduler
    assert app.post_shutdown is not None
    await app.post_shutdown(app)


@pytest.fixture
async def bot(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi, clock: Clock
) -> AsyncIterator[tuple[AnyApplication, CheckinScheduler]]:
    async with running(settings, kb, store, api, clock) as running_bot:
        yield running_bot


@pytest.fixture
def app(bot: tuple[AnyApplication, CheckinScheduler]) -> AnyApplication:
    """Overrides the shared `app`: the same Application, with a scheduler on the fake clock."""
    return bot[0]


@pytest.fixture
def scheduler(bot: tuple[AnyApplication, CheckinScheduler]) -> CheckinScheduler:
    return bot[1]


def chk(driver: ChatDriver) -> SessionKey:
    return SessionKey(driver.chat_id, driver.user_id, scope=CHECKIN)


def labels(kb: KnowledgeBase, *keys: str, language: str = "en") -> list[str]:
    return [kb.text(key, language) for key in keys]


async def show_result(
    driver: ChatDriver, store: SessionStore, kb: KnowledgeBase, facts: dict[str, str], **extra: str
) -> None:
    """Store the finished questionnaire of `facts`, then let the bot show its result."""
    session = walk(kb, facts).steps[-1][0]
    conversation = Conversation(session=session, language=extra.get("language", "en"))
    key = SessionKey(driver.chat_id, driver.user_id)
    await store.put(key, conversation.dump(), expected_revision=0)
    await driver.send("hello again")  # any text re-shows the current step, here the result


async def book(driver: ChatDriver, kb: KnowledgeBase, store: SessionStore) -> None:
    await show_result(driver, store, kb, PLAIN)
    await driver.press(kb.text("checkin_offer_30min", "en"))


# ------------------------------------------------------------------ the offer --
async def test_a_plain_result_offers_a_check_in_in_30_minutes(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore
) -> None:
    await show_result(driver, store, kb, PLAIN)

    buttons = driver.current_buttons()
    assert set(labels(kb, "why", "restart", "checkin_offer_30min")) <= set(buttons)
    assert kb.text("checkin_offer_morning", "en") not in buttons


async def test_overdrinking_also_offers_a_check_in_in_the_morning(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore
) -> None:
    await show_result(driver, store, kb, OVERDRINKING)

    assert driver.current_buttons()[-3:] == labels(
        kb, "checkin_offer_30min", "checkin_offer_morning", "trip_card_button"
    )
    assert "12 h" in kb.text("checkin_offer_morning", "en"), "the label says what morning means"


async def test_an_emergency_result_offers_no_check_in(
    driver: ChatDriver, kb: KnowledgeBase
) -> None:
    await driver.send("/start")
    await driver.press("☐ Chest pain")

    buttons = driver.current_buttons()
    assert set(labels(kb, "why", "restart")) <= set(buttons)
    assert not [button for button in buttons if button.startswith(("⏰", "🌅"))]


async def test_pressing_an_offer_books_the_check_in_in_the_store(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore
) -> None:
    await show_result(driver, store, kb, OVERDRINKING)
    await driver.press(kb.text("checkin_offer_morning", "en"))

    assert driver.last_text() == kb.text("checkin_scheduled_morning", "en")
    record = await store.get(chk(driver))
    assert record is not None
    checkin = CheckIn.model_validate_json(record.data)
    assert (checkin.offer, checkin.level, checkin.language) == ("morning", "self_care", "en")
    assert checkin.due_at == T0 + 12 * 3600
    assert await store.due(T0 + 12 * 3600) == [(chk(driver), T0 + 12 * 3600)]
    assert driver.unanswered_callbacks() == []


async def test_pressing_the_other_offer_replaces_the_first(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore
) -> None:
    await show_result(driver, store, kb, OVERDRINKING)
    await driver.press(kb.text("checkin_offer_morning", "en"))
    await driver.press(kb.text("checkin_offer_30min", "en"))

    assert await store.due(T0 + 99_999) == [(chk(driver), T0 + 1800)]


async def test_an_offer_under_a_result_that_moved_on_books_nothing(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> None:
    await show_result(driver, store, kb, PLAIN)
    result_id = driver.bot_messages()[-1].message_id
    offer = next(
        str(button["callback_data"])
        for row in (api.messages[driver.chat_id, result_id].reply_markup or {})["inline_keyboard"]
        for button in row
        if str(button["callback_data"]).startswith("c:")
    )
    await driver.press(kb.text("restart", "en"))

    await driver.press_data(offer, message_id=result_id)

    assert api.last("answerCallbackQuery").params.get("text") == kb.text("moved_on", "en")
    assert await store.get(chk(driver)) is None
    assert await store.due(T0 + 99_999) == []


@pytest.mark.parametrize("data", ["c:19:m", "c:x:h", "c:19:", "c:019:h"])
async def test_a_forged_or_unoffered_offer_books_nothing(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi, data: str
) -> None:
    """A plain cramp's result (revision 19) offers no morning check-in; forgeries book nothing."""
    await show_result(driver, store, kb, PLAIN)

    await driver.press_data(data)

    assert api.last("answerCallbackQuery").params.get("text") == kb.text("moved_on", "en")
    assert await store.due(T0 + 99_999) == []
    assert driver.unanswered_callbacks() == []


# --------------------------------------------------------------- sending it --
async def test_the_check_in_is_sent_when_due_and_only_once(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore, scheduler: CheckinScheduler
) -> None:
    await book(driver, kb, store)

    assert await scheduler.run_due(now=T0 + 1799) == 0
    assert driver.last_text() == kb.text("checkin_scheduled_30min", "en")

    assert await scheduler.run_due(now=T0 + 1800) == 1

    assert driver.last_text() == kb.text("checkin_question", "en")
    assert driver.current_buttons() == labels(kb, *(f"checkin_{reply}" for reply in REPLIES))
    assert await store.get(chk(driver)) is None
    assert await scheduler.run_due(now=T0 + 99_999) == 0


async def test_run_due_reads_the_injected_clock(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    scheduler: CheckinScheduler,
    clock: Clock,
) -> None:
    await book(driver, kb, store)
    clock.now = T0 + 1800

    assert await scheduler.run_due() == 1


@pytest.mark.parametrize("reply", ["better", "same"])
async def test_better_or_the_same_gets_a_note_with_the_safety_net(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    scheduler: CheckinScheduler,
    api: FakeBotApi,
    reply: Reply,
) -> None:
    await book(driver, kb, store)
    await scheduler.run_due(now=T0 + 1800)
    checkin_id = driver.bot_messages()[-1].message_id

    await driver.press(kb.text(f"checkin_{reply}", "en"))

    assert driver.last_text() == checkin_reply_text(kb, reply, "en")
    assert kb.text("checkin_safety_net", "en") in driver.last_text()
    assert api.messages[driver.chat_id, checkin_id].reply_markup is None, "answered once"
    assert driver.unanswered_callbacks() == []


@pytest.mark.parametrize("reply", ["worse", "new"])
async def test_worse_or_new_symptoms_rerun_the_red_flag_screen(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    scheduler: CheckinScheduler,
    reply: Reply,
) -> None:
    await book(driver, kb, store)
    await scheduler.run_due(now=T0 + 1800)

    await driver.press(kb.text(f"checkin_{reply}", "en"))

    texts = [message.text for message in driver.bot_messages()[-2:]]
    assert texts == [
        kb.text("checkin_recheck", "en"),
        driver.last_text(),
    ]
    assert driver.last_text().startswith(localize(kb.question("emergency_signs").text, "en"))
    await driver.press("☐ Chest pain")
    assert any(message.text.startswith("🚨 ") for message in driver.bot_messages()[-3:])
    assert driver.unanswered_callbacks() == []


async def test_the_check_in_speaks_the_language_it_was_booked_in(
    app: AnyApplication,
    api: FakeBotApi,
    kb: KnowledgeBase,
    store: SessionStore,
    scheduler: CheckinScheduler,
) -> None:
    driver = ChatDriver(app, api, language_code="nb")
    await show_result(driver, store, kb, PLAIN, language="nb")
    await driver.press(kb.text("checkin_offer_30min", "nb"))
    assert driver.last_text() == kb.text("checkin_scheduled_30min", "nb")

    await scheduler.run_due(now=T0 + 1800)

    assert driver.last_text() == kb.text("checkin_question", "nb")
    assert driver.current_buttons()[0] == kb.text("checkin_better", "nb")
    await driver.press(kb.text("checkin_same", "nb"))
    assert driver.last_text() == checkin_reply_text(kb, "same", "nb")


# ---------------------------------------------------------- cancel and forget --
async def test_forget_cancels_a_booked_check_in(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore, scheduler: CheckinScheduler
) -> None:
    await book(driver, kb, store)

    await driver.send("/forget")
    await driver.press(kb.text("forget_yes", "en"))

    assert await scheduler.run_due(now=T0 + 99_999) == 0
    assert driver.last_text() == kb.text("forgotten", "en")


async def test_cancel_unschedules_the_chats_check_in_and_says_so(
    driver: ChatDriver, kb: KnowledgeBase, store: SessionStore, scheduler: CheckinScheduler
) -> None:
    await book(driver, kb, store)

    await driver.send("/cancel")

    assert [message.text for message in driver.bot_messages()[-2:]] == [
        kb.text("cancelled", "en"),
        kb.text("checkin_cancelled", "en"),
    ]
    assert await store.get(chk(driver)) is None
    assert await scheduler.run_due(now=T0 + 99_999) == 0


@pytest.mark.parametrize(("language", "wording"), [("en", "check-in"), ("nb", "oppfølgingen")])
def test_privacy_says_a_check_in_is_kept_until_sent_cancelled_or_forgotten(
    kb: KnowledgeBase, language: str, wording: str
) -> None:
    text = kb.text("privacy", language)
    line = next(line for line in text.splitlines() if wording in line)
    assert "/cancel" in line
    assert "/forget" in line


# ------------------------------------------------------------------ failures --
async def test_a_blocked_bot_drops_the_check_in_and_logs_only_the_key(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    scheduler: CheckinScheduler,
    api: FakeBotApi,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await book(driver, kb, store)
    api.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")

    with caplog.at_level(logging.DEBUG, logger="bot"):
        assert await scheduler.run_due(now=T0 + 1800) == 0

    assert await store.due(T0 + 99_999) == []
    assert await store.get(chk(driver)) is None
    assert f"check-in {chk(driver).render()} dropped: Forbidden" in caplog.messages
    assert not any(kb.text("checkin_question", "en")[:20] in line for line in caplog.messages)


@pytest.mark.parametrize("status", ["timeout", 429, 502])
async def test_a_network_failure_puts_the_check_in_back_a_minute_later(
    driver: ChatDriver,
    kb: KnowledgeBase,
    store: SessionStore,
    scheduler: CheckinScheduler,
    api: FakeBotApi,
    status: int | Literal["timeout"],
) -> None:
    await book(driver, kb, store)
    api.fail_next("sendMessage", status=status)

    assert await scheduler.run_due(now=T0 + 1800) == 0

    assert await store.due(T0 + 99_999) == [(chk(driver), T0 + 1860)]
    assert await scheduler.run_due(now=T0 + 1860) == 1
    assert driver.last_text() == kb.text("checkin_question", "en")


async def test_run_due_needs_a_started_scheduler(kb: KnowledgeBase) -> None:
    with pytest.raises(RuntimeError, match="start"):
        await CheckinScheduler(kb, MemoryStore()).run_due(now=T0)


class FlakyStore(MemoryStore):
    """A memory store whose first `due` fails, as a store that is briefly unreachable does."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        if self.failures:
            self.failures -= 1
            raise StoreError("store briefly unreachable")
        return await super().due(now, limit)


async def test_the_background_loop_sends_due_check_ins_and_survives_a_failed_round(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    """The only test that lets the loop run: 10 ms rounds, at most 2 s in all."""
    store = FlakyStore()
    key = SessionKey(77, 77, scope=CHECKIN)
    await store.schedule(key, T0)
    scheduler = CheckinScheduler(kb, store, clock=lambda: T0, interval=0.01)
    app = build_application(settings, kb, store, request=api, checkins=scheduler)
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        for _ in range(200):
            if api.calls_to("sendMessage"):
                break
            await asyncio.sleep(0.01)
        assert app.post_shutdown is not None
        await app.post_shutdown(app)

    assert store.failures == 0
    assert [call.params["chat_id"] for call in api.calls_to("sendMessage")] == [77]


# ------------------------------------------------------------------- restart --
async def test_a_booked_check_in_survives_a_restart_on_sqlite(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi, clock: Clock, tmp_path: Path
) -> None:
    path = tmp_path / "state" / "crampcheck.db"
    first = await SqliteStore.open(path, clock=clock)
    async with running(settings, kb, first, api, clock) as (app, _):
        await book(ChatDriver(app, api), kb, first)

    second = await SqliteStore.open(path, clock=clock)
    async with running(settings, kb, second, api, clock) as (app, scheduler):
        driver = ChatDriver(app, api)
        assert await scheduler.run_due(now=T0 + 1800) == 1
        assert driver.last_text() == kb.text("checkin_question", "en")
        await driver.press(kb.text("checkin_worse", "en"))
        assert driver.last_text().startswith(localize(kb.question("emergency_signs").text, "en"))


async def test_forget_after_a_restart_cancels_the_check_in(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi, clock: Clock, tmp_path: Path
) -> None:
    path = tmp_path / "crampcheck.db"
    first = await SqliteStore.open(path, clock=clock)
    async with running(settings, kb, first, api, clock) as (app, _):
        await book(ChatDriver(app, api), kb, first)

    second = await SqliteStore.open(path, clock=clock)
    async with running(settings, kb, second, api, clock) as (app, scheduler):
        driver = ChatDriver(app, api)
        await driver.send("/forget")
        await driver.press(kb.text("forget_yes", "en"))
        assert await scheduler.run_due(now=T0 + 99_999) == 0
        assert driver.last_text() == kb.text("forgotten", "en")


# ------------------------------------------------------------ callback data --
@pytest.mark.parametrize("revision", [0, 19, 10**12 - 1])
def test_offer_data_round_trips_within_64_bytes(revision: int) -> None:
    for offer in OFFERS:
        data = encode_offer(revision, offer)
        assert len(data.encode()) <= 64
        assert decode_offer(data) == (revision, offer)


def test_reply_data_round_trips_and_forgeries_are_refused() -> None:
    for reply in REPLIES:
        assert decode_reply(encode_reply(reply)) == reply
    for forged in ("k:", "k:x", "k:bb", "K:b", None, 5):
        with pytest.raises(ValueError, match="malformed"):
            decode_reply(forged)
    for forged in ("c:1:x", "c:-1:h", "c:1:hm", "c:1234567890123:h", None):
        with pytest.raises(ValueError, match="malformed"):
            decode_offer(forged)
    with pytest.raises(ValueError, match="revision"):
        encode_offer(-1, "30min")


# ------------------------------------------------------------------ wake-ups --
async def test_a_wake_up_falls_due_once_for_the_scope_that_asked_for_it(
    store: SessionStore, scheduler: CheckinScheduler
) -> None:
    woken: list[SessionKey] = []
    scheduler.on_due("wake-test", lambda bot, key: woken.append(key))
    key = SessionKey(5, 5, scope="wake-test")
    await scheduler.wake(key, 10)

    await scheduler.run_due(now=T0 + 9)
    assert woken == []
    await scheduler.run_due(now=T0 + 10)
    await scheduler.run_due(now=T0 + 20)

    assert woken == [key]


async def test_a_due_key_nobody_acts_on_is_dropped_not_left_to_fill_every_batch(
    store: SessionStore, scheduler: CheckinScheduler
) -> None:
    await store.schedule(SessionKey(6, 6, scope="gone-feature"), T0)

    await scheduler.run_due(now=T0 + 1)

    assert await store.due(T0 + 99_999) == []
