"""/sweat: the drinking planner as a short guided conversation in the chat.

Asks planner.yaml's questions in order (the heart/kidney question first), one message each:
Yes/No (or Skip) buttons `p:<step>:<y|n|s>` where the question offers them, typed numbers
otherwise ("70,5" and "70.5"). A refused answer gets the planner's error and the question again.
The answers so far are a `PlannerRecord` under the user's `sweat` scope in the session store, so
they expire with its idle TTL; they are dropped as soon as the plan is shown, on /cancel and by
/forget. What comes next is decided by the pure `bot.engine.planner_flow`; numbers typed are
never logged. The plan's result (its amounts, never the weights) goes on to `after_plan`, which
keeps it for the trip card.

Every write carries the id of the update being processed (`ledger.py`), and is made before
anything is sent: a redelivered answer that was applied (after a crash, before Telegram was told)
is recognised and changes and sends nothing, instead of moving the planner on a second step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.engine import planner_flow
from bot.engine.errors import ConflictError
from bot.engine.models import KnowledgeBase
from bot.engine.planner import PlannerConfig, PlannerError
from bot.engine.planner_flow import PlannerAsk, PlannerDone, PlannerDraft, PlannerReply
from bot.engine.planner_text import render_error
from bot.store.base import SessionKey, SessionStore
from bot.telegram import ledger, updates
from bot.telegram.callbacks import decode_planner, encode_planner
from bot.telegram.outbox import Outbox
from bot.telegram.preferences import Preferences

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
SCOPE = "sweat"
FORMAT = 2
"""2 added `is_open` and `updates`; format 1 was the bare `PlannerDraft`, read as open."""
REFUSED = (PlannerError, ValueError, ArithmeticError)
"""What the planner raises on a draft it cannot go on from (see `SweatHandlers._attempt`)."""


class PlannerRecord(BaseModel):
    """The `sweat` record: the answers so far (flat, as in `PlannerDraft`) and the ids of the
    updates applied to them, written together.

    A closed record (the plan shown, /cancel) keeps only the ids, so that a redelivered last
    answer is still recognised; with no update id to keep, the record is deleted instead.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    numbers: dict[str, float] = Field(default_factory=dict)
    flags: dict[str, bool] = Field(default_factory=dict)
    is_open: bool = True
    updates: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Stored:
    """The record under the `sweat` key (None if absent or unreadable) and its store revision."""

    record: PlannerRecord | None
    revision: int

    @property
    def draft(self) -> PlannerDraft | None:
        """The open planner's answers; None when there is none."""
        if self.record is None or not self.record.is_open:
            return None
        return PlannerDraft(numbers=self.record.numbers, flags=self.record.flags)

    @property
    def applied(self) -> tuple[int, ...]:
        return () if self.record is None else self.record.updates


class SweatHandlers:
    """/sweat, its buttons and the numbers typed while it asks."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        config: PlannerConfig,
        preferences: Preferences,
        outbox: Outbox,
    ) -> None:
        self.kb = kb
        self.store = store
        self.config = config
        self.preferences = preferences
        self.outbox = outbox
        """Where replies go: sent in turn, without holding the chat's next update back."""
        self.after_plan: Callable[[SessionKey, PlannerDone], Awaitable[None]] | None = None
        """Told of each plan as it is shown, before it is sent (features.py wires the card)."""

    async def on_sweat(self, update: Update, context: Context) -> None:
        """Explain the planner and ask its first question (a planner already open restarts).

        `Features` has judged the update against the prompts' ledgers before calling this.
        """
        key, language = updates.key(update), await self.preferences.language(update)
        reply = planner_flow.begin(self.config)
        if not await self._save(key, reply, await self._load(key)):
            return
        count = str(len(self.config.questions))
        intro = self.config.text("intro", language, count=count)
        hint = self.config.text("cancel_hint", language)
        self.outbox.send(context.bot, key.chat_id, f"{intro} {hint}")
        await self._show(context.bot, key, reply, language)

    async def on_button(self, update: Update, context: Context) -> None:
        """Apply Yes, No or Skip; a button of an earlier question only gets "moved on"."""
        query = await updates.private_query(update)
        if query is None:
            return
        key = updates.key(update)
        stored = await self._load(key)
        if not await ledger.admits_press(query, stored.applied):
            return
        language, draft = await self.preferences.language(update), stored.draft
        try:
            step, choice = decode_planner(query.data)
        except ValueError:
            step, choice = -1, "no"
        if draft is None or step != draft.step:
            await query.answer(self._stale_text(language, is_gone=draft is None))
            return
        await query.answer()
        reply = self._attempt(draft, lambda d: planner_flow.answer_choice(self.config, d, choice))
        if not await self._save(key, reply, stored):
            return
        pressed = updates.pressed_id(query)
        if pressed is not None:
            self.outbox.retire(context.bot, chat_id=key.chat_id, message_id=pressed)
        await self._show(context.bot, key, reply, language)

    # --- the open prompt (see features.py) ------------------------------------------------------

    async def status(self, key: SessionKey) -> tuple[bool, tuple[int, ...]]:
        """Return whether the planner is open and the ids of the updates applied to its record."""
        stored = await self._load(key)
        return stored.draft is not None, stored.applied

    async def take_text(self, update: Update, context: Context, text: str) -> None:
        """Apply a typed answer (a number, or yes/no) to the question being asked."""
        key, language = updates.key(update), await self.preferences.language(update)
        stored = await self._load(key)
        draft = stored.draft
        if draft is None:  # expired or finished since the check, or unreadable
            await self.stop(key)
            self.outbox.send(context.bot, key.chat_id, self._stale_text(language, is_gone=True))
            return
        reply = self._attempt(draft, lambda d: planner_flow.answer_text(self.config, d, text))
        if await self._save(key, reply, stored):
            await self._show(context.bot, key, reply, language)

    async def reask(self, update: Update, context: Context) -> None:
        """Ask the current question again; the record takes the update's id first."""
        key, language = updates.key(update), await self.preferences.language(update)
        stored = await self._load(key)
        draft = stored.draft
        if draft is None:
            return
        reply = self._attempt(
            draft, lambda d: PlannerReply(d, planner_flow.next_step(self.config, d))
        )
        if await self._save(key, reply, stored):
            await self._show(context.bot, key, reply, language)

    async def stop(self, key: SessionKey) -> bool:
        """Close the planner; return whether it was open."""
        stored = await self._load(key)
        if stored.revision == 0 or (stored.record is not None and not stored.record.is_open):
            return False
        await self._close(key, stored)
        return True

    # --- internals ------------------------------------------------------------------------------

    def _attempt(
        self, draft: PlannerDraft, answer: Callable[[PlannerDraft], PlannerReply]
    ) -> PlannerReply:
        """Return `answer(draft)`; a draft the planner refuses as a whole takes the numbers again.

        Typed text never causes this (the planner refuses it with an error to show); a stored
        draft can, one written by another version or damaged, and it must not fail every message
        the user sends from then on.
        """
        try:
            return answer(draft)
        except REFUSED as error:
            logger.warning("planner draft refused (%s): numbers asked again", type(error).__name__)
        answered = {q.field for q in self.config.questions if q.kind == "yes_no"}
        flags = {field: value for field, value in draft.flags.items() if field in answered}
        restarted = PlannerDraft(flags=flags)
        return PlannerReply(
            restarted, planner_flow.next_step(self.config, restarted), is_restarted=True
        )

    async def _save(self, key: SessionKey, reply: PlannerReply, stored: Stored) -> bool:
        """Write the reply's draft with the update's id, or close the record when the plan is
        shown; False when another write won the race (its update shows what comes next)."""
        if isinstance(reply.step, PlannerDone):
            await self._close(key, stored)
            if self.after_plan is not None:  # the trip card keeps the plan's result (card.py)
                await self.after_plan(key, reply.step)
            return True
        applied = ledger.remember(stored.applied, ledger.stamp())
        draft = reply.draft
        record = PlannerRecord(numbers=draft.numbers, flags=draft.flags, updates=applied)
        try:
            await self.store.put(
                _draft_key(key), record.model_dump_json(), expected_revision=stored.revision
            )
        except ConflictError:
            logger.info("planner answer in %s lost a race", key.render())
            return False
        return True

    async def _close(self, key: SessionKey, stored: Stored) -> None:
        """Drop the answers; keep the ids (a closed record) if there is an update to remember."""
        update_id = ledger.stamp()
        if update_id is None:
            await self.store.delete(_draft_key(key))
            return
        closed = PlannerRecord(is_open=False, updates=ledger.remember(stored.applied, update_id))
        try:
            await self.store.put(
                _draft_key(key), closed.model_dump_json(), expected_revision=stored.revision
            )
        except ConflictError:  # written meanwhile: the answers go all the same
            await self.store.delete(_draft_key(key))

    async def _show(self, bot: Bot, key: SessionKey, reply: PlannerReply, language: str) -> None:
        """Show the refusal if any, then ask the next question, or show the plan."""
        refusal = self._refusal_text(reply, language)
        if refusal is not None:
            self.outbox.send(bot, key.chat_id, refusal)
        if isinstance(reply.step, PlannerDone):
            logger.info("planner done in %s", key.render())
            text = planner_flow.done_text(self.config, reply.step, language)
            self.outbox.send(bot, key.chat_id, text)
            return
        await self._ask(bot, key.chat_id, reply.step, language)

    def _refusal_text(self, reply: PlannerReply, language: str) -> str | None:
        parts = [] if reply.error is None else [render_error(self.config, reply.error, language)]
        if reply.is_restarted:
            parts.append(self.config.text("restart_numbers", language))
        return "\n\n".join(parts) or None

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
        self.outbox.send(bot, chat_id, text, reply_markup=markup)

    async def _load(self, key: SessionKey) -> Stored:
        """Return the record (None if absent or unreadable) and the store revision to write at."""
        record = await self.store.get(_draft_key(key))
        if record is None:
            return Stored(None, 0)
        try:
            return Stored(PlannerRecord.model_validate_json(record.data), record.revision)
        except ValidationError:
            logger.warning("unreadable planner draft %s rev %d", key.render(), record.revision)
            return Stored(None, record.revision)

    def _stale_text(self, language: str, *, is_gone: bool) -> str:
        if is_gone:
            return self.config.text("not_running", language)
        return self.kb.text("moved_on", language)


def _draft_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=SCOPE)
