"""/sweat: the drinking plan as a short guided conversation in the chat.

Asks sweat.yaml's questions in order (the heart/kidney question first), one message each:
Yes/No (or Skip) buttons `p:<step>:<y|n|s>` where the question offers them, typed numbers
otherwise ("70,5" and "70.5"). A refused answer gets /sweat's error and the question again.
The answers so far are a `SweatRecord` under the user's `sweat` scope in the session store, so
they expire with its idle TTL; they are dropped as soon as the plan is shown, on /cancel and by
/forget. What comes next is decided by the pure `bot.engine.sweat.flow`; numbers typed are
never logged. The plan's result (its amounts, never the weights) goes on to the `after_plan`
hook, which keeps it for the trip card.

Every write carries the id of the update being processed (`ledger.py`), and is made before
anything is sent: a redelivered answer that was applied (after a crash, before Telegram was told)
is recognised and changes and sends nothing, instead of moving /sweat on a second step.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.engine.kb.models import KnowledgeBase
from bot.engine.sweat import flow
from bot.engine.sweat.config import SweatConfig, SweatError
from bot.engine.sweat.flow import SweatAsk, SweatDone, SweatDraft, SweatReply
from bot.render.sweat import choice_label, done_text, question_text, render_error
from bot.store.base import SessionKey, SessionStore
from bot.telegram.delivery import origin
from bot.telegram.state import ledger
from bot.telegram.state.preferences import Preferences
from bot.telegram.state.records import Records, Stored
from bot.telegram.ui.callbacks import decode_sweat, encode_sweat
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
SCOPE = "sweat"
FORMAT = 2
"""2 added `is_open` and `updates`; format 1 was the bare `SweatDraft`, read as open."""
REFUSED = (SweatError, ValueError, ArithmeticError)
"""What /sweat raises on a draft it cannot go on from (see `SweatHandlers._attempt`)."""
AfterPlan = Callable[[SessionKey, SweatDone], Awaitable[None]]
"""Told of each plan as it is shown (key, the result): the trip card keeps what it shows."""


class SweatRecord(BaseModel):
    """The `sweat` record: the answers so far (flat, as in `SweatDraft`) and the ids of the
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


StoredDraft = Stored[SweatRecord]
"""The record under the `sweat` key (None if absent or unreadable) and its store revision."""


def open_draft(stored: StoredDraft) -> SweatDraft | None:
    """Return the open /sweat's answers; None when there is none."""
    if stored.record is None or not stored.record.is_open:
        return None
    return SweatDraft(numbers=stored.record.numbers, flags=stored.record.flags)


class SweatHandlers:
    """/sweat, its buttons and the numbers typed while it asks."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        config: SweatConfig,
        preferences: Preferences,
        outbox: Outbox,
        *,
        after_plan: AfterPlan | None = None,
    ) -> None:
        self.kb = kb
        self.store = store
        self.records = Records(store, SweatRecord, "sweat draft")
        self.config = config
        self.preferences = preferences
        self.outbox = outbox
        """Where replies go: sent in turn, without holding the chat's next update back."""
        self.after_plan = after_plan
        """Told of each plan as it is shown, before it is sent (the trip card, via registry.py)."""

    async def on_sweat(self, update: Update, context: Context) -> None:
        """Explain /sweat and ask its first question (a /sweat already open restarts).

        `Features` has judged the update against the prompts' ledgers before calling this.
        """
        key, language = origin.key(update), await self.preferences.language(update)
        reply = flow.begin(self.config)
        if not await self._save(key, reply, await self._load(key)):
            return
        count = str(len(self.config.questions))
        intro = self.config.text("intro", language, count=count)
        hint = self.config.text("cancel_hint", language)
        self.outbox.send(context.bot, key.chat_id, f"{intro} {hint}")
        await self._show(context.bot, key, reply, language)

    async def on_button(self, update: Update, context: Context) -> None:
        """Apply Yes, No or Skip; a button of an earlier question only gets "moved on"."""
        query = await origin.private_query(update)
        if query is None:
            return
        key = origin.key(update)
        stored = await self._load(key)
        if not await ledger.admits_press(query, stored.applied):
            return
        language, draft = await self.preferences.language(update), open_draft(stored)
        try:
            step, choice = decode_sweat(query.data)
        except ValueError:
            step, choice = -1, "no"
        if draft is None or step != draft.step:
            await query.answer(self._stale_text(language, is_gone=draft is None))
            return
        await query.answer()
        reply = self._attempt(draft, lambda d: flow.answer_choice(self.config, d, choice))
        if not await self._save(key, reply, stored):
            return
        pressed = origin.pressed_id(query)
        if pressed is not None:
            self.outbox.retire(context.bot, chat_id=key.chat_id, message_id=pressed)
        await self._show(context.bot, key, reply, language)

    # --- the open prompt (see registry.py) ------------------------------------------------------

    async def status(self, key: SessionKey) -> tuple[bool, tuple[int, ...]]:
        """Return whether /sweat is open and the ids of the updates applied to its record."""
        stored = await self._load(key)
        return open_draft(stored) is not None, stored.applied

    async def take_text(self, update: Update, context: Context, text: str) -> None:
        """Apply a typed answer (a number, or yes/no) to the question being asked."""
        key, language = origin.key(update), await self.preferences.language(update)
        stored = await self._load(key)
        draft = open_draft(stored)
        if draft is None:  # expired or finished since the check, or unreadable
            await self.stop(key)
            self.outbox.send(context.bot, key.chat_id, self._stale_text(language, is_gone=True))
            return
        reply = self._attempt(draft, lambda d: flow.answer_text(self.config, d, text))
        if await self._save(key, reply, stored):
            await self._show(context.bot, key, reply, language)

    async def reask(self, update: Update, context: Context) -> None:
        """Ask the current question again; the record takes the update's id first."""
        key, language = origin.key(update), await self.preferences.language(update)
        stored = await self._load(key)
        draft = open_draft(stored)
        if draft is None:
            return
        reply = self._attempt(draft, lambda d: SweatReply(d, flow.next_step(self.config, d)))
        if await self._save(key, reply, stored):
            await self._show(context.bot, key, reply, language)

    @staticmethod
    def record_key(key: SessionKey) -> SessionKey:
        """Return where the chat's /sweat draft is kept."""
        return _draft_key(key)

    async def stop(self, key: SessionKey) -> bool:
        """Close /sweat; return whether it was open."""
        stored = await self._load(key)
        if stored.revision == 0 or (stored.record is not None and not stored.record.is_open):
            return False
        await self._close(key, stored)
        return True

    # --- internals ------------------------------------------------------------------------------

    def _attempt(
        self, draft: SweatDraft, answer: Callable[[SweatDraft], SweatReply]
    ) -> SweatReply:
        """Return `answer(draft)`; a draft /sweat refuses as a whole takes the numbers again.

        Typed text never causes this (/sweat refuses it with an error to show); a stored
        draft can, one written by another version or damaged, and it must not fail every message
        the user sends from then on.
        """
        try:
            return answer(draft)
        except REFUSED as error:
            logger.warning("sweat draft refused (%s): numbers asked again", type(error).__name__)
        answered = {q.field for q in self.config.questions if q.kind == "yes_no"}
        flags = {field: value for field, value in draft.flags.items() if field in answered}
        restarted = SweatDraft(flags=flags)
        return SweatReply(restarted, flow.next_step(self.config, restarted), is_restarted=True)

    async def _save(self, key: SessionKey, reply: SweatReply, stored: StoredDraft) -> bool:
        """Write the reply's draft with the update's id, or close the record when the plan is
        shown; False when another write won the race (its update shows what comes next)."""
        if isinstance(reply.step, SweatDone):
            await self._close(key, stored)
            if self.after_plan is not None:  # the trip card keeps the plan's result
                await self.after_plan(key, reply.step)
            return True
        draft = reply.draft
        record = SweatRecord(numbers=draft.numbers, flags=draft.flags)
        if await self.records.save(_draft_key(key), record, over=stored) is None:
            logger.info("sweat answer in %s lost a race", key.render())
            return False
        return True

    async def _close(self, key: SessionKey, stored: StoredDraft) -> None:
        """Drop the answers; keep the ids (a closed record) if there is an update to remember."""
        await self.records.close(_draft_key(key), SweatRecord(is_open=False), over=stored)

    async def _show(self, bot: Bot, key: SessionKey, reply: SweatReply, language: str) -> None:
        """Show the refusal if any, then ask the next question, or show the plan."""
        refusal = self._refusal_text(reply, language)
        if refusal is not None:
            self.outbox.send(bot, key.chat_id, refusal)
        if isinstance(reply.step, SweatDone):
            logger.info("sweat done in %s", key.render())
            text = done_text(self.config, reply.step, language)
            self.outbox.send(bot, key.chat_id, text)
            return
        await self._ask(bot, key.chat_id, reply.step, language)

    def _refusal_text(self, reply: SweatReply, language: str) -> str | None:
        parts = [] if reply.error is None else [render_error(self.config, reply.error, language)]
        if reply.is_restarted:
            parts.append(self.config.text("restart_numbers", language))
        return "\n\n".join(parts) or None

    async def _ask(self, bot: Bot, chat_id: int, ask: SweatAsk, language: str) -> None:
        buttons = [
            InlineKeyboardButton(
                choice_label(self.config, choice, language),
                callback_data=encode_sweat(ask.step, choice),
            )
            for choice in ask.choices
        ]
        markup = InlineKeyboardMarkup([buttons]) if buttons else None
        text = question_text(self.config, ask, language)
        self.outbox.send(bot, chat_id, text, reply_markup=markup)

    async def _load(self, key: SessionKey) -> StoredDraft:
        """Return the record (None if absent or unreadable) and the store revision to write at."""
        return await self.records.load(_draft_key(key))

    def _stale_text(self, language: str, *, is_gone: bool) -> str:
        if is_gone:
            return self.config.text("not_running", language)
        return self.kb.text("moved_on", language)


def _draft_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=SCOPE)
