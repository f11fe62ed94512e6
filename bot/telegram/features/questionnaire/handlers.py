"""The Telegram handlers: decode an update, load the conversation, call the engine, save, show.

Each handler is a bound method of `QuestionnaireHandlers`, built with the knowledge base, the
store and the outbox; committing and showing live in `keeper.ConversationKeeper`. A press is
applied when its button was drawn at the session's current revision, whichever message carries
it: decoding, one store read, the pure engine step and the commit come first, then the answer, and
the new screen goes out afterwards from the chat's outbox, so no press waits for another's
messages. A press drawn at an older revision gets "moved on" and nothing else (the chat is being
brought to the current screen, or shows it already). Nothing the user types is logged or stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from telegram import Bot, CallbackQuery, Update
from telegram.ext import ContextTypes

from bot import __version__
from bot.engine.errors import InvalidAnswer, SessionFinished, SessionOutdated
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.freetext import mentions_emergency
from bot.engine.questionnaire.machine import Result, Step
from bot.engine.questionnaire.session import Session
from bot.render.questionnaire import (
    about_text,
    apology_text,
    more_text,
    privacy_text,
    welcome_text,
    why_text,
)
from bot.store.base import SessionKey, SessionStore
from bot.telegram.delivery import origin
from bot.telegram.features.checkins import cancel_checkin
from bot.telegram.features.questionnaire.keeper import ConversationKeeper, continued
from bot.telegram.state.conversation import Conversation, StoredConversation
from bot.telegram.state.preferences import Preferences
from bot.telegram.ui import messages
from bot.telegram.ui.callbacks import (
    TICKS,
    Callback,
    apply_callback,
    decode_callback,
    decode_language,
)
from bot.telegram.ui.keyboards import forget_markup, language_markup, welcome_markup
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
MOVED_ON = (ValueError, InvalidAnswer, SessionFinished)
"""Forged data, or a press the current step does not offer: "that question has moved on"."""
COMMIT_TRIES = 3
"""Rounds of read, apply, compare-and-set for one press (the outbox records what it showed
in between)."""
REPLY_ACTIONS = frozenset({"why", "more"})
"""Buttons under a result that ask for a message of their own, not a new screen."""
Forgetting = Callable[[Bot, SessionKey, str], Awaitable[None]]
"""Called when /forget is confirmed, before the records go (the trip card deletes its message)."""


class QuestionnaireHandlers:
    """Every handler of the bot, sharing the knowledge base and the conversation store."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        *,
        session_ttl: timedelta,
        outbox: Outbox | None = None,
        keeper: ConversationKeeper | None = None,
        preferences: Preferences | None = None,
        forgetting: Sequence[Forgetting] = (),
    ) -> None:
        """`keeper` and `preferences` are shared with the other features (registry.py), which
        hand the keeper their hooks; by default the handlers make their own. `forgetting` is
        told of a confirmed /forget first, while the records are still there (the trip card)."""
        self.kb = kb
        self.store = store
        self.outbox = outbox if outbox is not None else Outbox()
        self.conversations = keeper or ConversationKeeper(kb, store, self.outbox)
        self.preferences = preferences or Preferences(kb, store)
        self.session_ttl = session_ttl
        self.forgetting = tuple(forgetting)

    # --- commands -------------------------------------------------------------------------------

    async def on_start(self, update: Update, context: Context) -> None:
        """Greet (with the trip-card button), then begin a new questionnaire."""
        key, language = origin.key(update), await self.preferences.language(update)
        welcome, markup = welcome_text(self.kb, language), welcome_markup(self.kb, language)
        self.outbox.send(context.bot, key.chat_id, welcome, reply_markup=markup)
        await self.conversations.begin(context.bot, key, language)

    async def on_restart(self, update: Update, context: Context) -> None:
        await self.conversations.begin(
            context.bot, origin.key(update), await self.preferences.language(update)
        )

    async def on_help(self, update: Update, context: Context) -> None:
        self.outbox.reply(update, self.kb.text("help", await self.preferences.language(update)))

    async def on_cancel(self, update: Update, context: Context) -> None:
        """Delete the questionnaire and the chat's check-in, take the buttons off, say so."""
        key, language = origin.key(update), await self.preferences.language(update)
        stored = await self.conversations.get(key)
        is_deleted = await self.conversations.delete(key)
        logger.info("cancelled %s (was live: %s)", key.render(), is_deleted)
        if stored.conversation is not None and stored.conversation.message_id is not None:
            message_id = stored.conversation.message_id
            self.outbox.retire(context.bot, chat_id=key.chat_id, message_id=message_id)
        self.outbox.reply(
            update, self.kb.text("cancelled" if is_deleted else "no_session", language)
        )
        if await cancel_checkin(self.store, key):
            self.outbox.reply(update, self.kb.text("checkin_cancelled", language))

    async def on_privacy(self, update: Update, context: Context) -> None:
        hours = self.session_ttl.total_seconds() / 3600
        self.outbox.reply(
            update, privacy_text(self.kb, await self.preferences.language(update), ttl_hours=hours)
        )

    async def on_forget(self, update: Update, context: Context) -> None:
        """Ask for confirmation; the buttons (f:y / f:n) lead to `on_forget_choice`."""
        language = await self.preferences.language(update)
        markup = forget_markup(self.kb, language)
        self.outbox.reply(update, self.kb.text("forget_confirm", language), markup=markup)

    async def on_language(self, update: Update, context: Context) -> None:
        """Offer the languages; the buttons (l:<code>) lead to `on_language_choice`."""
        language = await self.preferences.language(update)
        markup = language_markup(self.kb)
        self.outbox.reply(update, self.kb.text("language_prompt", language), markup=markup)

    async def on_about(self, update: Update, context: Context) -> None:
        self.outbox.reply(
            update,
            about_text(self.kb, await self.preferences.language(update), version=__version__),
        )

    # --- buttons --------------------------------------------------------------------------------

    async def on_button(self, update: Update, context: Context) -> None:
        """Apply a questionnaire press drawn at the current revision; others are "moved on"."""
        query = await origin.private_query(update)
        if query is None:
            return
        key = origin.key(update)
        for _ in range(COMMIT_TRIES):
            try:
                stored = await self.conversations.get(key)
            except BaseException:
                await query.answer()  # stop the spinner; the error handler apologises
                raise
            if stored.conversation is None:
                await self._no_session(
                    query, context, key, await self.preferences.language(update)
                )
                return
            try:
                callback = decode_callback(query.data)
                session, step = self._apply(stored.conversation, callback)
            except MOVED_ON as error:
                await self._moved_on(query, context, key, stored, error)
                return
            except SessionOutdated:
                await query.answer()
                language = await self.preferences.language(update)
                await self.conversations.restart_outdated(context.bot, key, language)
                return
            if await self._after_press(context, key, stored, callback, session=session, step=step):
                await query.answer()  # right after the commit, before any screen goes out
                return
        await query.answer()  # the record kept moving under us: show where it is
        self.conversations.show(context.bot, key)

    async def on_forget_choice(self, update: Update, context: Context) -> None:
        """Erase every record of the user at once (Yes), or keep them (No), and say so."""
        query = await origin.private_query(update)
        if query is None:
            return
        await query.answer()
        key, is_yes = origin.key(update), query.data == "f:y"
        language = await self.preferences.language(update)
        if is_yes:
            for forget in self.forgetting:
                await forget(context.bot, key, language)
            count = await self.store.delete_user(key.user_id)
            logger.info("forgot user %d: %d record(s)", key.user_id, count)
        text = self.kb.text("forgotten" if is_yes else "forget_kept", language)
        message_id = origin.pressed_id(query)
        if message_id is None:
            self.outbox.send(context.bot, key.chat_id, text)
            return
        self.outbox.edit(
            context.bot, chat_id=key.chat_id, message_id=message_id, text=text, markup=None
        )

    async def on_language_choice(self, update: Update, context: Context) -> None:
        """Remember the chosen language and redraw the live question or result in it."""
        query = await origin.private_query(update)
        if query is None:
            return
        language = decode_language(query.data)
        if language not in self.kb.languages:
            await query.answer()
            return
        await query.answer()
        key = origin.key(update)
        await self.preferences.set_language(key.user_id, language)
        await self.conversations.relanguage(context.bot, key, language)
        message_id = origin.pressed_id(query)
        text = self.kb.text("language_set", language)
        if message_id is None:
            self.outbox.send(context.bot, key.chat_id, text)
            return
        self.outbox.edit(
            context.bot, chat_id=key.chat_id, message_id=message_id, text=text, markup=None
        )

    # --- messages -------------------------------------------------------------------------------

    async def on_text(self, update: Update, context: Context) -> None:
        """Answer an emergency phrase with the emergency card; otherwise re-show the question."""
        key, language = origin.key(update), await self.preferences.language(update)
        message = update.effective_message
        text = message.text if message else None
        if mentions_emergency(self.kb, text or ""):
            logger.info("emergency phrase in %s", key.render())
            self.outbox.reply(update, self.kb.text("emergency_card", language))
            return
        stored = await self.conversations.get(key)
        below = message.message_id if message else None
        await self.conversations.resurface(context.bot, key, stored, below=below)

    async def on_edited(self, update: Update, context: Context) -> None:
        """Edits are not answers; an edit that names an emergency still gets the card."""
        language = await self.preferences.language(update)
        text = update.edited_message.text if update.edited_message else None
        is_emergency = mentions_emergency(self.kb, text or "")
        self.outbox.reply(
            update, self.kb.text("emergency_card" if is_emergency else "edited", language)
        )

    async def on_other(self, update: Update, context: Context) -> None:
        """Stickers, photos, voice, locations...: say politely that only buttons work."""
        self.outbox.reply(
            update, self.kb.text("not_text", await self.preferences.language(update))
        )

    async def on_error(self, update: object, context: Context) -> None:
        """Log the failure (ids only), apologise, and show the current question if possible."""
        messages.log_failure(update, context.error)
        if not isinstance(update, Update) or not origin.is_private(update):
            return
        try:
            await self._apologise(update, context)
        except Exception:  # the error handler must not fail in turn; it logs ids only, as above
            logger.warning("could not apologise for update %d", update.update_id, exc_info=True)

    async def _apologise(self, update: Update, context: Context) -> None:
        key = origin.key(update)
        try:
            stored = await self.conversations.get(key)
        except Exception:  # the store may be what failed: apologise all the same
            logger.warning("store unavailable after update %d", update.update_id)
            stored = StoredConversation(None, 0)
        has_session = stored.conversation is not None
        language = self.preferences.from_telegram(update)  # the store may be what failed
        text = apology_text(self.kb, language, has_session=has_session)
        self.outbox.send(context.bot, key.chat_id, text)
        if has_session:
            await self.conversations.resurface(context.bot, key, stored)

    async def on_redelivered(self, bot: Bot, update: Update) -> None:
        """Show the screen of an update applied before, if a kill left it owed (`sync`)."""
        if not origin.is_private(update) or update.effective_user is None:
            return
        self.conversations.show(bot, origin.key(update))

    # --- steps ----------------------------------------------------------------------------------

    def _apply(self, conversation: Conversation, callback: Callback) -> tuple[Session, Step]:
        """Return the step a press leads to; InvalidAnswer when drawn at another revision.

        Revisions only grow, across restarts too (`conversation.continued`), so a button drawn at
        the current revision shows the current step, whichever message carries it.
        """
        session = conversation.session
        first = conversation.screen_rev
        is_tick = callback.action in TICKS and first is not None and first <= callback.revision
        if callback.revision != session.rev and not (is_tick and callback.revision < session.rev):
            raise InvalidAnswer(f"press at revision {callback.revision}, session at {session.rev}")
        return apply_callback(self.kb, session, callback)

    async def _after_press(
        self,
        context: Context,
        key: SessionKey,
        stored: StoredConversation,
        callback: Callback,
        *,
        session: Session,
        step: Step,
    ) -> bool:
        """Send the why-text or the rest of the result (More), or commit the step the press led
        to; False on a lost race."""
        conversation = stored.conversation
        assert conversation is not None  # noqa: S101 - on_button checked it
        if callback.action in REPLY_ACTIONS and isinstance(step, Result):
            explain = why_text if callback.action == "why" else more_text
            text = explain(self.kb, step, conversation.language)
            return await self.conversations.reply(context.bot, key, stored, text)
        if session.rev == conversation.session.rev:
            return True  # a tick as it stands already (a double tap): nothing to change
        # Restart or tailoring from a result leaves the result in the chat and asks below it.
        fresh = callback.action in ("restart", "tailor") and isinstance(
            machine.current_step(self.kb, conversation.session), Result
        )
        if callback.action == "restart":
            session = continued(session, conversation)
        # Ticks keep the checklist on screen; anything else draws a new question.
        is_same_screen = callback.action in ("toggle", "untick") and not session.done
        screen_rev = conversation.screen_rev if is_same_screen else session.rev
        updated = conversation.model_copy(update={"session": session, "screen_rev": screen_rev})
        return await self.conversations.commit(
            context.bot, key, stored, updated, step, fresh=fresh
        )

    async def _moved_on(
        self,
        query: CallbackQuery,
        context: Context,
        key: SessionKey,
        stored: StoredConversation,
        error: Exception,
    ) -> None:
        """Say the question has moved on; make sure the chat is brought to the current step."""
        assert stored.conversation is not None  # noqa: S101 - on_button checked it
        logger.info("stale or invalid press in %s: %s", key.render(), type(error).__name__)
        conversation = stored.conversation
        # The pressed message is the last one shown, and a newer state is owed (drawn over it, or
        # below it: a /start, a first-aid card, a screen a restart kept from the chat).
        is_behind = (
            conversation.is_screen_pending and origin.pressed_id(query) == conversation.message_id
        )
        # The person could not have seen the newer state yet: no "moved on", it is on its way.
        # But Why? or More asks for a message that will not come: that is said even then.
        if is_behind and not _asks_for_reply(query.data):
            await query.answer()
        else:
            await query.answer(self.kb.text("moved_on", conversation.language))
        self.conversations.show(context.bot, key)  # nothing to do unless a screen is owed

    async def _no_session(
        self, query: CallbackQuery, context: Context, key: SessionKey, language: str
    ) -> None:
        text = self.kb.text("no_session", language)
        await query.answer(text)
        self.conversations.say(context.bot, key.chat_id, text)


def _asks_for_reply(data: object) -> bool:
    """Tell whether button `data` asks for a message of its own (Why?, More)."""
    try:
        return decode_callback(data).action in REPLY_ACTIONS
    except ValueError:
        return False
