"""Raw updates, a store that can stall or fail, waiting: for the delivery and reliability tests.

Updates are built as Telegram sends them (JSON dicts), so they can go through getUpdates (the
fake's queue), a webhook body or `Update.de_json`. `GatedStore` wraps a real store and can hold
or fail a chosen `put`, which is how a test crashes or breaks the bot at an exact point.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from telegram import Update

from bot.engine.errors import StoreError
from bot.store.base import SessionKey, SessionStore
from bot.telegram.app import AnyApplication
from bot.telegram.delivery.processing import Outcome, UpdateProcessor
from bot.telegram.state.conversation import Conversation
from bot.telegram.ui.outbox import drain_all
from tests.fakes.botapi import FakeBotApi, SentMessage
from tests.shared import running as running  # re-exported: the tests import it from here

CHAT = 4242


class SettledProcessor(UpdateProcessor):
    """An `UpdateProcessor` that also waits for what the update owes the chat to go out.

    Production confirms an update once its change is committed and sends the screens after
    (`bot/telegram/ui/outbox.py`); these tests read the chat right after each update.
    """

    async def process(self, update: Update) -> Outcome:
        outcome = await super().process(update)
        await drain_all(within=10)  # a test that stalls the store stalls the outbox too
        return outcome


def user(chat_id: int = CHAT) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "Alex", "language_code": "en"}


def message_update(api: FakeBotApi, text: str, *, chat_id: int = CHAT) -> dict[str, Any]:
    """Return a text message update; a leading /command gets its bot_command entity."""
    message: dict[str, Any] = {
        "message_id": api.next_message_id(chat_id),
        "from": user(chat_id),
        "chat": api.chat(chat_id),
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        length = len(text.split()[0])
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"update_id": api.next_update_id(), "message": message}


def press_update(
    api: FakeBotApi, data: str, *, chat_id: int = CHAT, message_id: int | None = None
) -> dict[str, Any]:
    """Return a button press on message `message_id`, by default the latest with a keyboard."""
    if message_id is not None:
        sent = api.messages.get((chat_id, message_id))
    else:
        sent = api.latest_message(chat_id, with_keyboard=True) or api.latest_message(chat_id)
    assert sent is not None, "the bot has shown no message to press on"
    query = {
        "id": api.new_callback_query_id(),
        "from": user(chat_id),
        "chat_instance": f"-{8_000_000_000 + chat_id}",
        "message": api.message_json(sent),
        "data": data,
    }
    return {"update_id": api.next_update_id(), "callback_query": query}


def first_button(api: FakeBotApi, chat_id: int = CHAT) -> str:
    """Return the callback data of the first button on the chat's latest keyboard that answers
    the screen: an option, or a checklist's Done / None of these (a tick answers nothing yet)."""
    sent = api.latest_message(chat_id, with_keyboard=True)
    assert sent is not None
    assert sent.reply_markup is not None
    data = [str(b["callback_data"]) for row in sent.reply_markup["inline_keyboard"] for b in row]
    return next(d for d in data if re.fullmatch(r"q:\d+:(a\d+|d)", d))


def parse(app: AnyApplication, data: dict[str, Any]) -> Update:
    update = Update.de_json(data, app.bot)
    assert update is not None
    return update


async def conversation(store: SessionStore, chat_id: int = CHAT) -> Conversation | None:
    record = await store.get(SessionKey(chat_id, chat_id))
    return None if record is None else Conversation.load(record.data)


def texts(api: FakeBotApi, method: str = "sendMessage") -> list[str]:
    return [str(call.params.get("text")) for call in api.calls_to(method)]


async def wait_until(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    """Poll `condition` every few milliseconds; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.005)


class GatedStore:
    """A real store whose n-th `put` from now can be held at a gate or made to fail."""

    def __init__(self, inner: SessionStore) -> None:
        self.inner = inner
        self.puts = 0
        self.hold_at: int | None = None
        self.fail_at: set[int] = set()
        self.hold_after = False
        self.held = asyncio.Event()
        self.gate = asyncio.Event()

    def hold(self, nth: int, *, after: bool = False) -> None:
        """Hold the nth put from now (1 = the next) until `gate` is set; `held` says it waits.

        With `after`, the put is done (committed) before it is held.
        """
        self.hold_at, self.held, self.gate = self.puts + nth, asyncio.Event(), asyncio.Event()
        self.hold_after = after

    def fail(self, *nths: int) -> None:
        """Make the given puts from now (1 = the next) raise a StoreError, as a down store."""
        self.fail_at = {self.puts + nth for nth in nths}

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        self.puts += 1
        if self.puts in self.fail_at:
            raise StoreError("store unavailable (injected)")
        if self.puts != self.hold_at:
            return await self.inner.put(key, data, expected_revision=expected_revision)
        revision = None
        if self.hold_after:
            revision = await self.inner.put(key, data, expected_revision=expected_revision)
        self.held.set()
        await self.gate.wait()
        if revision is None:
            revision = await self.inner.put(key, data, expected_revision=expected_revision)
        return revision

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def forgive_repeated_answers(api: FakeBotApi) -> None:
    """Drop the fake's violations for answering a query twice, which redelivery implies.

    An update redelivered after it answered its callback query answers it again; the real
    server then says "query is too old", which `RetryingRequest` takes as done. The fake records
    each repeat as a violation, so a test that redelivers on purpose removes exactly those.
    """
    api.violations[:] = [
        violation
        for violation in api.violations
        if not (
            violation.method == "answerCallbackQuery" and "already answered" in violation.detail
        )
    ]


def latest_screen(api: FakeBotApi, chat_id: int = CHAT) -> SentMessage | None:
    """Return the chat's questionnaire screen: the latest message with `q:` buttons (the
    welcome's trip-card button is no screen)."""
    screens = [
        sent
        for sent in api.messages.values()
        if sent.chat_id == chat_id
        and any(
            str(button.get("callback_data", "")).startswith("q:")
            for row in (sent.reply_markup or {}).get("inline_keyboard", [])
            for button in row
        )
    ]
    return max(screens, key=lambda sent: sent.seq, default=None)
