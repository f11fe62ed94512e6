"""The features beside the questionnaire, wired in one place: /country and shared locations,
/sweat, /card (the trip card) and the summary button; and where typed text goes while one of
them asks.

At most one prompt is open at a time: /sweat or the country prompt (starting one
closes the other, and /start and /restart close both). While one is open, typed text goes to it,
except that an emergency phrase first gets the emergency card, then the prompt asks again.
/cancel closes an open prompt, and the questionnaire too if one is running. /card asks through
the country prompt and then waits for a country; /cancel, /start and /restart stop that too.
`app.register` adds the handlers listed here; the questionnaire's own handlers stay in
`handlers.py`.

At most once: `UpdateProcessor` skips an update its conversation record has applied, but the
prompts keep records of their own, each stamped with the ids of the updates applied to it
(`ledger.py`), a closed prompt's record too. So the commands and typed text routed here are
judged against both prompts' ledgers (and the trip card's) first: a redelivered /sweat,
/country, /card, /cancel or answer that was applied changes nothing and sends nothing. The
buttons and shared locations are judged by their own feature. An update without a sender or with
text that is not a string (the Bot API promises both; `intake.py` screens them, and this is the
second line) gets a polite answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any, Protocol

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, ContextTypes

from bot.engine.kb.loader import Tables
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire.freetext import mentions_emergency
from bot.render.questionnaire import apology_text
from bot.store.base import SessionKey, SessionStore
from bot.telegram.delivery import origin
from bot.telegram.features.card import CardHandlers
from bot.telegram.features.country import CountryHandlers
from bot.telegram.features.questionnaire.handlers import QuestionnaireHandlers
from bot.telegram.features.questionnaire.keeper import AfterResult, ConversationKeeper, Wake
from bot.telegram.features.summary import SummaryHandlers
from bot.telegram.features.sweat import SweatHandlers
from bot.telegram.state import ledger
from bot.telegram.state.ledger import Verdict
from bot.telegram.state.preferences import Preferences
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Callback = Callable[[Update, Context], Coroutine[Any, Any, None]]


class Prompt(Protocol):
    """A feature that can ask for typed text: /sweat, the country prompt."""

    async def status(self, key: SessionKey) -> tuple[bool, tuple[int, ...]]:
        """Return whether the prompt is open and the ids of the updates its record applied."""
        ...

    async def take_text(self, update: Update, context: Context, text: str) -> None: ...
    async def reask(self, update: Update, context: Context) -> None: ...
    async def stop(self, key: SessionKey) -> bool: ...
    def record_key(self, key: SessionKey) -> SessionKey: ...


class Features:
    """Every feature's handlers, sharing one knowledge base, store, outbox and preferences."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        tables: Tables,
        *,
        session_ttl: timedelta,
        outbox: Outbox,
        after_result: Sequence[AfterResult] = (),
        wake: Wake | None = None,
    ) -> None:
        """Build the features; `after_result` is called once per new result (metrics), `wake`
        brings a chat to its record later, across a kill (the questionnaire keeper).

        The trip card follows the country, keeps the last /sweat plan and goes with /forget; it
        is built last (it asks through the country prompt and closes /sweat), so the hooks that
        reach it are closures over `self`."""
        preferences = Preferences(kb, store)
        self.country = CountryHandlers(
            *(kb, store, tables.numbers, preferences, outbox),
            chosen=lambda *args: self.card.after_country(*args),
        )
        # Results name the user's country's number, and urgent ones offer "Share location".
        self.keeper = ConversationKeeper(
            kb,
            store,
            outbox,
            local_numbers=self.country.local_numbers,
            offer_location=self.country.offer_location,
            after_result=after_result,
            wake=wake,
        )
        self.core = QuestionnaireHandlers(
            kb,
            store,
            session_ttl=session_ttl,
            outbox=outbox,
            keeper=self.keeper,
            preferences=preferences,
            forgetting=[lambda *args: self.card.forget(*args)],
        )
        self.sweat = SweatHandlers(
            *(kb, store, tables.sweat, preferences, outbox),
            after_plan=lambda *args: self.card.keep_plan(*args),
        )
        self.summary = SummaryHandlers(kb, self.keeper, preferences)
        self.card = CardHandlers(
            *(kb, store, tables.numbers, preferences, outbox),
            country=self.country,
            stop_sweat=self.sweat.stop,
        )
        self.prompts: tuple[Prompt, ...] = (self.sweat, self.country)

    def command(self, name: str) -> Callback:
        """Return the handler of command `name`: a feature's, else the questionnaire's."""
        own: dict[str, Callback] = {
            "country": self.on_country,
            "sweat": self.on_sweat,
            "card": self.on_card,
            "cancel": self.on_cancel,
            "start": self.on_start,
            "restart": self._closing(self.core.on_restart),
        }
        found: Callback = own.get(name) or getattr(self.core, f"on_{name}")
        return self._with_sender(found)

    def buttons(self) -> list[BaseHandler[Update, Any, Any]]:
        """Return the handlers of the summary (s:), country (g:), sweat (p:) and trip-card (t:)
        buttons."""
        return [
            CallbackQueryHandler(self._pressed(self.summary.on_summary), pattern=r"^s:"),
            CallbackQueryHandler(self._pressed(self.country.on_choice), pattern=r"^g:"),
            CallbackQueryHandler(self._pressed(self.sweat.on_button), pattern=r"^p:"),
            CallbackQueryHandler(self._pressed(self.card.on_button), pattern=r"^t:"),
        ]

    async def on_start(self, update: Update, context: Context) -> None:
        """/start, or `/start card` (the deep link t.me/<bot>?start=card): the trip card."""
        if context.args == ["card"]:
            await self.on_card(update, context)
            return
        await self._closing(self.core.on_start)(update, context)

    async def on_card(self, update: Update, context: Context) -> None:
        """Ask where the trip goes, for the trip card (a redelivery does nothing); a screen the
        chat is owed goes first."""
        key = origin.key(update)
        _, judged = await self._prompts(key)
        if judged is Verdict.NEW:
            self.keeper.show(context.bot, key)
            await self.card.on_card(update, context)

    async def on_country(self, update: Update, context: Context) -> None:
        """Close /sweat and open the country prompt (a redelivery does neither)."""
        key = origin.key(update)
        _, judged = await self._prompts(key)
        if judged is Verdict.NEW:
            await self.sweat.stop(key)
            await self.country.on_country(update, context)

    async def on_sweat(self, update: Update, context: Context) -> None:
        """Close the country prompt and start /sweat (a redelivery does neither)."""
        key = origin.key(update)
        _, judged = await self._prompts(key)
        if judged is Verdict.NEW:
            await self.country.stop(key)
            await self.sweat.on_sweat(update, context)

    async def on_cancel(self, update: Update, context: Context) -> None:
        """Close an open prompt and say so; cancel the questionnaire too if one is running."""
        key = origin.key(update)
        _, judged = await self._prompts(key)
        if judged is not Verdict.NEW:
            return
        stopped = [await prompt.stop(key) for prompt in self.prompts]
        await self.card.stop(key)  # /card waits for a country no more
        if not any(stopped):
            await self.core.on_cancel(update, context)
            return
        logger.info("prompt closed in %s", key.render())
        language = await self.core.preferences.language(update)
        self.core.outbox.reply(update, self.core.kb.text("flow_stopped", language))
        if await self.core.store.get(key) is not None:
            await self.core.on_cancel(update, context)

    async def on_text(self, update: Update, context: Context) -> None:
        """Give typed text to the open prompt; an emergency phrase gets the card first."""
        if not await self._has_sender(update):
            return
        key = origin.key(update)
        prompt, judged = await self._prompts(key)
        if judged is not Verdict.NEW:
            return
        if prompt is not None:  # a screen the chat is owed goes before the prompt's reply
            self.keeper.show(context.bot, key)
        text = _typed(update)
        if text is None:  # not a string: the Bot API promises one
            language = await self.core.preferences.language(update)
            self.core.outbox.reply(update, self.core.kb.text("not_text", language))
            if prompt is not None:
                await prompt.reask(update, context)
        elif prompt is None or mentions_emergency(self.core.kb, text):
            await self.core.on_text(update, context)
            if prompt is not None:
                await prompt.reask(update, context)
        elif text.startswith("/"):  # an unknown command is not an answer
            await prompt.reask(update, context)
        else:
            await prompt.take_text(update, context, text)

    async def on_edited_location(self, update: Update, context: Context) -> None:
        """Ignore a live location's updates: Telegram sends each one as an edited message."""

    async def _prompts(self, key: SessionKey) -> tuple[Prompt | None, Verdict]:
        """Return the open prompt, if any, and the update judged against both prompts' ledgers
        and the trip card's."""
        await self._read_ahead(key)
        statuses = [(prompt, *await prompt.status(key)) for prompt in self.prompts]
        found = next((prompt for prompt, is_open, _ in statuses if is_open), None)
        card = await self.card.applied(key)
        return found, ledger.verdict(card, *(applied for _, _, applied in statuses))

    async def _read_ahead(self, key: SessionKey) -> None:
        """Read at once the records a command or typed text here goes on to read one by one:
        each prompt's, the trip card's and the user's preferences. Within the update they are
        then answered from memory (`store/cached.py`): one statement or round trip, not four."""
        keys = [prompt.record_key(key) for prompt in self.prompts]
        keys += [self.card.record_key(key), self.core.preferences.record_key(key.user_id)]
        await self.core.store.get_many(keys)

    async def _has_sender(self, update: Update) -> bool:
        """Tell whether `update` has a chat and a sender; if not, answer it politely.

        The Bot API promises both in a private chat; without them no record can be found, so
        the user gets a short apology (a press just its answer) instead of a failure.
        """
        if update.effective_chat is not None and update.effective_user is not None:
            return True
        if update.callback_query is not None:
            await update.callback_query.answer()
        elif update.effective_chat is not None:
            language = self.core.preferences.from_telegram(update)
            self.core.outbox.reply(update, apology_text(self.core.kb, language, has_session=False))
        return False

    def _with_sender(self, handler: Callback) -> Callback:
        """Return `handler` preceded by `_has_sender`."""

        async def checked(update: Update, context: Context) -> None:
            if await self._has_sender(update):
                await handler(update, context)

        return checked

    def _pressed(self, handler: Callback) -> Callback:
        """Return the button handler `handler`, first bringing the chat to its conversation
        record: a press is the person acting, and a screen a kill left owed (an urgent result,
        say) goes out at their next action, before the feature's own replies, whichever button
        it is (nothing is sent when nothing is owed)."""

        async def pressed(update: Update, context: Context) -> None:
            if await self._has_sender(update):
                self.keeper.show(context.bot, origin.key(update))
                await handler(update, context)

        return pressed

    def _closing(self, handler: Callback) -> Callback:
        """Return `handler` preceded by closing any open prompt."""

        async def closing(update: Update, context: Context) -> None:
            await self._read_ahead(origin.key(update))
            for prompt in self.prompts:
                await prompt.stop(origin.key(update))
            await self.card.stop(origin.key(update))
            await handler(update, context)

        return closing


def _typed(update: Update) -> str | None:
    """Return the text of the message, or None when it is not a string."""
    message = update.effective_message
    text = None if message is None else message.text
    return text if isinstance(text, str) else None
