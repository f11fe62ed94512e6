"""The keeper's turns in the pacing of the request chain (features/questionnaire/keeper.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import bot.telegram.ui.outbox as outbox_module
from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.telegram.api.pacing.limiter import take_turn
from tests.fakes.impatient import Person, World, buttons, run_in_virtual_time


def test_only_a_new_urgent_result_takes_the_urgent_lane_not_one_shown_again(
    kb: KnowledgeBase, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typed text shows the current emergency result again; that redraw waits in the queue, so
    the lane's few starts a second stay free for other chats' new red flags."""
    lane: list[int] = []

    async def recording(pacer: Any, chat: int, **kwargs: bool) -> None:
        if kwargs.get("is_urgent"):
            lane.append(chat)
        await take_turn(pacer, chat, **kwargs)

    monkeypatch.setattr(outbox_module, "take_turn", recording)
    chat = 700_000

    async def main() -> World:
        world = World(kb, settings, seed=0)
        await world.start()
        person = Person(world, chat)
        person.send("/start")
        await world.settle(quiet=3)
        question = world.keyboards(chat)[-1]
        tick = next(b for b in buttons(question.reply_markup) if b["text"] == "☐ Chest pain")
        person.press(question, str(tick["callback_data"]), "chest pain")
        await world.settle(quiet=3)
        assert lane == [chat], "the new emergency result takes the lane"
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
