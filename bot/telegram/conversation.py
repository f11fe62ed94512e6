"""The per-chat conversation: read, save and show its record (`record.py`) and live message.

A conversation's record is stored as JSON text under a `SessionKey`. Every write is a
compare-and-set against the store revision just read: when another process (or a double tap)
won the race, `Conversations` reloads once and shows the current state, so an answer is never
applied twice and nothing is overwritten blindly. A step that goes into a new message is marked
owed in its commit and cleared when that message is tracked, so that a redelivery after a kill
in between shows it (`reshow`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import ValidationError
from telegram import Bot

from bot.engine import machine
from bot.engine.errors import ConflictError, SessionOutdated
from bot.engine.machine import Result, Step
from bot.engine.models import KnowledgeBase
from bot.engine.numbers import CountryNumbers
from bot.render import card_text
from bot.store.base import SessionKey, SessionStore
from bot.telegram import errors
from bot.telegram.keyboards import screen
from bot.telegram.record import DEFAULT_LANGUAGE, Conversation, Stored

logger = logging.getLogger(__name__)

LocalNumbers = Callable[[int], Awaitable[CountryNumbers | None]]
"""User id -> the emergency numbers of the user's country, if known."""
AfterResult = Callable[[Bot, SessionKey, Result, str], Awaitable[None]]
"""Called once after a new result is shown (bot, key, result, language)."""
BeforeResult = Callable[[Bot, SessionKey, Result, str], Awaitable[bool]]
"""Called once before a new result is shown (bot, key, result, language); True when it sent a
message, which the result then follows, so that the result stays the latest message."""


async def _no_local_numbers(user_id: int) -> CountryNumbers | None:
    return None


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
        # A result is new once: not a redraw of the same revision (another language), nor the
        # whole answer after the interim one was shown (the session is tailoring).
        previous = stored.conversation.session if stored.conversation is not None else None
        was_shown = previous is not None and (
            previous.done
            or previous.rev == conversation.session.rev
            or conversation.session.tailor is not None
        )
        new_result = step if isinstance(step, Result) and not was_shown else None
        # A step shown in a new message is tracked by a second write; until then it is owed.
        # (A new result may go below a note, so it is owed too; the rare extra write is cheap.)
        is_pending = (
            not in_place
            or conversation.message_id is None
            or bool(step.cards)
            or new_result is not None
        )
        owed = {"is_screen_pending": is_pending, "floor_id": None}
        conversation = conversation.model_copy(update=owed)
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

    async def reshow(self, bot: Bot, key: SessionKey, *, pressed_id: int | None) -> None:
        """Show the current step again for a redelivered update whose screen may be lost.

        A kill between a commit and its reply leaves the change stored but never shown, and the
        redelivery is skipped as applied. A screen owed in a new message (`is_screen_pending`)
        is sent now, its cards first. A press on the live message gets that message edited to
        the current step; when the first edit had gone out, Telegram answers "not modified"
        and nothing changes.
        """
        stored = await self.get(key)
        conversation = stored.conversation
        if conversation is None:
            return
        is_pending = conversation.is_screen_pending
        if not is_pending and (pressed_id is None or pressed_id != conversation.message_id):
            return
        try:
            step = machine.last_step(self.kb, conversation.session)
        except SessionOutdated:
            return  # the next update restarts it politely
        if is_pending:  # with the cards the step brought: first aid is never lost to a kill
            logger.info("screen owed in %s: shown now", key.render())
            # A first copy may have gone out before the kill: presses on it count too.
            floor = conversation.message_id or 0
            conversation = conversation.model_copy(update={"floor_id": floor})
        elif step.cards:
            return  # a step with cards went into a new message: the pressed one is older
        revision = stored.revision
        await self._show(bot, key, conversation, step, revision=revision, in_place=not is_pending)

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
        if shown != old_id or conversation.is_screen_pending:
            await self._track(key, conversation, message_id=shown, revision=revision)

    async def _track(
        self, key: SessionKey, conversation: Conversation, *, message_id: int, revision: int
    ) -> None:
        """Record the live message, now shown; after a lost race the newer step tracks its own."""
        shown = {"message_id": message_id, "is_screen_pending": False}
        tracked = conversation.model_copy(update=shown).stamped()
        try:
            await self.store.put(key, tracked.dump(), expected_revision=revision)
        except ConflictError:
            logger.info("message %d in %s not tracked: a newer step won", message_id, key.render())
