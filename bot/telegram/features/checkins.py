"""Follow-up check-ins: booking one from a result, sending it when due, and acting on the answer.

Pressing "Check on me ..." under the live result stores a `CheckIn` record (scope `chk`, next to
the chat's questionnaire) and a schedule in the session store, so both survive a restart; /cancel
and /forget remove them. `CheckinScheduler` runs in the background (started in `post_init`,
stopped in `post_shutdown`) and every `interval` seconds sends the check-ins its clock says are
due. It claims each one with `unschedule` before sending, so when several bot processes share a
store exactly one sends it. A network failure puts the check-in back a minute later; a user who
blocked the bot (Forbidden) or a chat that is gone loses it, and only its key is logged.
What to offer, when it falls due and what an answer means are engine decisions
(`bot.engine.checkins`); this module stores, sends and routes.

At most once (`ledger.py`): a booking writes the press's id into the check-in record, so a
redelivered press books and sends nothing; an answer's id goes in the profile after its note (a
safety net is better sent twice than lost), or in the conversation with the red-flag rerun.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import BaseModel, ConfigDict, Field
from telegram import Bot, CallbackQuery, Update
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot.engine import checkins
from bot.engine.checkins import Offer
from bot.engine.errors import SessionOutdated
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import LevelCode
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Result
from bot.render.questionnaire import checkin_reply_text
from bot.store.base import CHECKIN, SessionKey, SessionStore
from bot.telegram.delivery import origin
from bot.telegram.features.questionnaire.keeper import ConversationKeeper
from bot.telegram.state import ledger
from bot.telegram.state.conversation import StoredConversation
from bot.telegram.state.preferences import Preferences
from bot.telegram.state.records import Records
from bot.telegram.ui import messages
from bot.telegram.ui.callbacks import decode_offer, decode_reply
from bot.telegram.ui.keyboards import checkin_markup

logger = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
FORMAT = 2
"""2 added `updates`: the ids of the last updates that booked it (`ledger.py`)."""
INTERVAL_SECONDS = 5.0
"""How often the scheduler looks for due keys: check-ins, and urgent results a kill left owed."""
RETRY_SECONDS = 60.0
"""How long a check-in waits after a network failure before it is tried again."""


class CheckIn(BaseModel):
    """One booked check-in, as stored: which result it follows, when, in which language."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    offer: Offer
    level: LevelCode
    """The triage level of the result it follows."""
    revision: int = Field(ge=0)
    """The session revision of that result."""
    language: str
    due_at: float
    updates: tuple[int, ...] = ()


def checkin_key(key: SessionKey) -> SessionKey:
    """Return where the check-in of the chat and user of `key` is kept."""
    return SessionKey(chat_id=key.chat_id, user_id=key.user_id, scope=CHECKIN)


async def cancel_checkin(store: SessionStore, key: SessionKey) -> bool:
    """Remove the chat's check-in and its schedule (for /cancel); return whether one was due."""
    target = checkin_key(key)
    is_scheduled = await store.unschedule(target)
    await store.delete(target)
    return is_scheduled


class CheckinScheduler:
    """Book check-ins and send them when due; `run_due` is the one step, the loop repeats it."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        *,
        clock: Callable[[], float] = time.time,
        interval: float = INTERVAL_SECONDS,
        batch: int = 100,
    ) -> None:
        self.kb = kb
        self.store = store
        self.records = Records(store, CheckIn, "check-in")
        self.clock = clock
        self.interval = interval
        self.batch = batch
        self._bot: Bot | None = None
        self._task: asyncio.Task[None] | None = None
        self._acts: dict[str, Callable[[Bot, SessionKey], None]] = {}
        """Scope -> what to do when a key of another feature falls due (`on_due`)."""
        self._at_start: list[Callable[[Bot], Awaitable[object]]] = []
        """What to do once when the scheduler starts (`on_start`)."""

    async def book(
        self, key: SessionKey, *, offer: Offer, result: Result, language: str
    ) -> CheckIn:
        """Store the check-in and its schedule, replacing the chat's earlier one; the record,
        holding the booking update's id (so a redelivery books nothing), goes last."""
        target = checkin_key(key)
        checkin = CheckIn(
            offer=offer,
            level=result.level.code,
            revision=result.revision,
            language=language,
            due_at=checkins.due_at(offer, now=self.clock()),
        )
        await self.store.schedule(target, checkin.due_at)
        # A double tap may write in between: the second write wins (one reload, then it fails).
        booked = await self.records.change(target, lambda _: checkin)
        logger.info("check-in %s booked (%s)", target.render(), offer)
        return booked

    async def wake(self, key: SessionKey, after: float) -> None:
        """Have `key` acted on `after` seconds from now (`on_due`), by whichever process polls
        first: a schedule in the store, so it outlives a kill of this one."""
        await self.store.schedule(key, self.clock() + after)

    def on_due(self, scope: str, act: Callable[[Bot, SessionKey], None]) -> None:
        """Call `act` for each key of `scope` that falls due (`wake`), once: claimed first."""
        if scope == CHECKIN:
            raise ValueError("check-ins are this scheduler's own")
        self._acts[scope] = act

    def on_start(self, act: Callable[[Bot], Awaitable[object]]) -> None:
        """Have `act` run once in the scheduler's task when it starts, before the first round:
        what a killed process left owed without a wake-up (an ordinary screen) goes out then."""
        self._at_start.append(act)

    async def applied(self, key: SessionKey) -> tuple[int, ...]:
        """Return the ids of the updates that booked the chat's check-in (`ledger.verdict`)."""
        return (await self.records.load(checkin_key(key))).applied

    def start(self, bot: Bot) -> None:
        """Send due check-ins through `bot` every `interval` seconds, in a background task."""
        if self._task is not None:
            raise RuntimeError("the check-in scheduler is already running")
        self._bot = bot
        self._task = asyncio.create_task(self._loop(), name="crampcheck-checkins")

    async def stop(self) -> None:
        """Stop the background task; check-ins not yet sent stay in the store."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def run_due(self, *, now: float | None = None) -> int:
        """Send every check-in due by `now` (default: the clock); return how many went out."""
        if self._bot is None:
            raise RuntimeError("start the check-in scheduler before running it")
        moment = self.clock() if now is None else now
        sent = 0
        for key, _ in await self.store.due(moment, limit=self.batch):
            act = self._acts.get(key.scope)
            # Claim first: of several processes on one store, only the one that unschedules acts.
            # A due key of a scope nobody acts on is dropped, so it cannot fill every batch.
            if not await self.store.unschedule(key):
                continue
            if key.scope == CHECKIN:
                sent += await self._send(self._bot, key, now=moment)
            elif act is not None:
                act(self._bot, key)
            else:
                logger.warning("a due %s key with nobody to act on it: dropped", key.scope)
        return sent

    async def _loop(self) -> None:
        assert self._bot is not None  # noqa: S101 - `start` set it
        for act in self._at_start:
            try:
                await act(self._bot)
            except Exception as error:  # a background boundary, as below: log, go on
                messages.log_failure(None, error)
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_due()
            except Exception as error:  # a background boundary, like the error handler: log, go on
                messages.log_failure(None, error)

    async def _send(self, bot: Bot, key: SessionKey, *, now: float) -> int:
        """Send one claimed check-in; return 1 if it went out, else 0."""
        checkin = (await self.records.load(key)).record
        language = checkin.language if checkin else self.kb.languages[0]  # the record expired
        text = self.kb.text("checkin_question", language)
        markup = checkin_markup(self.kb, language)
        try:
            await bot.send_message(key.chat_id, text, reply_markup=markup)
        except (NetworkError, RetryAfter) as error:
            # Put it back unless /cancel or /forget removed the record meanwhile.
            if checkin is None or await self.store.get(key) is not None:
                await self.store.schedule(key, now + RETRY_SECONDS)
            logger.warning(
                "check-in %s not sent (%s): retrying", key.render(), type(error).__name__
            )
            return 0
        except TelegramError as error:  # Forbidden (bot blocked), BadRequest (chat gone): drop it
            logger.info("check-in %s dropped: %s", key.render(), type(error).__name__)
            await self.store.delete(key)
            return 0
        await self.store.delete(key)
        logger.info("check-in %s sent", key.render())
        return 1


class CheckinHandlers:
    """The buttons of follow-up check-ins: the offers under a result and the check-in answers."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        scheduler: CheckinScheduler,
        conversations: ConversationKeeper,
    ) -> None:
        self.kb = kb
        self.scheduler = scheduler
        self.conversations = conversations
        self.preferences = Preferences(kb, store)

    async def on_offer(self, update: Update, context: Context) -> None:
        """Book the check-in a result's button offers; a stale or forged press books nothing."""
        query = await _press(update)
        if query is None:
            return
        key = origin.key(update)
        try:
            stored = await self.conversations.get(key)
            booked = await self.scheduler.applied(key)
        except BaseException:
            await query.answer()  # stop the spinner; the error handler apologises
            raise
        if not await ledger.admits_press(query, booked):
            return
        offered = self._offered(stored, query.data)
        conversation = stored.conversation
        language = (
            conversation.language if conversation else self.preferences.from_telegram(update)
        )
        if offered is None:
            await query.answer(self.kb.text("moved_on", language))
            return
        await query.answer()
        offer, result = offered
        await self.scheduler.book(key, offer=offer, result=result, language=language)
        text = self.kb.text(f"checkin_scheduled_{offer}", language)
        await context.bot.send_message(key.chat_id, text)

    async def on_reply(self, update: Update, context: Context) -> None:
        """Act on a check-in answer: the red-flag screen again, or a note with the safety net."""
        query = await _press(update)
        if query is None:
            return
        key = origin.key(update)
        if not await ledger.admits_press(query, await self.preferences.applied(key.user_id)):
            return
        await query.answer()
        language = await self.preferences.language(update)
        reply = decode_reply(query.data)  # the handler's pattern lets only valid data through
        message_id = origin.pressed_id(query)
        if message_id is not None:  # answered: one answer per check-in
            await messages.retire_keyboard(context.bot, chat_id=key.chat_id, message_id=message_id)
        logger.info("check-in answered in %s", key.render())  # the answer itself is health data
        if not checkins.needs_recheck(reply):
            text = checkin_reply_text(self.kb, reply, language)
            await context.bot.send_message(key.chat_id, text)
            await self.preferences.remember(key.user_id)
            return
        await context.bot.send_message(key.chat_id, self.kb.text("checkin_recheck", language))
        await self._recheck(context.bot, key, language)

    def _offered(self, stored: StoredConversation, data: object) -> tuple[Offer, Result] | None:
        """Return the offer and the live result it belongs to, or None for a stale press."""
        conversation = stored.conversation
        try:
            revision, offer = decode_offer(data)
            if conversation is None or conversation.session.rev != revision:
                return None
            step = machine.current_step(self.kb, conversation.session)
        except (ValueError, SessionOutdated):
            return None
        if not isinstance(step, Result) or offer not in checkins.offers(self.kb, step):
            return None
        return offer, step

    async def _recheck(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Start again at the red-flag screen; the live message and the ledger go on (`begin`)."""
        await self.conversations.begin(bot, key, language, start=checkins.recheck(self.kb))


async def _press(update: Update) -> CallbackQuery | None:
    """Return a press in a private chat with a sender (promised); answer and drop any other."""
    query = await origin.private_query(update)
    if query is not None and update.effective_user is None:
        await query.answer()
        return None
    return query
