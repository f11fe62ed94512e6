"""Simulated users for the harnesses: they play the questionnaire and check what they see.

Each user keeps the session the bot *should* hold, by replaying its own presses through the
engine (pure functions, the same knowledge base). After an action it waits for a screen at the
expected revision. If none comes while the bot is up, it nudges the bot by typing a word (the bot
shows the current question again, as a person would make it do): a screen at the expected
revision means the answer was kept but its screen was lost (`stale_screens`); a screen at the old
revision means the press was lost (`lost`), and the user presses again. At the end the harness
compares each user's session with the stored record: any difference is a lost or doubled answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.reliability.fakeapi import IndexedBotApi
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.session import Session
from bot.telegram.state.conversation import Conversation
from bot.telegram.ui.callbacks import apply_callback, decode_callback

QUESTION = re.compile(r"q:(\d+):([atxdbuc]\d*)")
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Stats:
    """What the users saw, summed over all of them."""

    actions: int = 0
    answers: int = 0
    nudges: int = 0
    stale_screens: int = 0
    lost: int = 0
    moved_on: int = 0
    stuck: int = 0
    diverged: int = 0
    order_violations: int = 0
    waits: list[float] = field(default_factory=list)

    def add(self, other: Stats) -> None:
        names = ("actions", "answers", "nudges", "stale_screens", "lost", "moved_on", "stuck")
        for name in (*names, "diverged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.order_violations += other.order_violations
        self.waits += other.waits


class Clock:
    """Counts waiting time only while the bot is up (a killed bot cannot answer)."""

    def __init__(self) -> None:
        self.is_up = False


class SimUser:
    """One user in one private chat."""

    def __init__(
        self,
        chat_id: int,
        api: IndexedBotApi,
        kb: KnowledgeBase,
        send: Send,
        *,
        seed: int,
        clock: Clock,
        patience: float = 3.0,
    ) -> None:
        self.chat_id = chat_id
        self.api = api
        self.kb = kb
        self.send = send
        self.rng = random.Random(seed)
        self.clock = clock
        self.patience = patience
        self.session: Session | None = None
        self.starts = 0
        self._sent_at = time.monotonic()
        """/start updates sent (each should be greeted once)."""
        self.stats = Stats()
        api.register_chat(chat_id, first_name=f"User{chat_id}")

    # --- what the user sees ---------------------------------------------------------------------

    def screen(self) -> tuple[int, int | None, list[str]]:
        """Return (sequence number, revision, callback data) of the latest questionnaire screen."""
        sent = self.api.latest_screen(self.chat_id)
        if sent is None or sent.reply_markup is None:
            return 0, None, []
        data = [
            str(b["callback_data"])
            for row in sent.reply_markup["inline_keyboard"]
            for b in row
            if "callback_data" in b
        ]
        revisions = {int(d.split(":")[1]) for d in data if d.startswith("q:")}
        return sent.seq, (revisions.pop() if len(revisions) == 1 else None), data

    def changed_since(self, seq: int) -> bool:
        return self.screen()[0] > seq

    def took_effect(self, seq: int, revision: int, query_id: str) -> bool:
        """Tell whether a press shows its new screen, or was answered "moved on"."""
        return (self.screen()[0] > seq and self.screen()[1] == revision) or self.was_moved_on(
            query_id
        )

    def session_rev(self) -> int:
        return -1 if self.session is None else self.session.rev

    def was_moved_on(self, query_id: str) -> bool:
        """Tell whether the bot answered this press with "moved on"."""
        moved_on = self.kb.text("moved_on", "en")
        return any(
            call.params.get("callback_query_id") == query_id
            and call.params.get("text") == moved_on
            for call in self.api.answer_calls.get(query_id, [])
        )

    def last_seq(self) -> int:
        sent = self.api.latest_message(self.chat_id)
        return 0 if sent is None else sent.seq

    # --- actions --------------------------------------------------------------------------------

    async def play(self, actions: int, *, think: float = 0.05) -> None:
        """Take `actions` steps: /start when no questionnaire runs (or it ended), else a press."""
        for _ in range(actions):
            if not await self.act(think):
                return

    async def play_until(self, stop: asyncio.Event, *, think: float) -> None:
        """Take steps as `play` does until `stop` is set, or the user is stuck."""
        while not stop.is_set():
            if not await self.act(think):
                return

    async def act(self, think: float) -> bool:
        """Take one step, then think up to `think` s; False (and counted) when stuck."""
        if not await self.step():
            self.stats.stuck += 1
            return False
        await asyncio.sleep(self.rng.uniform(0, think))
        return True

    async def step(self) -> bool:
        if self.session is None or self.session.done:
            return await self.start()
        return await self.press()

    async def start(self) -> bool:
        before, first = self.screen()[0], self.session
        session, _ = machine.start(self.kb)
        # A new questionnaire is numbered on from the one it replaces (each /start that lands).
        floor = -1 if first is None else first.rev

        def is_new_first_question() -> bool:
            seq, revision, _ = self.screen()
            return seq > before and revision is not None and revision > floor

        for attempt in range(3):  # a lost /start loses no answer: the user just asks again
            self.stats.actions += 1
            self.stats.nudges += attempt > 0
            self.starts += 1
            await self.deliver(self.message("/start"))
            if await self.wait(is_new_first_question):
                revision = self.screen()[1]
                assert revision is not None
                self.session = session.model_copy(update={"rev": revision})
                return True
        return False

    async def press(self) -> bool:
        assert self.session is not None
        seq, revision, data = self.screen()
        choices = [
            d
            for d in data
            if (match := QUESTION.fullmatch(d)) and int(match[1]) == self.session.rev
        ]
        if revision != self.session.rev or not choices:
            self.stats.diverged += 1
            return False
        chosen = self.rng.choice(choices)
        expected, _ = apply_callback(self.kb, self.session, decode_callback(chosen))
        for _ in range(5):
            self.stats.actions += 1
            update = self.press_update(chosen)
            query_id = update["callback_query"]["id"]
            await self.deliver(update)
            if await self.wait(partial(self.took_effect, seq, expected.rev, query_id)):
                if not self.was_moved_on(query_id):
                    break
                # Told "moved on" (the press hit a second copy of the screen that a failed
                # send left behind): nothing was lost silently; press on the live screen.
                self.stats.moved_on += 1
                await self.wait(partial(self.changed_since, self.screen()[0]))  # shown again
                if self.screen()[1] == expected.rev:
                    break  # an earlier copy of this press had been applied after all
                seq = self.screen()[0]
                continue
            if await self.nudge(expected.rev):
                break
            self.stats.lost += 1  # no answer, no "moved on", and the old screen: press again
        else:
            return False
        self.session = expected
        self.stats.answers += 1
        return True

    async def nudge(self, expected_rev: int) -> bool:
        """Type a word; return whether the bot then shows the expected revision."""
        before = self.last_seq()
        self.stats.nudges += 1
        await self.deliver(self.message("are you there?"))
        if not await self.wait(lambda: self.screen()[0] > before):
            return False
        if self.screen()[1] == expected_rev:
            self.stats.stale_screens += 1
            return True
        return False

    async def wait(self, condition: Callable[[], bool]) -> bool:
        """Wait up to `patience` seconds of bot uptime for `condition` (checked on each change)."""
        waited = 0.0
        changed = self.api.event(self.chat_id)
        while not condition():
            if waited >= self.patience:
                return False
            changed.clear()
            tick = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=0.1)
            waited += time.monotonic() - tick if self.clock.is_up else 0.0
        self.stats.waits.append(time.monotonic() - self._sent_at)
        return True

    async def deliver(self, update: dict[str, Any]) -> None:
        """Send an update and note when, so waits count from the user's action."""
        self._sent_at = time.monotonic()
        await self.send(update)

    # --- updates --------------------------------------------------------------------------------

    def user(self) -> dict[str, Any]:
        return {"id": self.chat_id, "is_bot": False, "first_name": "U", "language_code": "en"}

    def message(self, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self.api.next_message_id(self.chat_id),
            "from": self.user(),
            "chat": self.api.chat(self.chat_id),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
            ]
        return {"update_id": self.api.next_update_id(), "message": message}

    def press_update(self, data: str) -> dict[str, Any]:
        sent = self.api.latest_screen(self.chat_id)
        assert sent is not None
        query = {
            "id": self.api.new_callback_query_id(),
            "from": self.user(),
            "chat_instance": f"-{self.chat_id}",
            "message": self.api.message_json(sent),
            "data": data,
        }
        return {"update_id": self.api.next_update_id(), "callback_query": query}

    def matches(self, stored: Conversation | None) -> bool:
        """Tell whether the stored record holds exactly this user's answers."""
        if self.session is None:
            return True
        if stored is None:
            return False
        mine, theirs = self.session, stored.session
        return (mine.rev, mine.answers, mine.ticked, mine.done) == (
            theirs.rev,
            theirs.answers,
            theirs.ticked,
            theirs.done,
        )
