"""PollingLoop: updates are confirmed to Telegram only after their change is committed.

The FakeBotApi stands in for Telegram's getUpdates: it keeps every update until a later call's
offset confirms it. A "crash" is the loop task cancelled mid-update (as a SIGKILL would stop
it); a new loop on the same store must then fetch the update again and apply it exactly once.

How often the loop polls is tested on `LongPollTelegram`, which also waits as a long poll does
(FakeBotApi answers an empty getUpdates after 10 ms whatever the timeout), with a processor stub
that takes milliseconds an update or holds one until the test lets it go; those tests run on
`TENTH`, the default pauses divided by ten.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import pytest
from telegram import Chat, Message, Update

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.memory import MemoryStore
from bot.telegram.api.retry import RetryingRequest, RetryPolicy
from bot.telegram.app import ALLOWED_UPDATES, AnyApplication, BotParts, build_bot
from bot.telegram.delivery.polling import PollingLoop, PollingOptions, watermark
from bot.telegram.delivery.processing import Outcome, UpdateProcessor
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    CHAT,
    GatedStore,
    SettledProcessor,
    conversation,
    first_button,
    forgive_repeated_answers,
    latest_screen,
    message_update,
    press_update,
    running,
    wait_until,
)

OTHER_CHAT = 5151
OPTIONS = PollingOptions(poll_timeout=0, grace=2.0)
TENTH = PollingOptions(repoll=0.05, max_repoll=0.2, grace=1.0)
"""The default pauses (0.5 s doubling to 2 s) divided by ten; long polls of 30 s."""


@pytest.fixture
def gated() -> GatedStore:
    return GatedStore(MemoryStore())


@pytest.fixture
async def polled_bot(
    settings: Settings, kb: KnowledgeBase, gated: GatedStore, api: FakeBotApi
) -> AsyncIterator[BotParts]:
    # The production chain, minus the limiter; retries pause for milliseconds only.
    request = RetryingRequest(api, policy=RetryPolicy(base_delay=0.001))
    parts = build_bot(settings, kb, gated, request=request)
    async with running(parts.application):
        yield parts


@pytest.fixture
def polled_app(polled_bot: BotParts) -> AnyApplication:
    return polled_bot.application


@pytest.fixture
def processor(polled_bot: BotParts, gated: GatedStore) -> UpdateProcessor:
    hook = polled_bot.handlers.on_redelivered  # as `serve` wires it
    return SettledProcessor(polled_bot.application, gated, on_redelivered=hook)


def offsets(api: FakeBotApi) -> list[int | None]:
    return [call.params.get("offset") for call in api.calls_to("getUpdates")]


def has_question(api: FakeBotApi, chat_id: int = CHAT) -> bool:
    return latest_screen(api, chat_id) is not None


async def start_loop(processor: UpdateProcessor) -> tuple[asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    loop = PollingLoop(processor, allowed_updates=ALLOWED_UPDATES, options=OPTIONS)
    return asyncio.create_task(loop.run(stop)), stop


async def crash(task: asyncio.Task[None]) -> None:
    """Stop the loop dead, as SIGKILL would: no clean-up call reaches Telegram."""
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_the_watermark_confirms_only_the_finished_prefix() -> None:
    assert watermark([], {5, 6, 7}) == 8
    assert watermark([6], {5, 7}) == 6
    assert watermark({7, 5, 6}, set()) == 5


async def test_an_update_is_confirmed_only_after_its_commit(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    start = message_update(api, "/start")
    api.queue_update(start)
    gated.hold(1)  # /start's commit
    task, stop = await start_loop(processor)

    await wait_until(gated.held.is_set)
    await asyncio.sleep(0.05)  # time enough for a premature confirmation to show
    assert all(offset is None for offset in offsets(api))
    gated.gate.set()
    await wait_until(lambda: start["update_id"] + 1 in offsets(api))
    stop.set()
    await task

    assert has_question(api)


async def test_a_crash_mid_update_refetches_it_and_applies_it_once(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    api.queue_update(message_update(api, "/start"))
    task, stop = await start_loop(processor)
    await wait_until(lambda: has_question(api))
    press = press_update(api, first_button(api))
    gated.hold(1)  # the press's commit
    api.queue_update(press)
    await wait_until(gated.held.is_set)

    await crash(task)
    before = await conversation(gated)
    task, stop = await start_loop(processor)  # the "restarted" bot
    await wait_until(lambda: press["update_id"] + 1 in offsets(api))
    stop.set()
    await task

    after = await conversation(gated)
    assert before is not None
    assert after is not None
    assert len(before.session.answers) == 0
    assert len(after.session.answers) == 1
    assert press["update_id"] in after.updates
    forgive_repeated_answers(api)  # the restarted bot answered the press again


async def test_a_crash_after_the_commit_makes_the_redelivery_change_nothing_but_show_it(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    """The answer is kept once; the press is answered and its screen shown (both were owed)."""
    api.queue_update(message_update(api, "/start"))
    task, stop = await start_loop(processor)
    await wait_until(lambda: has_question(api))
    press = press_update(api, first_button(api))
    gated.hold(1, after=True)  # committed, then the process dies before confirming
    api.queue_update(press)
    await wait_until(gated.held.is_set)
    await crash(task)
    calls = len(api.calls)

    task, stop = await start_loop(processor)
    await wait_until(lambda: press["update_id"] + 1 in offsets(api))
    stop.set()
    await task

    stored = await conversation(gated)
    assert stored is not None
    assert len(stored.session.answers) == 1
    assert not stored.is_screen_pending
    assert api.answered_callback_queries.count(press["callback_query"]["id"]) == 1
    showing = {"sendMessage", "editMessageText", "editMessageReplyMarkup"}  # card, question
    assert {call.method for call in api.calls[calls:]} <= {
        *("getUpdates", "answerCallbackQuery", *showing),
    }


async def test_a_screen_a_kill_took_is_shown_at_the_chats_next_update(
    api: FakeBotApi, gated: GatedStore, polled_bot: BotParts
) -> None:
    """Confirmed after its commit, the press is not redelivered; the owed screen is not lost:
    the person's next press, even on the old screen, brings it."""
    outbox = polled_bot.handlers.outbox
    hook = polled_bot.handlers.on_redelivered
    processor = UpdateProcessor(polled_bot.application, gated, on_redelivered=hook)
    api.queue_update(message_update(api, "/start"))
    task, stop = await start_loop(processor)
    await wait_until(lambda: has_question(api))
    old_screen = api.latest_message(CHAT, with_keyboard=True)
    assert old_screen is not None
    press = press_update(api, "q:0:d")  # None of these: the next screen, edited in place
    gated.hold(2)  # the press's commit goes through; recording its screen waits
    api.queue_update(press)
    await wait_until(gated.held.is_set)
    await crash(task)
    await outbox.aclose()  # the kill takes the screen being recorded with it
    gated.hold_at = None
    owed = await conversation(gated)
    assert owed is not None
    assert owed.is_screen_pending

    api.queue_update(press_update(api, "q:0:d", message_id=old_screen.message_id))  # again
    restarted = UpdateProcessor(polled_bot.application, gated, on_redelivered=hook)
    task, stop = await start_loop(restarted)
    await wait_until(lambda: live_question_revision(api) == 1)  # the next question is out
    stop.set()
    await task

    stored = await conversation(gated)
    assert stored is not None
    assert len(stored.session.answers) == 1
    assert live_question_revision(api) == stored.session.rev


def live_question_revision(api: FakeBotApi) -> int:
    shown = api.latest_message(CHAT, with_keyboard=True)
    assert shown is not None
    assert shown.reply_markup is not None
    return int(str(shown.reply_markup["inline_keyboard"][0][0]["callback_data"]).split(":")[1])


async def test_chats_run_side_by_side_and_each_chat_in_order(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    api.register_chat(OTHER_CHAT, first_name="Bo")
    api.queue_update(message_update(api, "/start"))
    gated.hold(1)  # chat A's /start
    api.queue_update(message_update(api, "/help"))  # A's next update waits behind it
    api.queue_update(message_update(api, "/start", chat_id=OTHER_CHAT))
    task, stop = await start_loop(processor)

    await wait_until(lambda: has_question(api, OTHER_CHAT))  # B is not held up by A
    assert gated.held.is_set()
    assert not has_question(api)
    helps = [
        call for call in api.calls_to("sendMessage") if "/start or /restart" in call.params["text"]
    ]
    assert helps == []  # A's /help has not overtaken A's /start
    gated.gate.set()
    await wait_until(lambda: has_question(api) and len(offsets(api)) > 2)
    stop.set()
    await task


async def test_a_stop_finishes_the_updates_in_flight_then_confirms_them(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    start = message_update(api, "/start")
    api.queue_update(start)
    gated.hold(1)
    task, stop = await start_loop(processor)
    await wait_until(gated.held.is_set)

    stop.set()
    await asyncio.sleep(0.05)
    gated.gate.set()
    await task

    assert has_question(api)
    assert offsets(api)[-1] == start["update_id"] + 1
    assert api.last("getUpdates").params.get("timeout") == 0


async def test_a_stop_never_confirms_an_update_that_did_not_finish(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    api.register_chat(OTHER_CHAT, first_name="Bo")
    held = message_update(api, "/start")
    api.queue_update(held)
    gated.hold(1)
    api.queue_update(message_update(api, "/start", chat_id=OTHER_CHAT))
    stop = asyncio.Event()
    options = PollingOptions(poll_timeout=0, grace=0.1)
    loop = PollingLoop(processor, allowed_updates=ALLOWED_UPDATES, options=options)
    task = asyncio.create_task(loop.run(stop))
    await wait_until(lambda: gated.held.is_set() and has_question(api, OTHER_CHAT))

    stop.set()
    await task

    # Offset N confirms every update below N: the held update never falls below an offset.
    assert max(offset or 0 for offset in offsets(api)) <= held["update_id"]


async def test_unreadable_updates_are_confirmed_instead_of_stalling_the_bot(
    api: FakeBotApi, processor: UpdateProcessor
) -> None:
    broken = {"update_id": api.next_update_id(), "message": "not an object"}
    api.queue_update(broken)
    start = message_update(api, "/start")
    api.queue_update(start)
    task, stop = await start_loop(processor)

    await wait_until(lambda: has_question(api) and start["update_id"] + 1 in offsets(api))
    stop.set()
    await task


async def test_get_updates_failures_back_off_and_the_loop_recovers(
    api: FakeBotApi, processor: UpdateProcessor
) -> None:
    api.fail_next("getUpdates", status=502, times=6)  # more than RetryingRequest's attempts
    api.queue_update(message_update(api, "/start"))
    pauses: list[float] = []

    async def pause(delay: float) -> None:
        pauses.append(delay)

    stop = asyncio.Event()
    loop = PollingLoop(processor, allowed_updates=ALLOWED_UPDATES, options=OPTIONS, sleep=pause)
    task = asyncio.create_task(loop.run(stop))
    await wait_until(lambda: has_question(api), seconds=20)
    stop.set()
    await task

    assert pauses


async def test_a_slow_chat_holds_back_only_itself_and_the_offset(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
    """Updates that arrive while one chat is stuck are fetched and handled all the same."""
    api.register_chat(OTHER_CHAT, first_name="Bo")
    slow = message_update(api, "/start")
    api.queue_update(slow)
    gated.hold(1)
    task, stop = await start_loop(processor)
    await wait_until(gated.held.is_set)

    later = message_update(api, "/start", chat_id=OTHER_CHAT)
    api.queue_update(later)
    await wait_until(lambda: has_question(api, OTHER_CHAT))
    assert max(offset or 0 for offset in offsets(api)) <= slow["update_id"]
    gated.gate.set()
    await wait_until(lambda: later["update_id"] + 1 in offsets(api))
    stop.set()
    await task


# --- how often the loop asks: a Telegram that long-polls, a processor that can hold an update --


@dataclass
class Poll:
    """One getUpdates call as Telegram saw it."""

    offset: int
    timeout: float
    returned: list[int] = field(default_factory=list)
    repeated: int = 0
    """Updates in the answer that an earlier call had returned already."""


class LongPollTelegram:
    """getUpdates as Telegram serves it: an update stays until an offset above it confirms it;
    a call answers at once when it has any update at or above its offset, else waits up to
    `timeout` seconds for one."""

    def __init__(self) -> None:
        self.queue: list[Update] = []
        self.polls: list[Poll] = []
        self.waiting: int | None = None
        """The offset of the call waiting for an update, if one is."""
        self._returned: set[int] = set()
        self._arrived = asyncio.Event()
        self._next_id = 100

    def send(self, chat_id: int) -> int:
        """Queue a text message from `chat_id`; return its update id."""
        self._next_id += 1
        chat = Chat(chat_id, Chat.PRIVATE)
        message = Message(self._next_id, datetime.now(UTC), chat, text="tap")
        self.queue.append(Update(self._next_id, message=message))
        self._arrived.set()
        return self._next_id

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int = 100,
        timeout: float = 0,  # noqa: ASYNC109 - the Bot API's parameter
        allowed_updates: Sequence[str] | None = None,
    ) -> tuple[Update, ...]:
        poll = Poll(offset or 0, timeout)
        self.polls.append(poll)
        self.queue = [update for update in self.queue if update.update_id >= poll.offset]
        clock = asyncio.get_running_loop()
        deadline = clock.time() + timeout
        try:
            while not self.queue and clock.time() < deadline:
                self.waiting = poll.offset
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), deadline - clock.time())
        finally:
            self.waiting = None
        answer = self.queue[:limit]
        poll.returned = [update.update_id for update in answer]
        poll.repeated = len(self._returned.intersection(poll.returned))
        self._returned.update(poll.returned)
        return tuple(answer)


class StubProcessor:
    """Stands in for `UpdateProcessor`: an update takes `work` seconds, or waits for its gate."""

    def __init__(self, telegram: LongPollTelegram, *, work: float = 0.002) -> None:
        self.application = SimpleNamespace(bot=telegram)
        self.work = work
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.handled: list[int] = []

    def hold(self, update_id: int) -> asyncio.Event:
        """Hold `update_id` in flight until the returned event is set."""
        self.gates[update_id] = asyncio.Event()
        return self.gates[update_id]

    async def process(self, update: Update) -> Outcome:
        self.started.append(update.update_id)
        gate = self.gates.get(update.update_id)
        if gate is None:
            await asyncio.sleep(self.work)
        else:
            await gate.wait()
        self.handled.append(update.update_id)
        return Outcome.DONE

    def delivery(self, update: Update) -> asyncio.Future[None] | None:
        """Nothing owed to the chat: the update is confirmed as soon as it is handled."""
        return None


def start_stub_loop(
    processor: StubProcessor, options: PollingOptions = TENTH
) -> tuple[PollingLoop, asyncio.Task[None], asyncio.Event]:
    stop = asyncio.Event()
    loop = PollingLoop(
        cast(UpdateProcessor, processor), allowed_updates=ALLOWED_UPDATES, options=options
    )
    return loop, asyncio.create_task(loop.run(stop)), stop


async def test_an_update_held_in_flight_does_not_make_the_loop_spin() -> None:
    """Held 0.5 s (5 s at the default pauses) with nothing new: a handful of polls, not 25."""
    telegram = LongPollTelegram()
    processor = StubProcessor(telegram)
    held = telegram.send(CHAT)
    gate = processor.hold(held)
    loop, task, stop = start_stub_loop(processor)
    await wait_until(lambda: processor.started == [held])

    await asyncio.sleep(0.5)
    polls_while_held = loop.stats.polls
    gate.set()
    await wait_until(lambda: telegram.waiting == held + 1)
    stop.set()
    await task

    # The first poll, then one 0.05, 0.1 and 0.2 s later (t = 0, 0.05, 0.15, 0.35); the loop
    # before this one asked with timeout=0 every 0.02 s here: 25 times.
    assert 2 <= polls_while_held <= 5
    assert loop.stats.repeated == polls_while_held - 1  # each repeated the held update only
    assert [poll.offset for poll in telegram.polls[1:polls_while_held]] == [held] * (
        polls_while_held - 1
    )
    assert telegram.polls[polls_while_held].offset == held + 1  # asked as soon as it finished
    assert telegram.polls[-1].offset == held + 1
    assert processor.handled == [held]


async def test_updates_that_finish_in_milliseconds_leave_every_poll_a_long_poll() -> None:
    """Two people tapping in turn: each poll waits for the next tap, none repeats an update."""
    telegram = LongPollTelegram()
    processor = StubProcessor(telegram, work=0.002)
    loop, task, stop = start_stub_loop(processor)
    sent: list[int] = []

    for tap in range(30):
        sent.append(telegram.send(CHAT if tap % 2 else OTHER_CHAT))
        await wait_until(lambda: telegram.waiting == sent[-1] + 1)
    stop.set()
    await task

    assert processor.handled == sent
    assert loop.stats.polls == len(sent) + 1  # one per tap, and the one waiting at the end
    assert loop.stats.long_polls == loop.stats.polls  # asked with nothing in flight, every time
    assert loop.stats.repeated == 0
    assert sum(poll.repeated for poll in telegram.polls) == 0
    assert {poll.timeout for poll in telegram.polls} == {TENTH.poll_timeout}


async def test_a_burst_of_taps_is_fetched_without_spinning() -> None:
    """Ten chats at once, then again: each update is fetched about once."""
    telegram = LongPollTelegram()
    processor = StubProcessor(telegram, work=0.002)
    loop, task, stop = start_stub_loop(processor)
    sent: list[int] = []

    for _ in range(5):
        sent.extend(telegram.send(CHAT + chat) for chat in range(10))
        await wait_until(lambda: telegram.waiting == sent[-1] + 1)
    stop.set()
    await task

    assert sorted(processor.handled) == sent
    assert loop.stats.polls <= 2 * 5 + 1  # per burst: the batch, at most one more before idle
    assert loop.stats.repeated <= len(sent)


async def test_with_every_slot_taken_the_loop_waits_for_one_to_free_before_polling() -> None:
    telegram = LongPollTelegram()
    processor = StubProcessor(telegram)
    held = telegram.send(CHAT)
    gate = processor.hold(held)
    options = PollingOptions(repoll=0.01, max_repoll=0.01, concurrency=1, grace=1.0)
    loop, task, stop = start_stub_loop(processor, options)
    await wait_until(lambda: processor.started == [held])

    await asyncio.sleep(0.2)  # 20 pauses
    assert loop.stats.polls == 1
    gate.set()
    await wait_until(lambda: telegram.waiting == held + 1)
    stop.set()
    await task

    assert loop.stats.polls == 2


async def test_another_chats_update_comes_in_within_the_pause_while_one_is_held() -> None:
    telegram = LongPollTelegram()
    processor = StubProcessor(telegram)
    held = telegram.send(CHAT)
    gate = processor.hold(held)
    loop, task, stop = start_stub_loop(processor)
    await wait_until(lambda: processor.started == [held])
    await asyncio.sleep(0.4)  # the pause between polls has grown to its longest

    clock = asyncio.get_running_loop()
    sent_at = clock.time()
    other = telegram.send(OTHER_CHAT)
    await wait_until(lambda: other in processor.handled)
    waited = clock.time() - sent_at
    assert waited <= TENTH.max_repoll + 0.1
    assert loop.offset == held  # the held update still holds the watermark
    assert max(poll.offset for poll in telegram.polls) <= held  # so nothing above it confirmed
    gate.set()
    await wait_until(lambda: telegram.waiting == other + 1)
    stop.set()
    await task

    assert processor.handled == [other, held]
