"""The keeper's turns in the pacing of the request chain (features/questionnaire/keeper.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import bot.telegram.features.questionnaire.keeper as keeper_module
import bot.telegram.ui.outbox as outbox_module
from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import SessionKey
from bot.telegram.api.pacing.limiter import take_turn
from bot.telegram.features.checkins import CheckinScheduler
from bot.telegram.state.conversation import Conversation
from tests.fakes.impatient import Person, World, buttons, run_in_virtual_time


async def _started(kb: KnowledgeBase, settings: Settings, chat: int) -> tuple[World, Person]:
    """Return a running bot and a person in `chat` who sent /start and got the first question."""
    world = World(kb, settings, seed=0)
    await world.start()
    person = Person(world, chat)
    person.send("/start")
    await world.settle(quiet=3)
    return world, person


def test_only_a_new_urgent_result_goes_first_not_one_shown_again(
    kb: KnowledgeBase, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typed text shows the current emergency result again; that redraw waits its turn in the
    queue, so that only other chats' new red flags go before the calls waiting there."""
    lane: list[int] = []

    async def recording(pacer: Any, chat: int, **kwargs: bool) -> None:
        if kwargs.get("is_urgent"):
            lane.append(chat)
        await take_turn(pacer, chat, **kwargs)

    monkeypatch.setattr(outbox_module, "take_turn", recording)
    chat = 700_000

    async def main() -> World:
        world, person = await _started(kb, settings, chat)
        question = world.keyboards(chat)[-1]
        tick = next(b for b in buttons(question.reply_markup) if b["text"] == "☐ Chest pain")
        person.press(question, str(tick["callback_data"]), "chest pain")
        await world.settle(quiet=3)
        assert lane == [chat], "the new emergency result goes first"
        for text in ("hmm", "wait", "?"):
            person.send(text)
            await asyncio.sleep(0.05)
        await world.settle()
        await world.stop()
        return world

    world = run_in_virtual_time(main)

    shown = [
        str(call.params.get("text", ""))
        for call in world.monitor.calls
        if call.chat == chat and call.method in ("sendMessage", "editMessageText")
    ]
    assert sum(text.startswith("🚨") for text in shown) >= 2, "shown again after typed text"
    assert lane == [chat]
    assert not world.monitor.violations, [str(v) for v in world.monitor.violations]


def _at_emergency(world: World, person: Person, chat: int) -> None:
    question = world.keyboards(chat)[-1]
    tick = next(b for b in buttons(question.reply_markup) if b["text"] == "☐ Chest pain")
    person.press(question, str(tick["callback_data"]), "chest pain")


def _sent_after(world: World, chat: int, at: float, start: str) -> list[str]:
    return [
        str(call.params.get("text", ""))
        for call in world.monitor.calls
        if call.chat == chat and call.method == "sendMessage" and call.ok and call.at > at
        if str(call.params.get("text", "")).startswith(start)
    ]


@pytest.mark.parametrize(
    ("label", "start"), [("Why?", "Why this level"), ("Summary", "📋 CrampCheck summary")]
)
def test_a_reply_asked_for_survives_a_kill_after_the_press_was_answered(
    kb: KnowledgeBase, settings: Settings, label: str, start: str
) -> None:
    """The press is answered at once; its message fails once and the bot is killed before the
    retry. The reply was kept in the record, so the chat's next update brings it."""
    chat = 700_001

    async def main() -> tuple[World, float]:
        world, person = await _started(kb, settings, chat)
        _at_emergency(world, person, chat)
        await world.settle(quiet=3)
        result = world.keyboards(chat)[-1]
        world.api.fail_next("sendMessage", status=502)
        press = person.press_label(result, label)
        await asyncio.sleep(0.2)  # answered; the reply waits to be tried again
        assert press.answers, "answered at once"
        assert not _sent_after(world, chat, press.at, start)
        await world.kill()
        await world.settle(quiet=3)
        person.send("hello?")  # the chat's next update
        await world.settle(quiet=3)
        await world.stop()
        return world, press.at

    world, pressed_at = run_in_virtual_time(main)

    assert len(_sent_after(world, chat, pressed_at, start)) == 1
    assert not world.monitor.violations, [str(v) for v in world.monitor.violations]


def test_an_unshown_emergency_goes_before_the_questionnaire_a_start_begins(
    kb: KnowledgeBase, settings: Settings
) -> None:
    """The emergency result's edit fails; /start comes while the bot waits to try it again. The
    result still goes out first, then the new first question."""
    chat = 700_002

    async def main() -> tuple[World, float]:
        world, person = await _started(kb, settings, chat)
        world.api.fail_next("editMessageText", status=500)
        _at_emergency(world, person, chat)
        await asyncio.sleep(0.1)
        at = world.monitor.clock()
        person.send("/start")
        await world.settle(quiet=3)
        await world.stop()
        return world, at

    world, at = run_in_virtual_time(main)

    sent = [
        str(call.params.get("text", ""))[:12]
        for call in world.monitor.calls
        if call.chat == chat and call.method == "sendMessage" and call.ok and call.at >= at
    ]
    assert sent[0].startswith("🚨"), sent
    assert any(text.startswith("First, a saf") for text in sent[1:]), sent


def test_a_record_owes_a_few_replies_at_most_while_nothing_goes_out(
    kb: KnowledgeBase, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """During an outage every press is still answered, but the record does not grow without
    end: it owes `MAX_OWED_REPLIES` replies at most (1 here), and they go out once Telegram is
    back, at the chat's next update."""
    monkeypatch.setattr(keeper_module, "MAX_OWED_REPLIES", 1)
    chat = 700_003

    async def main() -> tuple[World, int, float]:
        world, person = await _started(kb, settings, chat)
        _at_emergency(world, person, chat)
        await world.settle(quiet=3)
        result = world.keyboards(chat)[-1]
        world.api.fail_next("sendMessage", status=502, times=1000)
        started = world.monitor.clock()
        for label in ("Why?", "Summary", "Why?"):
            person.press_label(result, label)
            await asyncio.sleep(0.2)
        record = await world.store.get(SessionKey(chat, chat))
        assert record is not None
        owed = len(Conversation.load(record.data).replies)
        await world.kill()
        world.api.clear_faults()
        person.send("back?")
        await world.settle(quiet=3)
        await world.stop()
        return world, owed, started

    world, owed, started = run_in_virtual_time(main)

    assert owed == 1
    assert all(press.answers for press in world.monitor.presses.values())
    assert len(_sent_after(world, chat, started, "Why this level")) == 1


def test_an_emergency_a_kill_took_goes_out_without_the_persons_next_update(
    kb: KnowledgeBase, settings: Settings
) -> None:
    """The red flag is committed and answered; the screen's edit fails and the bot is killed
    before it tries again. Nobody presses anything more: the new process brings the emergency
    screen all the same (at its start, and the commit's wake-up in the store would too)."""
    chat = 700_004

    async def main() -> tuple[World, float]:
        world, person = await _started(kb, settings, chat)
        world.api.fail_next("editMessageText", status=502)
        world.api.fail_next("sendMessage", status=502)
        _at_emergency(world, person, chat)
        await asyncio.sleep(0.1)  # the edit failed; its retry would come 0.2 s after it
        ticked = world.monitor.clock()
        await world.kill()
        await world.settle(quiet=30)
        await world.stop()
        return world, ticked

    world, ticked = run_in_virtual_time(main)

    shown = [
        (call.at, str(call.params.get("text", "")))
        for call in world.monitor.calls
        if call.chat == chat and call.method in ("sendMessage", "editMessageText") and call.ok
        if call.at >= ticked  # the old process is dead from `ticked` on
    ]
    assert shown, "nothing went out after the kill"
    assert shown[0][1].startswith("🚨"), shown
    assert shown[0][0] - ticked < 20


def test_a_wake_up_the_store_refuses_does_not_fail_the_press(
    kb: KnowledgeBase, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wake-up is a safety net: the red flag still commits, is answered and shown, with no
    apology, when scheduling it fails."""

    async def refused(self: CheckinScheduler, key: SessionKey, after: float) -> None:
        raise OSError("store unreachable")

    monkeypatch.setattr(CheckinScheduler, "wake", refused)
    chat = 700_005

    async def main() -> World:
        world, person = await _started(kb, settings, chat)
        _at_emergency(world, person, chat)
        await world.settle(quiet=3)
        await world.stop()
        return world

    world = run_in_virtual_time(main)

    texts = [
        str(call.params.get("text", ""))
        for call in world.monitor.calls
        if call.chat == chat and call.method in ("sendMessage", "editMessageText") and call.ok
    ]
    assert any(text.startswith("🚨") for text in texts)
    assert kb.text("apology", "en") not in texts
    assert not world.monitor.violations, [str(v) for v in world.monitor.violations]


def test_a_reply_a_kill_took_goes_out_without_the_persons_next_update(
    kb: KnowledgeBase, settings: Settings
) -> None:
    """As the emergency: the owed reply has a wake-up in the store, so nobody has to press or
    type anything more for the why-text to arrive from the new process."""
    chat = 700_006

    async def main() -> tuple[World, float]:
        world, person = await _started(kb, settings, chat)
        _at_emergency(world, person, chat)
        await world.settle(quiet=20)  # the emergency's own wake-up has come and gone
        world.api.fail_next("sendMessage", status=502)
        press = person.press_label(world.keyboards(chat)[-1], "Why?")
        await asyncio.sleep(0.2)
        await world.kill()
        await world.settle(quiet=30)
        await world.stop()
        return world, press.at

    world, pressed_at = run_in_virtual_time(main)

    assert len(_sent_after(world, chat, pressed_at, "Why this level")) == 1


def test_text_typed_before_the_screen_arrived_does_not_bring_it_again(
    kb: KnowledgeBase, settings: Settings
) -> None:
    """Text typed while the bot was still sending: the screen that came after it is below it
    already, so it is not sent a second time. Text typed after the screen still brings it
    below the text."""
    chat = 700_000

    async def main() -> tuple[int, int]:
        world, person = await _started(kb, settings, chat)
        question = world.keyboards(chat)[-1]
        typed_early = {
            "message_id": question.message_id - 1,  # typed before the screen came
            "from": person.user,
            "chat": world.api.chat(chat),
            "date": 0,
            "text": "hmm",
        }
        world.deliver({"update_id": world.api.next_update_id(), "message": typed_early})
        await world.settle(quiet=3)
        after_early = len(world.screens(chat, question.text))
        person.send("hmm")  # after the screen: it comes again below the text
        await world.settle(quiet=3)
        after_late = len(world.screens(chat, question.text))
        await world.stop()
        return after_early, after_late

    after_early, after_late = run_in_virtual_time(main)
    assert after_early == 1
    assert after_late == 2


def test_a_question_a_kill_took_goes_out_when_the_next_process_starts(
    kb: KnowledgeBase, settings: Settings
) -> None:
    """An ordinary step (no wake-up of its own): the press is committed and answered, the edit
    that shows the next question fails and the bot is killed before it tries again. Nobody
    presses anything more; the new process finds the screen owed when it starts and shows it."""
    chat = 700_007

    async def main() -> tuple[World, float, str]:
        world, person = await _started(kb, settings, chat)
        first = world.keyboards(chat)[-1]
        world.api.fail_next("editMessageText", status=502)
        world.api.fail_next("sendMessage", status=502)
        press = person.press_label(first, "None of these")
        await asyncio.sleep(0.2)
        await world.kill()
        await world.settle(quiet=30)
        newest = world.keyboards(chat)[-1]
        await world.stop()
        return world, press.at, newest.text

    world, pressed_at, newest = run_in_virtual_time(main)

    shown = [
        call.at
        for call in world.monitor.calls
        if call.chat == chat and call.method in ("sendMessage", "editMessageText") and call.ok
        if call.at > pressed_at
    ]
    assert shown, "nothing went out after the kill"
    assert shown[0] - pressed_at < 2  # at the new process's start, not after a wake-up
    assert not newest.startswith("First, a safety check"), newest
    assert not world.monitor.violations, [str(v) for v in world.monitor.violations]
