"""The per-chat conversation: its record in the session store and its one live message.

A `Conversation` is the engine's `Session` plus what the adapter needs to edit its one live
message in place: that message's id and the language. It is stored as JSON text under a
`SessionKey`. Every write is a compare-and-set against the store revision just read: when another
process (or a double tap) won the race, `Conversations` reloads once and shows the current state,
so an answer is never applied twice and nothing is overwritten blindly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from telegram import Bot

from bot.engine import machine
from bot.engine.errors import ConflictError, SessionOutdated
from bot.engine.machine import Result, Step
from bot.engine.models import KnowledgeBase
from bot.engine.numbers import CountryNumbers
from bot.engine.session import Session
from bot.render import card_text
from bot.store.base import SessionKey, SessionStore
from bot.telegram import errors, ledger
from bot.telegram.keyboards import screen

logger = logging.getLogger(__name__)

FORMAT = 2
"""2 added `updates`; `_MIGRATIONS` upgrades older records."""
DEFAULT_LANGUAGE = "en"

LocalNumbers = Callable[[int], Awaitable[CountryNumbers | None]]
"""User id -> the emergency numbers of the user's country, if known."""
AfterResult = Callable[[Bot, SessionKey, Result, str], Awaitable[None]]
"""Called once after a new result is shown (bot, key, result, language)."""
BeforeResult = Callable[[Bot, SessionKey, Result, str], Awaitable[bool]]
"""Called once before a new result is shown (bot, key, result, language); True when it sent a
message, which the result then follows, so that the result stays the latest message."""


async def _no_local_numbers(user_id: int) -> CountryNumbers | None:
    return None


class Conversation(BaseModel):
    """One user's questionnaire in one chat, as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    session: Session
    message_id: int | None = None
    """The message that shows the current question or result, edited in place."""
    language: str = DEFAULT_LANGUAGE
    updates: tuple[int, ...] = ()
    """Ids of the last Telegram updates applied to this record, so a redelivery is skipped."""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        version = data.get("format") if isinstance(data, dict) else None
        if isinstance(version, int) and version >= 1:  # format 0 or less stays invalid
            for step in _MIGRATIONS[version:]:
                data = step(data)
        return data

    def stamped(self) -> Conversation:
        """Return this record with the update being processed (`ledger.current_update`) added."""
        return self.model_copy(update={"updates": ledger.remember(self.updates, ledger.stamp())})

    def dump(self) -> str:
        """Return the stored JSON: defaults left out to keep records small, `format` kept.

        Loading always upgrades a record to FORMAT, so `format` equals its default here and
        `exclude_defaults` drops it; it is put back first, so an old record is never misread.
        """
        body = self.model_dump_json(exclude_defaults=True)
        return f'{{"format":{self.format},{body[1:]}'

    @classmethod
    def load(cls, text: str) -> Conversation:
        """Return the conversation stored as `text`; the same text is parsed once (`_parsed`)."""
        return _parsed(text)


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Conversation:
    """Parse a record; one update reads its record up to three times (ledger, handler, settle).

    A `Conversation` is frozen, so the same object can be handed out again.
    """
    return Conversation.model_validate_json(text)


_MIGRATIONS: list[Any] = [
    lambda data: data,  # index 0 is no format: format 1 is the baseline
    lambda data: {**data, "format": 2},  # 1 -> 2: no update ids were kept
]
"""Index N upgrades format N to N+1."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds under one key, with the store revision to write against.

    `conversation` is None when there is none (revision 0) or the record cannot be read (an old
    or damaged record, which the next write replaces).
    """

    conversation: Conversation | None
    revision: int

    def adopting(self, pressed_id: int | None, *, revision: int) -> Stored:
        """Take a pressed message newer than the tracked one, at the current revision, as live.

        Only a crash between sending a new screen and recording its id leaves such a message
        untracked (message ids only grow); without this its buttons would read as an old
        screen's, and the user's answer as "moved on".
        """
        current = self.conversation
        if (
            current is None
            or pressed_id is None
            or current.message_id is None
            or pressed_id <= current.message_id
            or revision != current.session.rev
        ):
            return self
        return Stored(current.model_copy(update={"message_id": pressed_id}), self.revision)


class Conversations:
    """Load, save (compare-and-set) and show conversations."""

    def __init__(self, kb: KnowledgeBase, store: SessionStore) -> None:
        self.kb = kb
        self.store = store
        self.local_numbers: LocalNumbers = _no_local_numbers
        self.before_result: list[BeforeResult] = []
        """Notes sent once before a new result (the location offer): see `features.py`."""
        self.after_result: list[AfterResult] = []
        """Called once after a new result is shown (metrics)."""

    async def get(self, key: SessionKey) -> Stored:
        """Return what is stored under `key`; an unreadable record is logged and reads as none."""
        record = await self.store.get(key)
        if record is None:
            return Stored(None, 0)
        try:
            return Stored(Conversation.load(record.data), record.revision)
        except ValidationError as error:
            # Log the error codes only: the record holds answers, which are health data.
            codes = sorted({str(item["type"]) for item in error.errors(include_input=False)})
            logger.warning("unreadable record %s rev %d: %s", key.render(), record.revision, codes)
            return Stored(None, record.revision)

    async def delete(self, key: SessionKey) -> bool:
        return await self.store.delete(key)

    async def begin(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Start a new questionnaire, replacing any other, and ask its first question."""
        stored = await self.get(key)
        session, step = machine.start(self.kb)
        old_id = stored.conversation.message_id if stored.conversation else None
        applied = stored.conversation.updates if stored.conversation else ()
        conversation = Conversation(
            session=session, message_id=old_id, language=language, updates=applied
        )
        await self.commit(bot, key, stored, conversation, step, in_place=False)

    async def relanguage(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Redraw the live question or result, if any, in `language` and keep that choice."""
        stored = await self.get(key)
        if stored.conversation is None or stored.conversation.language == language:
            return
        try:
            step = machine.current_step(self.kb, stored.conversation.session)
        except SessionOutdated:
            await self.restart_outdated(bot, key, language)
            return
        updated = stored.conversation.model_copy(update={"language": language})
        await self.commit(bot, key, stored, updated, step, in_place=True)

    async def commit(
        self,
        bot: Bot,
        key: SessionKey,
        stored: Stored,
        conversation: Conversation,
        step: Step,
        *,
        in_place: bool,
    ) -> None:
        """Save over `stored` with compare-and-set, then show `step`; a lost race reloads once."""
        conversation = conversation.stamped()  # in the same write: a redelivery is recognised
        try:
            revision = await self.store.put(
                key, conversation.dump(), expected_revision=stored.revision
            )
        except ConflictError as error:
            logger.info(
                "conflict on %s: expected %d, found %s", key.render(), error.expected, error.actual
            )
            await self.show_current(bot, key, await self.get(key), in_place=True)
            return
        logger.debug(
            "saved %s rev %d, session rev %d", key.render(), revision, conversation.session.rev
        )
        was_done = stored.conversation is not None and stored.conversation.session.done
        new_result = step if isinstance(step, Result) and not was_done else None
        if new_result is not None:
            language = conversation.language
            sent = [await note(bot, key, new_result, language) for note in self.before_result]
            in_place = in_place and not any(sent)
        await self._show(bot, key, conversation, step, revision=revision, in_place=in_place)
        if new_result is not None:
            for follow in self.after_result:
                await follow(bot, key, new_result, conversation.language)

    async def show_current(
        self, bot: Bot, key: SessionKey, stored: Stored, *, in_place: bool
    ) -> None:
        """Show where the stored session is; restart an outdated one politely."""
        conversation = stored.conversation
        if conversation is None:
            await bot.send_message(key.chat_id, self.kb.text("no_session", DEFAULT_LANGUAGE))
            return
        try:
            step = machine.current_step(self.kb, conversation.session)
        except SessionOutdated:
            await self.restart_outdated(bot, key, conversation.language)
            return
        await self._show(bot, key, conversation, step, revision=stored.revision, in_place=in_place)

    async def restart_outdated(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Say that the questionnaire changed (a new knowledge base), then start again."""
        logger.info("session in %s outdated: restarting", key.render())
        await bot.send_message(key.chat_id, self.kb.text("kb_updated", language))
        await self.begin(bot, key, language)

    async def _show(
        self,
        bot: Bot,
        key: SessionKey,
        conversation: Conversation,
        step: Step,
        *,
        revision: int,
        in_place: bool,
    ) -> None:
        """Show `step` (its card first) in the live message; track a new message's id."""
        chat_id, old_id, language = key.chat_id, conversation.message_id, conversation.language
        if step.cards:  # the card goes above the question, so the question moves below it
            await bot.send_message(chat_id, card_text(step.cards, language))
            in_place = False
        local = await self.local_numbers(key.user_id) if isinstance(step, Result) else None
        text, markup = screen(self.kb, step, language, local=local)
        shown = await errors.show_message(
            bot, chat_id=chat_id, old_id=old_id, text=text, markup=markup, in_place=in_place
        )
        if shown != old_id:
            await self._track(key, conversation, message_id=shown, revision=revision)

    async def _track(
        self, key: SessionKey, conversation: Conversation, *, message_id: int, revision: int
    ) -> None:
        """Record the new live message; after a lost race the newer step tracks its own."""
        tracked = conversation.model_copy(update={"message_id": message_id}).stamped()
        try:
            await self.store.put(key, tracked.dump(), expected_revision=revision)
        except ConflictError:
            logger.info("message %d in %s not tracked: a newer step won", message_id, key.render())
