"""At most once in effect: a redelivered update changes nothing and sends nothing."""

from __future__ import annotations

import json

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import SessionStore
from bot.telegram.api.retry import RetryingRequest
from bot.telegram.app import AnyApplication, build_application, build_bot
from bot.telegram.delivery.processing import Outcome, UpdateProcessor
from bot.telegram.ui.outbox import drain_all
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import (
    CHAT,
    GatedStore,
    SettledProcessor,
    conversation,
    first_button,
    forgive_repeated_answers,
    message_update,
    parse,
    press_update,
    running,
    texts,
    wait_until,
)


async def test_the_same_press_twice_is_one_answer_and_one_reply(
    app: AnyApplication, api: FakeBotApi, store: SessionStore, processor: UpdateProcessor
) -> None:
    await processor.process(parse(app, message_update(api, "/start")))
    press = press_update(api, first_button(api))
    calls_before = len(api.calls)

    first = await processor.process(parse(app, press))
    after_first = len(api.calls)
    second = await processor.process(parse(app, press))

    stored = await conversation(store)
    assert stored is not None
    assert (first, second) == (Outcome.DONE, Outcome.DUPLICATE)
    assert stored.session.rev == 1
    assert len(stored.session.answers) == 1
    assert after_first > calls_before
    assert len(api.calls) == after_first  # the redelivery sent nothing at all
    assert len(api.answered_callback_queries) == 1


async def test_a_redelivered_start_does_not_restart_a_questionnaire_in_progress(
    app: AnyApplication, api: FakeBotApi, store: SessionStore, processor: UpdateProcessor
) -> None:
    start = message_update(api, "/start")
    await processor.process(parse(app, start))
    await processor.process(parse(app, press_update(api, first_button(api))))

    outcome = await processor.process(parse(app, start))

    stored = await conversation(store)
    assert stored is not None
    assert outcome is Outcome.DUPLICATE
    assert len(stored.session.answers) == 1


async def test_an_old_unrecorded_press_is_answered_but_changes_nothing(
    app: AnyApplication, api: FakeBotApi, store: SessionStore, processor: UpdateProcessor
) -> None:
    """A press older than what the chat applied, never recorded (e.g. a moved-on press)."""
    await processor.process(parse(app, message_update(api, "/start")))
    old_press = press_update(api, "q:99:a0")  # built now, delivered after a newer update
    await processor.process(parse(app, press_update(api, first_button(api))))
    sends = len(api.calls_to("sendMessage")) + len(api.calls_to("editMessageText"))

    outcome = await processor.process(parse(app, old_press))

    stored = await conversation(store)
    assert stored is not None
    assert outcome is Outcome.STALE
    assert old_press["callback_query"]["id"] in api.answered_callback_queries
    assert len(api.calls_to("sendMessage")) + len(api.calls_to("editMessageText")) == sends
    assert len(stored.session.answers) == 1


async def test_the_update_id_is_committed_with_the_state_change(
    app: AnyApplication, api: FakeBotApi, store: SessionStore, processor: UpdateProcessor
) -> None:
    start = message_update(api, "/start")
    await processor.process(parse(app, start))
    press = press_update(api, first_button(api))
    await processor.process(parse(app, press))

    stored = await conversation(store)
    assert stored is not None
    assert stored.updates == (start["update_id"], press["update_id"])


async def no_wait(delay: float) -> None:
    """The processor's pause between attempts, without the waiting."""


async def test_a_passing_store_failure_is_retried_silently_and_applied_once(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> None:
    gated = GatedStore(store)
    application = build_application(settings, kb, gated, request=RetryingRequest(api))
    async with running(application) as app:
        processor = SettledProcessor(app, gated, sleep=no_wait)
        await processor.process(parse(app, message_update(api, "/start")))
        gated.fail(1)  # the press's commit fails once

        outcome = await processor.process(parse(app, press_update(api, first_button(api))))
        stored = await conversation(store)

    assert outcome is Outcome.DONE
    assert stored is not None
    assert len(stored.session.answers) == 1
    assert not any(text.startswith("Sorry") for text in texts(api))  # the retry worked
    forgive_repeated_answers(api)


async def test_a_store_that_stays_down_ends_in_an_apology_and_a_retry_outcome(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> None:
    gated = GatedStore(store)
    application = build_application(settings, kb, gated, request=RetryingRequest(api))
    async with running(application) as app:
        processor = SettledProcessor(app, gated, sleep=no_wait)
        await processor.process(parse(app, message_update(api, "/start")))
        gated.fail(*range(1, 20))

        outcome = await processor.process(parse(app, press_update(api, first_button(api))))

    assert outcome is Outcome.RETRY
    assert any(text.startswith("Sorry, something went wrong") for text in texts(api))
    forgive_repeated_answers(api)


async def test_a_screen_left_untracked_by_a_crash_still_takes_the_answer(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> None:
    """A crash between sending a new question and recording its id must not void the press."""
    gated = GatedStore(store)
    parts = build_bot(settings, kb, gated, request=api)
    async with running(parts.application) as app:
        processor = UpdateProcessor(app, gated, sleep=no_wait)
        await processor.process(parse(app, message_update(api, "/start")))
        await drain_all()
        gated.hold(2)  # /restart: its commit goes through, recording the new message does not
        await processor.process(parse(app, message_update(api, "/restart")))
        await wait_until(gated.held.is_set)  # the new question is out, its id not recorded
        await parts.handlers.outbox.aclose()  # the crash
        before = await conversation(store)

        outcome = await processor.process(parse(app, press_update(api, first_button(api))))
        await drain_all()
        after = await conversation(store)

    assert before is not None
    assert after is not None
    newest = api.latest_message(CHAT, with_keyboard=True)
    assert newest is not None
    assert before.message_id != newest.message_id  # the new screen was never recorded...
    assert outcome is Outcome.DONE
    assert len(after.session.answers) == 1  # ...yet the press on it counts
    assert after.message_id == newest.message_id


async def test_a_screen_that_fails_after_the_commit_is_sent_again_not_lost(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> None:
    """The press is applied and answered; the outbox tries the failed screen again."""
    async with running(build_application(settings, kb, store, request=api)) as app:
        processor = SettledProcessor(app, store, sleep=no_wait)
        await processor.process(parse(app, message_update(api, "/start")))
        for method in ("editMessageText", "sendMessage"):  # the new screen fails, after commit
            api.fail_next(method, status=502)
        # Tick "Cramp right now": the first-aid card, then the screen as new messages.
        outcome = await processor.process(parse(app, press_update(api, "q:0:t0")))
        stored = await conversation(store)

    assert outcome is Outcome.DONE
    assert stored is not None
    assert stored.session.ticked == ("cramp_now",)
    assert not stored.is_screen_pending
    assert not any(text.startswith("Sorry") for text in texts(api))
    shown = api.latest_message(CHAT, with_keyboard=True)
    assert shown is not None
    assert f"q:{stored.session.rev}:" in json.dumps(shown.reply_markup)
