"""PollingLoop: updates are confirmed to Telegram only after their change is committed.

The FakeBotApi stands in for Telegram's getUpdates: it keeps every update until a later call's
offset confirms it. A "crash" is the loop task cancelled mid-update (as a SIGKILL would stop
it); a new loop on the same store must then fetch the update again and apply it exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.config import Settings
from bot.engine.models import KnowledgeBase
from bot.store.memory import MemoryStore
from bot.telegram.app import ALLOWED_UPDATES, AnyApplication, build_application
from bot.telegram.polling import PollingLoop, PollingOptions, watermark
from bot.telegram.processing import UpdateProcessor
from bot.telegram.retry import RetryingRequest, RetryPolicy
from tests.fakes.botapi import FakeBotApi
from tests.reliability.helpers import (
    CHAT,
    GatedStore,
    conversation,
    first_button,
    forgive_repeated_answers,
    message_update,
    press_update,
    running,
    wait_until,
)

OTHER_CHAT = 5151
OPTIONS = PollingOptions(poll_timeout=0, grace=2.0)


@pytest.fixture
def gated() -> GatedStore:
    return GatedStore(MemoryStore())


@pytest.fixture
async def polled_app(
    settings: Settings, kb: KnowledgeBase, gated: GatedStore, api: FakeBotApi
) -> AsyncIterator[AnyApplication]:
    # The production chain, minus the limiter; retries pause for milliseconds only.
    request = RetryingRequest(api, policy=RetryPolicy(base_delay=0.001))
    async with running(build_application(settings, kb, gated, request=request)) as app:
        yield app


@pytest.fixture
def processor(polled_app: AnyApplication, gated: GatedStore) -> UpdateProcessor:
    return UpdateProcessor(polled_app, gated)


def offsets(api: FakeBotApi) -> list[int | None]:
    return [call.params.get("offset") for call in api.calls_to("getUpdates")]


def has_question(api: FakeBotApi, chat_id: int = CHAT) -> bool:
    return api.latest_message(chat_id, with_keyboard=True) is not None


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


async def test_a_crash_after_the_commit_makes_the_redelivery_change_and_send_nothing(
    api: FakeBotApi, gated: GatedStore, processor: UpdateProcessor
) -> None:
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
    assert {call.method for call in api.calls[calls:]} == {"getUpdates"}


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
