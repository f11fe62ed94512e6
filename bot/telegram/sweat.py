"""/sweat: the drinking planner as a short guided conversation in the chat.

Asks planner.yaml's questions in order (the heart/kidney question first), one message each:
Yes/No (or Skip) buttons `p:<step>:<y|n|s>` where the question offers them, typed numbers
otherwise ("70,5" and "70.5"). A refused answer gets the planner's error and the question again.
The answers so far are a `PlannerDraft` under the user's `sweat` scope in the session store, so
they expire with its idle TTL; the record is deleted as soon as the plan is shown, on /cancel and
by /forget. What comes next is decided by the pure `bot.engine.planner_flow`; numbers typed are
never logged.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.engine import planner_flow
from bot.engine.errors import ConflictError
from bot.engine.models import KnowledgeBase
from bot.engine.planner import PlannerConfig
from bot.engine.planner_flow import PlannerAsk, PlannerDone, PlannerDraft, PlannerReply
from bot.engine.planner_text import render_error
from bot.store.base import SessionKey, SessionStore
from bot.telegram import errors, updates
from bot.telegram.callbacks import decode_planner, encode_planner
from bot.telegram.preferences import Preferences

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
SCOPE = "sweat"


class SweatHandlers:
    """/sweat, its buttons and the numbers typed while it asks."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        config: PlannerConfig,
        preferences: Preferences,
    ) -> None:
        self.kb = kb
        self.store = store
        self.config = config
        self.preferences = preferences

    async def on_sweat(self, update: Update, context: Context) -> None:
        """Explain the planner and ask its first question (a planner already open restarts)."""
        key, language = updates.key(update), await self.preferences.language(update)
        count = str(len(self.config.questions))
        intro = self.config.text("intro", language, count=count)
        hint = self.config.text("cancel_hint", language)
        await context.bot.send_message(key.chat_id, f"{intro} {hint}")
        record = await self.store.get(_draft_key(key))
        revision = 0 if record is None else record.revision
        await self._respond(context.bot, key, planner_flow.begin(self.config), revision, language)

    async def on_button(self, update: Update, context: Context) -> None:
        """Apply Yes, No or Skip; a button of an earlier question only gets "moved on"."""
        query = await updates.private_query(update)
        if query is None:
            return
        key, language = updates.key(update), await self.preferences.language(update)
        draft, revision = await self._load(key)
        try:
            step, choice = decode_planner(query.data)
        except ValueError:
            step, choice = -1, "no"
        if draft is None or step != draft.step:
            is_gone = draft is None
            await query.answer(self._stale_text(language, is_gone=is_gone))
            return
        await query.answer()
        pressed = updates.pressed_id(query)
        if pressed is not None:
            await errors.retire_keyboard(context.bot, chat_id=key.chat_id, message_id=pressed)
        reply = planner_flow.answer_choice(self.config, draft, choice)
        await self._respond(context.bot, key, reply, revision, language)

    # --- the open prompt (see features.py) ------------------------------------------------------

    async def is_open(self, key: SessionKey) -> bool:
        return await self.store.get(_draft_key(key)) is not None

    async def take_text(self, update: Update, context: Context, text: str) -> None:
        """Apply a typed answer (a number, or yes/no) to the question being asked."""
        key, language = updates.key(update), await self.preferences.language(update)
        draft, revision = await self._load(key)
        if draft is None:  # expired or finished since the check, or unreadable
            await self.stop(key)
            await context.bot.send_message(key.chat_id, self._stale_text(language, is_gone=True))
            return
        reply = planner_flow.answer_text(self.config, draft, text)
        await self._respond(context.bot, key, reply, revision, language)

    async def reask(self, update: Update, context: Context) -> None:
        key, language = updates.key(update), await self.preferences.language(update)
        draft, _ = await self._load(key)
        if draft is not None:
            step = planner_flow.next_step(self.config, draft)
            if isinstance(step, PlannerAsk):
                await self._ask(context.bot, key.chat_id, step, language)

    async def stop(self, key: SessionKey) -> bool:
        return await self.store.delete(_draft_key(key))

    # --- internals ------------------------------------------------------------------------------

    async def _respond(
        self, bot: Bot, key: SessionKey, reply: PlannerReply, revision: int, language: str
    ) -> None:
        """Show the error if any, then save and ask the next question, or show the plan."""
        if reply.error is not None:
            text = render_error(self.config, reply.error, language)
            if reply.is_restarted:
                text += "\n\n" + self.config.text("restart_numbers", language)
            await bot.send_message(key.chat_id, text)
        if isinstance(reply.step, PlannerDone):
            await self.stop(key)
            logger.info("planner done in %s", key.render())
            await bot.send_message(
                key.chat_id, planner_flow.done_text(self.config, reply.step, language)
            )
            return
        data = reply.draft.model_dump_json()
        try:
            await self.store.put(_draft_key(key), data, expected_revision=revision)
        except ConflictError:  # a second message won the race: it asks the next question
            logger.info("planner answer in %s lost a race", key.render())
            return
        await self._ask(bot, key.chat_id, reply.step, language)

    async def _ask(self, bot: Bot, chat_id: int, ask: PlannerAsk, language: str) -> None:
        buttons = [
            InlineKeyboardButton(
                planner_flow.choice_label(self.config, choice, language),
                callback_data=encode_planner(ask.step, choice),
            )
            for choice in ask.choices
        ]
        markup = InlineKeyboardMarkup([buttons]) if buttons else None
        text = planner_flow.question_text(self.config, ask, language)
        await bot.send_message(chat_id, text, reply_markup=markup)

    async def _load(self, key: SessionKey) -> tuple[PlannerDraft | None, int]:
        """Return the draft (None if absent or unreadable) and the store revision to write at."""
        record = await self.store.get(_draft_key(key))
        if record is None:
            return None, 0
        try:
            return PlannerDraft.model_validate_json(record.data), record.revision
        except ValidationError:
            logger.warning("unreadable planner draft %s rev %d", key.render(), record.revision)
            return None, record.revision

    def _stale_text(self, language: str, *, is_gone: bool) -> str:
        if is_gone:
            return self.config.text("not_running", language)
        return self.kb.text("moved_on", language)


def _draft_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=SCOPE)
