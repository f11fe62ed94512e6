"""/country and shared locations: the user's country, for the right emergency number, offline.

Owns the country picker (inline buttons `g:<CC>`), the "Share location" reply button (offered by
/country and after every urgent or emergency result), the reply to a shared location, and the open
country prompt. A shared location becomes a country code through
`bot.engine.numbers.geo.country_at`, with no network; its coordinates go into that one reply and
are dropped: never stored, never logged. Only the ISO code is kept, in the user's profile
(`Preferences.set_country`). While a prompt is open, a `PromptRecord` under the `ctry` scope lets
typed text reach the picker; choosing a country, /cancel, /start or /sweat closes it, and so does
the store's idle TTL. /card asks its question through the same prompt (`ask`), and hears of every
country chosen (the `chosen` hook), so that a trip card in the chat follows the country (its reply
then stands for the confirmation).

Each write carries the id of the update being processed (`ledger.py`), in the prompt record or
the profile; an applied update that is redelivered changes and sends nothing. What the Bot API
never sends (a position off the globe, a message without a sender) gets a polite answer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import TypeGuard

from pydantic import BaseModel, ConfigDict, Field
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import ContextTypes

from bot.engine.kb.models import KnowledgeBase
from bot.engine.numbers.countries import find_country
from bot.engine.numbers.geo import country_at
from bot.engine.numbers.table import CountryNumbers, EmergencyTable, lookup
from bot.engine.primitives import localize
from bot.engine.questionnaire.machine import Result
from bot.render.numbers import format_coordinates
from bot.render.questionnaire import apology_text, country_text, location_text, shows_local_number
from bot.store.base import SessionKey, SessionStore
from bot.telegram.delivery import origin
from bot.telegram.state import ledger
from bot.telegram.state.ledger import Verdict
from bot.telegram.state.preferences import Preferences
from bot.telegram.state.records import Records
from bot.telegram.ui.callbacks import decode_country, encode_country
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
PROMPT = "ctry"
"""Scope of the prompt record."""
FORMAT = 2
"""2 added `is_open` and `updates`; a format 1 record (`{"format":1}`) is an open prompt."""
PICKER = ("NO", "SE", "DK", "FI", "GB", "DE", "FR", "ES", "IT", "CH", "AT", "US", "CA", "NP", "PE")
"""The countries offered as buttons: where CrampCheck's hikers and athletes most often are."""
PER_ROW = 3
Chosen = Callable[[Bot, SessionKey, CountryNumbers, str], Awaitable[bool]]
"""Called when a country is chosen (bot, key, the country, language); True when it has sent a
reply that names the country's numbers, which then stands for the confirmation."""


class PromptRecord(BaseModel):
    """The `ctry` record: whether the prompt is open, and the ids of the updates applied to it.

    Nothing about the user. A closed record is kept only for its ledger, so that a redelivered
    update that closed the prompt is still recognised; with no update id to keep, it is deleted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    is_open: bool = True
    updates: tuple[int, ...] = ()


class CountryHandlers:
    """/country, the country buttons, shared locations and typed country names."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        table: EmergencyTable,
        preferences: Preferences,
        outbox: Outbox,
        *,
        chosen: Chosen | None = None,
    ) -> None:
        self.kb = kb
        self.store = store
        self.records = Records(store, PromptRecord, "country prompt")
        self.table = table
        self.preferences = preferences
        self.outbox = outbox
        """Where replies go: sent in turn, without holding the chat's next update back."""
        self.chosen = chosen
        """Told of every country chosen: the trip card (features/card.py, via registry.py)."""

    async def on_country(self, update: Update, context: Context) -> None:
        """Open the prompt, then offer "Share location" and the picker.

        `Features` has judged the update against the prompts' ledgers before calling this.
        """
        key, language = origin.key(update), await self.preferences.language(update)
        await self.ask(context.bot, key, language)

    async def ask(
        self,
        bot: Bot,
        key: SessionKey,
        language: str,
        *,
        share_key: str = "country_share",
        prompt_key: str = "country_prompt",
        first: InlineKeyboardButton | None = None,
    ) -> None:
        """Open the prompt, then offer "Share location" and the picker (`first` on top).

        /country asks with its own texts; /card asks where the trip goes (features/card.py).
        """
        await self._open(key)
        await self.offer_share(bot, key.chat_id, language, text_key=share_key)
        markup = picker_markup(self.table, language)
        if first is not None:
            markup = InlineKeyboardMarkup([[first], *markup.inline_keyboard])
        self.outbox.send(bot, key.chat_id, self.kb.text(prompt_key, language), reply_markup=markup)

    async def on_location(self, update: Update, context: Context) -> None:
        """Reply with the country's numbers and the position to read out; keep only the code."""
        message = update.effective_message
        location = None if message is None else message.location
        if location is None or update.effective_user is None:  # the Bot API promises both
            language = self.preferences.from_telegram(update)
            self.outbox.reply(update, apology_text(self.kb, language, has_session=False))
            return
        key, language = origin.key(update), await self.preferences.language(update)
        _, applied = await self.status(key)
        if ledger.verdict(applied) is not Verdict.NEW:
            return
        position = _position(location.latitude, location.longitude)
        if position is None:  # off the globe: Telegram never sends one
            logger.info("location in %s: not a position", key.render())
            await self._ask(context.bot, key, self.kb.text("country_unknown", language), language)
            return
        coordinates, code = position
        entry = None if code is None else lookup(self.table, code)
        logger.info("location in %s: country %s", key.render(), "found" if entry else "unknown")
        text = location_text(self.kb, entry, coordinates=coordinates, language=language)
        if entry is None:
            await self._ask(context.bot, key, text, language)
            return
        await self._choose(key, entry)
        self.outbox.send(context.bot, key.chat_id, text, reply_markup=ReplyKeyboardRemove())
        await self._tell_chosen(context.bot, key, entry, language)

    async def on_choice(self, update: Update, context: Context) -> None:
        """Remember the country of a picker button and show its numbers."""
        query = await origin.private_query(update)
        if query is None:
            return
        key = origin.key(update)
        _, applied = await self.status(key)
        if not await ledger.admits_press(query, applied):
            return
        await query.answer()
        try:
            entry = lookup(self.table, decode_country(query.data))
        except ValueError:
            entry = None
        if entry is None:  # forged, or a country dropped from the table since
            return
        await self._choose(key, entry)
        pressed = origin.pressed_id(query)
        if pressed is not None:
            self.outbox.retire(context.bot, chat_id=key.chat_id, message_id=pressed)
        await self._confirm(context.bot, key, entry, await self.preferences.language(update))

    # --- the open prompt (see registry.py) ------------------------------------------------------

    async def status(self, key: SessionKey) -> tuple[bool, tuple[int, ...]]:
        """Return whether the prompt is open, and the ids of the updates applied to what it
        writes: its own record, and the profile (which takes a chosen country first)."""
        stored = await self.records.load(_prompt_key(key))
        profile = await self.preferences.applied(key.user_id)
        is_open = stored.record is not None and stored.record.is_open
        return is_open, stored.applied + profile

    async def take_text(self, update: Update, context: Context, text: str) -> None:
        """Read a typed country name or code; an unknown one gets the picker again."""
        key, language = origin.key(update), await self.preferences.language(update)
        entry = find_country(self.table, text)
        if entry is None:
            await self._ask(
                context.bot, key, self.kb.text("country_not_found", language), language
            )
            return
        await self._choose(key, entry)
        await self._confirm(context.bot, key, entry, language)

    async def reask(self, update: Update, context: Context) -> None:
        """Show the picker again; the prompt's record takes the update's id first."""
        key, language = origin.key(update), await self.preferences.language(update)
        await self._ask(context.bot, key, self.kb.text("country_prompt", language), language)

    @staticmethod
    def record_key(key: SessionKey) -> SessionKey:
        """Return where the chat's country prompt is kept."""
        return _prompt_key(key)

    async def stop(self, key: SessionKey) -> bool:
        """Close the prompt; return whether it was open."""
        stored = await self.records.load(_prompt_key(key))
        if stored.revision == 0 or (stored.record is not None and not stored.record.is_open):
            return False
        # Kept for its ledger; deleted without an id to keep, or when written meanwhile.
        await self.records.close(_prompt_key(key), PromptRecord(is_open=False), over=stored)
        return True

    # --- results --------------------------------------------------------------------------------

    async def local_numbers(self, user_id: int) -> CountryNumbers | None:
        """Return the numbers of the user's country, if they set one."""
        code = await self.preferences.country(user_id)
        return None if code is None else lookup(self.table, code)

    async def offer_location(
        self, bot: Bot, key: SessionKey, result: Result, language: str
    ) -> bool:
        """With an urgent or emergency result, offer "Share location" (a reply button) just
        above it; return whether the offer was sent."""
        if not shows_local_number(result):
            return False
        await self.offer_share(bot, key.chat_id, language, text_key="location_offer")
        return True

    async def offer_share(self, bot: Bot, chat_id: int, language: str, *, text_key: str) -> None:
        button = KeyboardButton(self.kb.text("location_button", language), request_location=True)
        markup = ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)
        self.outbox.send(bot, chat_id, self.kb.text(text_key, language), reply_markup=markup)

    # --- internals ------------------------------------------------------------------------------

    async def _confirm(
        self, bot: Bot, key: SessionKey, entry: CountryNumbers, language: str
    ) -> None:
        if await self._tell_chosen(bot, key, entry, language):
            return  # the trip card answered, with the country's numbers
        text = country_text(self.kb, entry, language)
        self.outbox.send(bot, key.chat_id, text, reply_markup=ReplyKeyboardRemove())

    async def _tell_chosen(
        self, bot: Bot, key: SessionKey, entry: CountryNumbers, language: str
    ) -> bool:
        return self.chosen is not None and await self.chosen(bot, key, entry, language)

    async def _choose(self, key: SessionKey, entry: CountryNumbers) -> None:
        """Keep the country (the profile takes the update's id), then close the prompt."""
        await self.preferences.set_country(key.user_id, entry.code)
        await self.stop(key)
        logger.info("country set for user %d", key.user_id)

    async def _ask(self, bot: Bot, key: SessionKey, text: str, language: str) -> None:
        """Open the prompt (or keep it open), then send `text` with the picker."""
        await self._open(key)
        await self._picker(bot, key.chat_id, text, language)

    async def _open(self, key: SessionKey) -> None:
        """Write the prompt as open, with the id of the update being processed."""
        stored = await self.records.load(_prompt_key(key))
        if await self.records.save(_prompt_key(key), PromptRecord(), over=stored) is None:
            logger.info("country prompt in %s opened twice at once", key.render())

    async def _picker(self, bot: Bot, chat_id: int, text: str, language: str) -> None:
        self.outbox.send(bot, chat_id, text, reply_markup=picker_markup(self.table, language))


def picker_markup(table: EmergencyTable, language: str) -> InlineKeyboardMarkup:
    """Return the likely countries as buttons, named in `language`, three to a row."""
    entries = [entry for code in PICKER if (entry := lookup(table, code)) is not None]
    buttons = [
        InlineKeyboardButton(
            localize(entry.name, language), callback_data=encode_country(entry.code)
        )
        for entry in entries
    ]
    return InlineKeyboardMarkup(
        [buttons[i : i + PER_ROW] for i in range(0, len(buttons), PER_ROW)]
    )


def _position(lat: object, lon: object) -> tuple[str, str | None] | None:
    """Return the position to read out and the country code there (None at sea), or None for
    anything but a point on the globe: the original message would hold it, so it is not logged."""
    if not (_is_within(lat, 90.0) and _is_within(lon, 180.0)):
        return None
    try:
        return format_coordinates(lat=lat, lon=lon), country_at(lat=lat, lon=lon)
    except ValueError:  # bot.engine.numbers.geo's own limits: no position to speak of
        return None


def _is_within(value: object, limit: float) -> TypeGuard[float]:
    """Tell whether `value` is a finite number from -limit to limit (a bool is not one)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and -limit <= value <= limit
    )


def _prompt_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=PROMPT)
