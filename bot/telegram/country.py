"""/country and shared locations: the user's country, for the right emergency number, offline.

Owns the country picker (inline buttons `g:<CC>`), the "Share location" reply button (offered by
/country and after every urgent or emergency result), the reply to a shared location, and the
open country prompt. A shared location becomes a country code through `bot.geo.country_at`, with
no network; its coordinates go into that one reply and are dropped: never stored, never logged.
Only the ISO code is kept, in the user's profile (`Preferences.set_country`). While a prompt is
open, an empty marker record under the `ctry` scope lets typed text reach the picker; choosing a
country, /cancel, /start or /sweat removes it, and so does the store's idle TTL.
"""

from __future__ import annotations

import logging

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

from bot.engine.countries import find_country
from bot.engine.errors import ConflictError
from bot.engine.machine import Result
from bot.engine.models import KnowledgeBase
from bot.engine.numbers import CountryNumbers, EmergencyTable, format_coordinates, lookup
from bot.engine.primitives import localize
from bot.geo import country_at
from bot.render import country_text, location_text, shows_local_number
from bot.store.base import SessionKey, SessionStore
from bot.telegram import errors, updates
from bot.telegram.callbacks import decode_country, encode_country
from bot.telegram.preferences import Preferences

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
PROMPT = "ctry"
"""Scope of the open-prompt marker."""
MARKER = '{"format":1}'
"""The marker's whole content: that a prompt is open, nothing about the user."""
PICKER = ("NO", "SE", "DK", "FI", "GB", "DE", "FR", "ES", "IT", "CH", "AT", "US", "CA", "NP", "PE")
"""The countries offered as buttons: where CrampCheck's hikers and athletes most often are."""
PER_ROW = 3


class CountryHandlers:
    """/country, the country buttons, shared locations and typed country names."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        table: EmergencyTable,
        preferences: Preferences,
    ) -> None:
        self.kb = kb
        self.store = store
        self.table = table
        self.preferences = preferences

    async def on_country(self, update: Update, context: Context) -> None:
        """Offer "Share location", then the picker; typed text now reaches the picker."""
        key, language = updates.key(update), await self.preferences.language(update)
        await self.offer_share(context.bot, key.chat_id, language, text_key="country_share")
        await self._open(key)
        prompt = self.kb.text("country_prompt", language)
        await self._picker(context.bot, key.chat_id, prompt, language)

    async def on_location(self, update: Update, context: Context) -> None:
        """Reply with the country's numbers and the position to read out; keep only the code."""
        message = update.effective_message
        if message is None or message.location is None:
            raise ValueError(f"update {update.update_id} has no location")
        key, language = updates.key(update), await self.preferences.language(update)
        coordinates, code = _position(message.location.latitude, message.location.longitude)
        entry = None if code is None else lookup(self.table, code)
        logger.info("location in %s: country %s", key.render(), "found" if entry else "unknown")
        text = location_text(self.kb, entry, coordinates=coordinates, language=language)
        if entry is None:
            await self._open(key)
            await self._picker(context.bot, key.chat_id, text, language)
            return
        await self._choose(key, entry)
        await context.bot.send_message(key.chat_id, text, reply_markup=ReplyKeyboardRemove())

    async def on_choice(self, update: Update, context: Context) -> None:
        """Remember the country of a picker button and show its numbers."""
        query = await updates.private_query(update)
        if query is None:
            return
        await query.answer()
        try:
            entry = lookup(self.table, decode_country(query.data))
        except ValueError:
            entry = None
        if entry is None:  # forged, or a country dropped from the table since
            return
        key = updates.key(update)
        pressed = updates.pressed_id(query)
        if pressed is not None:
            await errors.retire_keyboard(context.bot, chat_id=key.chat_id, message_id=pressed)
        await self._confirm(context.bot, key, entry, await self.preferences.language(update))

    # --- the open prompt (see features.py) ------------------------------------------------------

    async def is_open(self, key: SessionKey) -> bool:
        return await self.store.get(_prompt_key(key)) is not None

    async def take_text(self, update: Update, context: Context, text: str) -> None:
        """Read a typed country name or code; an unknown one gets the picker again."""
        key, language = updates.key(update), await self.preferences.language(update)
        entry = find_country(self.table, text)
        if entry is None:
            text = self.kb.text("country_not_found", language)
            await self._picker(context.bot, key.chat_id, text, language)
            return
        await self._confirm(context.bot, key, entry, language)

    async def reask(self, update: Update, context: Context) -> None:
        chat_id, language = updates.key(update).chat_id, await self.preferences.language(update)
        await self._picker(
            context.bot, chat_id, self.kb.text("country_prompt", language), language
        )

    async def stop(self, key: SessionKey) -> bool:
        return await self.store.delete(_prompt_key(key))

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
        await bot.send_message(chat_id, self.kb.text(text_key, language), reply_markup=markup)

    # --- internals ------------------------------------------------------------------------------

    async def _confirm(
        self, bot: Bot, key: SessionKey, entry: CountryNumbers, language: str
    ) -> None:
        await self._choose(key, entry)
        text = country_text(self.kb, entry, language)
        await bot.send_message(key.chat_id, text, reply_markup=ReplyKeyboardRemove())

    async def _choose(self, key: SessionKey, entry: CountryNumbers) -> None:
        await self.preferences.set_country(key.user_id, entry.code)
        await self.stop(key)
        logger.info("country set for user %d", key.user_id)

    async def _open(self, key: SessionKey) -> None:
        record = await self.store.get(_prompt_key(key))
        try:
            await self.store.put(
                _prompt_key(key), MARKER, expected_revision=record.revision if record else 0
            )
        except ConflictError:
            logger.info("country prompt in %s opened twice at once", key.render())

    async def _picker(self, bot: Bot, chat_id: int, text: str, language: str) -> None:
        await bot.send_message(chat_id, text, reply_markup=picker_markup(self.table, language))


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


def _position(lat: float, lon: float) -> tuple[str, str | None]:
    """Return the position to read out and the country code there (None at sea)."""
    try:
        return format_coordinates(lat=lat, lon=lon), country_at(lat=lat, lon=lon)
    except ValueError:
        # Telegram never sends this; the original message would hold the position, never logged.
        raise ValueError("shared location out of range") from None


def _prompt_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=PROMPT)
