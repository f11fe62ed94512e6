"""/card: the trip card in the chat, where Telegram keeps it readable with no signal.

/card (also `/start card`, the deep link `t.me/<bot>?start=card`, and the 🧭 button `t:o` under
the welcome and every result) asks where the trip goes through the /country prompt
(`CountryHandlers.ask`): share a location, pick a country, type one, or keep the known one (a
`g:<CC>` button on top). When the country is chosen, the country feature tells `after_country`,
which sends the card (`bot.engine.card` picks what goes on it, `bot.render.card` words it) and
offers to pin it (`t:p:<id>` /
`t:n:<id>`). A card already in the chat is edited in place instead, by /card and by any new
country, so a pinned card stays the one pinned. /forget deletes the card's message
(`forget`), because its drinking line may hold the plan's numbers.

Records: `CardRecord` under the `card` scope (the card's message id, whether it is pinned,
whether /card is waiting for a country, and the ledger of the updates applied to it), and the
last /sweat plan's result (`TripPlan`) under the `plan` scope, written when the plan is shown
(`keep_plan`). Both outlive the store's idle TTL (`bot.store.base.LIFETIMES`): the plan 31 days
(the card shows it for 30), the card's record a year, so that /card and /forget still find the
card weeks later.

Every send, edit, pin and delete goes through the chat's outbox and waits for the chat's turn
there, so that pacing holds and an urgent result goes first. Each write carries the id of the
update being processed (`state/ledger.py`, through `state/records.py`): a redelivered press
changes and sends nothing. A pin
button of a card replaced or deleted since, or forged data, gets a polite answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict, Field
from telegram import Bot, InlineKeyboardButton, ReplyKeyboardRemove, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.engine.card import TripPlan, trip_plan
from bot.engine.kb.models import KnowledgeBase
from bot.engine.numbers.table import CountryNumbers, EmergencyTable
from bot.engine.primitives import localize
from bot.engine.sweat.flow import SweatDone
from bot.render.card import card_text
from bot.store.base import CARD, PLAN, SessionKey, SessionStore
from bot.telegram.delivery import origin
from bot.telegram.features.country import CountryHandlers
from bot.telegram.state import ledger
from bot.telegram.state.preferences import Preferences
from bot.telegram.state.records import Records, Stored
from bot.telegram.ui import messages
from bot.telegram.ui.callbacks import decode_card, encode_country
from bot.telegram.ui.keyboards import pin_markup
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
FORMAT = 1
WRITE_TRIES = 3
"""Compare-and-set rounds for a write to the card's record."""
MISSING = (
    "message to pin not found",
    "message to delete not found",
    "message to edit not found",
    "message_id_invalid",
)
"""What Telegram says when the card's message is gone (the user deleted it)."""


class CardRecord(BaseModel):
    """The `card` record of one chat: the card's message and what /card is doing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    message_id: int | None = None
    """The card's message, edited in place by /card and by a new country."""
    is_pinned: bool = False
    is_wanted: bool = False
    """/card asked where the trip goes: the next country chosen brings the card."""
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """The country the card shows: choosing it again changes nothing on the card."""
    updates: tuple[int, ...] = ()
    """Ids of the last Telegram updates applied to this record (`ledger.py`)."""


class PlanRecord(BaseModel):
    """The `plan` record: what the card shows of the last /sweat plan (never the weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    plan: TripPlan
    updates: tuple[int, ...] = ()
    """Ids of the last Telegram updates that wrote it (`state/records.py` stamps every record)."""


StoredCard = Stored[CardRecord]


def today_utc() -> date:
    return datetime.now(UTC).date()


class CardHandlers:
    """/card, its buttons, the card's message, and the plan it shows."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        table: EmergencyTable,
        preferences: Preferences,
        outbox: Outbox,
        *,
        country: CountryHandlers,
        stop_sweat: Callable[[SessionKey], Awaitable[object]],
        today: Callable[[], date] = today_utc,
    ) -> None:
        self.kb = kb
        self.store = store
        self.records = Records(store, CardRecord, "trip card")
        self.plans = Records(store, PlanRecord, "trip plan")
        self.table = table
        self.preferences = preferences
        self.outbox = outbox
        self.country = country
        """Asks where the trip goes, and tells `after_country` what was chosen."""
        self.stop_sweat = stop_sweat
        """Closes an open /sweat: the country prompt takes typed text from now on."""
        self.today = today

    # --- asking where the trip goes -------------------------------------------------------------

    async def on_card(self, update: Update, context: Context) -> None:
        """Ask where the trip goes: share a location, pick or type a country, or keep the known
        one. `Features` has judged the update against the records' ledgers."""
        key, language = origin.key(update), await self.preferences.language(update)
        await self.stop_sweat(key)
        await self._write(key, lambda record: record.model_copy(update={"is_wanted": True}))
        known = await self.country.local_numbers(key.user_id)
        keep = None
        if known is not None:
            label = self.kb.text("trip_card_keep", language)
            name = localize(known.name, language)
            keep = InlineKeyboardButton(
                label.format(country=name), callback_data=encode_country(known.code)
            )
        logger.info("trip card asked in %s", key.render())
        await self.country.ask(
            context.bot,
            key,
            language,
            share_key="trip_card_where",
            prompt_key="trip_card_pick",
            first=keep,
        )

    async def on_button(self, update: Update, context: Context) -> None:
        """🧭 opens /card; Pin it and Not now answer the pin offer of the card they name."""
        query = await origin.private_query(update)
        if query is None:
            return
        key = origin.key(update)
        stored = await self._load(key)
        if not await ledger.admits_press(query, stored.applied):
            return
        language = await self.preferences.language(update)
        stale = self.kb.text("trip_card_stale", language)
        try:
            action, message_id = decode_card(query.data)
        except ValueError:  # forged, or from a version that spelled it otherwise
            await query.answer(stale)
            return
        if action == "open":
            await query.answer()
            is_asking, _ = await self.country.status(key)
            if stored.record is not None and stored.record.is_wanted and is_asking:
                return  # a second tap: the question is in the chat already
            await self.on_card(update, context)
            return
        record = stored.record
        if message_id is None or record is None or record.message_id != message_id:
            logger.info("stale trip-card button in %s", key.render())
            await query.answer(stale)
            return
        await query.answer()
        pressed = origin.pressed_id(query)
        if action == "pin":
            await self._write(key, lambda current: current.model_copy(update={"is_pinned": True}))
            self._pin(context.bot, key, message_id, pressed=pressed, language=language)
            return
        await self._write(key, lambda current: current)  # records the press (its ledger)
        self._note(
            context.bot, key.chat_id, pressed, self.kb.text("trip_card_not_pinned", language)
        )

    async def applied(self, key: SessionKey) -> tuple[int, ...]:
        """Return the ids of the updates applied to the card's record (`ledger.verdict`)."""
        return (await self._load(key)).applied

    @staticmethod
    def record_key(key: SessionKey) -> SessionKey:
        """Return where the chat's trip card is kept."""
        return _card_key(key)

    async def stop(self, key: SessionKey) -> bool:
        """Stop waiting for a country (/cancel, /start); return whether /card was waiting."""
        stored = await self._load(key)
        if stored.record is None or not stored.record.is_wanted:
            return False
        await self._write(key, lambda record: record.model_copy(update={"is_wanted": False}))
        return True

    # --- the card --------------------------------------------------------------------------------

    async def after_country(
        self, bot: Bot, key: SessionKey, entry: CountryNumbers, language: str
    ) -> bool:
        """Send the card /card asked for, or bring a card already in the chat to this country;
        return whether it did (the card then stands for the country's confirmation)."""
        stored = await self._load(key)
        record = stored.record
        if record is None or not (record.is_wanted or record.message_id is not None):
            return False
        if not record.is_wanted and record.country == entry.code:
            return False  # the card shows this country already: only the confirmation
        await self._write(
            key,
            lambda current: current.model_copy(update={"is_wanted": False, "country": entry.code}),
        )
        text = await self._card_text(key, entry, language)
        logger.info("trip card for %s in %s", entry.code, key.render())
        self._show(bot, key, text, entry, language)
        return True

    async def _card_text(
        self, key: SessionKey, entry: CountryNumbers | None, language: str
    ) -> str:
        """Return the card for a trip to `entry`, with the user's plan if it is recent."""
        plan = await self._plan(key)
        return card_text(
            self.kb,
            language,
            country=entry,
            checked=self.table.checked,
            plan=plan,
            today=self.today(),
        )

    async def keep_plan(self, key: SessionKey, done: SweatDone) -> None:
        """Keep what the card shows of a plan just made (/sweat), replacing an older one."""
        record = PlanRecord(plan=trip_plan(done, self.today()))
        await self.plans.change(_plan_key(key), lambda _: record, tries=WRITE_TRIES)

    async def forget(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Delete the card's message before /forget erases its record (the text may hold the
        plan's numbers); a card too old to delete is blanked and unpinned instead."""
        stored = await self._load(key)
        message_id = None if stored.record is None else stored.record.message_id
        if message_id is None:
            return
        text = self.kb.text("trip_card_deleted", language)
        chat_id = key.chat_id

        async def delete() -> None:
            await self.outbox.take_turn(chat_id, is_new_message=False)
            try:
                await bot.delete_message(chat_id, message_id)
            except BadRequest as error:
                if _is_missing(error):
                    return
                logger.info("trip card %d in chat %d: not deleted, blanked", message_id, chat_id)
                await messages.edit_text(
                    bot, chat_id=chat_id, message_id=message_id, text=text, markup=None
                )
                await bot.unpin_chat_message(chat_id, message_id)

        logger.info("trip card of %s deleted by /forget", key.render())
        self.outbox.post(chat_id, delete)

    # --- sending ---------------------------------------------------------------------------------

    def _show(
        self, bot: Bot, key: SessionKey, text: str, entry: CountryNumbers, language: str
    ) -> None:
        """Send the card, or edit the card in the chat to `text`; then offer to pin it, or say
        that the card is updated. The card's message id is read when the job runs, so that two
        changes in a row edit one card."""
        chat_id = key.chat_id

        async def show() -> None:
            # Only this chat's jobs, one at a time, change the card's message id: read it
            # first, so that the turn taken is the call's own (a new message or an edit), and
            # nothing waits between the turn and the call (an urgent result may go first).
            stored = await self._load(key)
            old = None if stored.record is None else stored.record.message_id
            await self.outbox.take_turn(chat_id, is_new_message=old is None)
            if old is None:  # a new card takes the "Share location" keyboard away
                sent = await bot.send_message(chat_id, text, reply_markup=ReplyKeyboardRemove())
                shown = sent.message_id
            else:
                shown = await messages.edit_or_send(
                    bot, chat_id=chat_id, message_id=old, text=text, markup=None
                )
            record = await self._shown(key, shown, is_new=shown != old)
            country = localize(entry.name, language)
            if shown != old:
                note = self.kb.text("trip_card_pin_offer", language)
            else:
                note = self.kb.text("trip_card_updated", language).format(country=country)
            markup = None if record.is_pinned else pin_markup(self.kb, language, shown)
            self.outbox.send(bot, chat_id, note, reply_markup=markup or ReplyKeyboardRemove())

        self.outbox.post(chat_id, show)

    def _pin(
        self, bot: Bot, key: SessionKey, message_id: int, *, pressed: int | None, language: str
    ) -> None:
        """Pin the card, quietly, then turn the offer into "Pinned" (or "the card is gone")."""
        chat_id = key.chat_id

        async def pin() -> None:
            await self.outbox.take_turn(chat_id, is_new_message=False)
            try:
                await bot.pin_chat_message(chat_id, message_id, disable_notification=True)
            except BadRequest as error:
                if not _is_missing(error):
                    raise
                logger.info("trip card %d in chat %d is gone: not pinned", message_id, chat_id)
                await self._shown(key, None, is_new=True)
                text = self.kb.text("trip_card_gone", language)
            else:
                text = self.kb.text("trip_card_pinned", language)
            await self._edit_note(bot, chat_id, pressed, text)

        self.outbox.post(chat_id, pin)

    def _note(self, bot: Bot, chat_id: int, pressed: int | None, text: str) -> None:
        """Turn the pin offer `pressed` into `text` (or send `text`), in turn."""

        async def note() -> None:
            await self.outbox.take_turn(chat_id, is_new_message=pressed is None)
            await self._edit_note(bot, chat_id, pressed, text)

        self.outbox.post(chat_id, note)

    @staticmethod
    async def _edit_note(bot: Bot, chat_id: int, pressed: int | None, text: str) -> None:
        if pressed is None:
            await messages.send_text(bot, chat_id=chat_id, text=text, markup=None)
        else:
            await messages.edit_or_send(
                bot, chat_id=chat_id, message_id=pressed, text=text, markup=None
            )

    # --- records ---------------------------------------------------------------------------------

    async def _shown(self, key: SessionKey, message_id: int | None, *, is_new: bool) -> CardRecord:
        """Record the card's message (None: gone); a new message is not pinned yet."""

        def change(record: CardRecord) -> CardRecord:
            pinned = record.is_pinned and not is_new
            return record.model_copy(update={"message_id": message_id, "is_pinned": pinned})

        return await self._write(key, change)

    async def _write(
        self, key: SessionKey, change: Callable[[CardRecord], CardRecord]
    ) -> CardRecord:
        """Apply `change` to the record and stamp the update being processed; retry lost races."""
        return await self.records.change(
            _card_key(key), lambda current: change(current or CardRecord()), tries=WRITE_TRIES
        )

    async def _load(self, key: SessionKey) -> StoredCard:
        return await self.records.load(_card_key(key))

    async def _plan(self, key: SessionKey) -> TripPlan | None:
        found = (await self.plans.load(_plan_key(key))).record
        return None if found is None else found.plan


def _is_missing(error: BadRequest) -> bool:
    """Tell whether the card's message is gone (deleted by the user), not merely too old."""
    message = error.message.lower()
    return any(phrase in message for phrase in MISSING)


def _card_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=CARD)


def _plan_key(key: SessionKey) -> SessionKey:
    return SessionKey(key.chat_id, key.user_id, scope=PLAN)
