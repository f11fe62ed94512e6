"""A kill after a commit but before its reply: the redelivered update shows the lost screen.

The redelivery is recognised by the update ledger and applies nothing; `on_redelivered` then
shows the current step again, so that the user is not left looking at the old question.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import SessionStore
from bot.telegram.app import AnyApplication, build_bot
from bot.telegram.delivery.processing import Outcome, UpdateProcessor
from bot.telegram.ui.outbox import Outbox
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    CHAT,
    GatedStore,
    SettledProcessor,
    conversation,
    first_button,
    latest_screen,
    message_update,
    parse,
    press_update,
    running,
    texts,
    wait_until,
)


@dataclass
class Bot:
    """The application on a gated store, and a processor that re-shows lost screens."""

    app: AnyApplication
    gated: GatedStore
    processor: UpdateProcessor
    outbox: Outbox

    async def handle(self, update: dict[str, Any]) -> Outcome:
        return await self.processor.process(parse(self.app, update))

    async def killed_after_commit(
        self, update: dict[str, Any], *, nth_put: int = 1, committed: bool = True
    ) -> None:
        """Handle `update` but stop it dead at its `nth_put` store write (after its commit):
        the processing and the screens owed, wherever they are."""
        self.gated.hold(nth_put, after=committed)
        task = asyncio.create_task(self.handle(update))
        await wait_until(self.gated.held.is_set)
        task.cancel()  # the kill: nothing after the commit happens
        await asyncio.gather(task, return_exceptions=True)
        await self.outbox.aclose()
        self.gated.hold_at = None
        # The next process: it has not seen the update (the commit may have come before the kill).
        hook = self.processor.on_redelivered
        self.processor = SettledProcessor(self.app, self.gated, on_redelivered=hook)


@pytest.fixture
async def bot(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> AsyncIterator[Bot]:
    gated = GatedStore(store)
    parts = build_bot(settings, kb, gated, request=api)
    async with running(parts.application) as app:
        hook = parts.handlers.on_redelivered
        processor = SettledProcessor(app, gated, on_redelivered=hook)
        yield Bot(app, gated, processor, parts.handlers.outbox)


def live_revision(api: FakeBotApi) -> int | None:
    """Return the revision the buttons of the chat's live screen carry."""
    shown = api.latest_message(CHAT, with_keyboard=True)
    if shown is None:
        return None
    assert shown.reply_markup is not None  # with_keyboard=True finds only messages with one
    rows = shown.reply_markup["inline_keyboard"]
    data = [button["callback_data"] for row in rows for button in row]
    return int(data[0].split(":")[1])


async def test_a_press_killed_before_its_edit_shows_the_next_question_when_redelivered(
    bot: Bot, api: FakeBotApi, store: SessionStore
) -> None:
    await bot.handle(message_update(api, "/start"))
    press = press_update(api, "q:0:d")  # "None of these": no card, the next question
    await bot.killed_after_commit(press)
    assert live_revision(api) == 0  # answer kept, screen lost
    sends = len(api.calls_to("sendMessage"))

    outcome = await bot.handle(press)

    stored = await conversation(store)
    assert stored is not None
    assert outcome is Outcome.DUPLICATE
    assert len(stored.session.answers) == 1  # applied once
    assert live_revision(api) == stored.session.rev == 1
    assert len(api.calls_to("sendMessage")) == sends  # edited in place, nothing new sent
    assert api.answered_callback_queries.count(press["callback_query"]["id"]) == 1


async def test_a_start_killed_before_its_question_sends_the_question_when_redelivered(
    bot: Bot, api: FakeBotApi, store: SessionStore
) -> None:
    start = message_update(api, "/start")
    await bot.killed_after_commit(start)
    assert latest_screen(api) is None  # only the welcome went out
    welcomes = len(texts(api))

    outcome = await bot.handle(start)

    stored = await conversation(store)
    assert stored is not None
    assert outcome is Outcome.DUPLICATE
    shown = api.latest_message(CHAT, with_keyboard=True)
    assert shown is not None
    assert live_revision(api) == 0
    assert stored.message_id == shown.message_id  # tracked, so its buttons work
    assert not stored.is_screen_pending
    assert len(texts(api)) == welcomes + 1  # the question only, no second welcome


async def test_a_card_step_killed_before_its_card_sends_card_and_question_when_redelivered(
    bot: Bot, api: FakeBotApi, store: SessionStore, kb: KnowledgeBase
) -> None:
    """First aid is never lost to a kill: a step with a card goes out again in full."""
    await bot.handle(message_update(api, "/start"))
    cramp_now = press_update(api, "q:0:t0")  # tick "Cramp right now": the first-aid card
    await bot.killed_after_commit(cramp_now)
    before = len(texts(api))

    await bot.handle(cramp_now)

    stored = await conversation(store)
    assert stored is not None
    new_texts = texts(api)[before:]
    assert len(new_texts) == 2  # the card, then the question below it
    assert live_revision(api) == stored.session.rev == 1
    assert stored.message_id == api.latest_message(CHAT, with_keyboard=True).message_id  # type: ignore[union-attr]


async def test_a_redelivery_of_a_finished_update_shows_nothing_new(
    bot: Bot, api: FakeBotApi
) -> None:
    """A redelivery after a complete reply sends no message; an edit, if any, changes nothing."""
    start = message_update(api, "/start")
    await bot.handle(start)
    press = press_update(api, first_button(api))
    await bot.handle(press)
    bot.processor = SettledProcessor(
        bot.app, bot.gated, on_redelivered=bot.processor.on_redelivered
    )  # a restarted process: it has not seen them
    screen = api.latest_message(CHAT, with_keyboard=True)
    sends, messages = len(api.calls_to("sendMessage")), len(api.messages)

    outcomes = [await bot.handle(start), await bot.handle(press)]

    assert outcomes == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert len(api.calls_to("sendMessage")) == sends
    assert len(api.messages) == messages
    assert api.latest_message(CHAT, with_keyboard=True) == screen
    assert json.dumps(screen.reply_markup if screen else None).count("q:1:") > 0


async def test_a_press_on_the_first_copy_of_a_screen_sent_again_is_taken(
    bot: Bot, api: FakeBotApi, store: SessionStore
) -> None:
    """Killed after the question went out but before it was recorded: it is sent again, and a
    press on either copy is an answer, not "moved on"."""
    start = message_update(api, "/start")
    await bot.killed_after_commit(start, nth_put=2, committed=False)  # the put recording it
    first = api.latest_message(CHAT, with_keyboard=True)
    assert first is not None
    await bot.handle(start)  # redelivered: the question again, recorded this time
    second = api.latest_message(CHAT, with_keyboard=True)
    assert second is not None
    assert second.message_id > first.message_id

    press = press_update(api, "q:0:d", message_id=first.message_id)
    outcome = await bot.handle(press)

    stored = await conversation(store)
    assert stored is not None
    assert outcome is Outcome.DONE
    assert len(stored.session.answers) == 1
    assert stored.message_id == second.message_id  # the live copy shows the next question
    assert live_revision(api) == stored.session.rev
    assert not api.calls_to("answerCallbackQuery")[-1].params.get("text")  # not "moved on"
