"""`UpdateProcessor`: handle each update at least once and apply it at most once.

Polling and the webhook hand every update to `process`, which
1. takes the chat's lock (`bot/store/locks.py`), so one chat's updates never run side by side,
   in this process or, with Redis, in any other;
2. judges the update against the ids its conversation record has applied (`ledger.py`): a
   redelivered update changes nothing and sends nothing new; it only re-shows the current
   screen when the reply may have been lost (`on_redelivered`: a kill after the commit);
3. runs PTB's handlers with `ledger.current_update` set, so the record they write carries the id
   in the same compare-and-set as the change itself;
4. retries a passing failure (store or network down) a few times under the lock, and says
   whether the update may be confirmed to Telegram: `Outcome.RETRY` (still failing) means
   "deliver it again"; every other outcome, including a bug the error handler has apologised
   for, means "done", so that one poisonous update cannot block a chat for ever.
Handlers' exceptions never reach this module: PTB hands them to the error handlers, and
`_note_error`, registered as the first of them, records them for the update being processed
and stops the stamping, so that what the apology writes does not mark the update as applied.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from telegram import Bot, Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes

from bot.store.base import SessionKey, SessionStore
from bot.store.cached import CachingStore, update_scope
from bot.store.faults import TRANSIENT_STORE_ERRORS
from bot.store.locks import ChatLocks, LocalLocks
from bot.telegram.state import ledger
from bot.telegram.state.conversation import Conversation
from bot.telegram.state.ledger import Verdict
from bot.telegram.ui.callbacks import is_reply_only
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
RECENT = 4096
"""Update ids this process remembers as handled (redeliveries to the same process)."""
RedeliveryHook = Callable[[Bot, Update], Awaitable[None]]
"""Called for an update the conversation applied before (QuestionnaireHandlers.on_redelivered)."""
RESHOW_ERRORS: tuple[type[BaseException], ...] = (TelegramError, *TRANSIENT_STORE_ERRORS)
"""What may stop a screen from being shown again: not worth failing a redelivery for."""
REPLIES_WAIT = 10.0
"""Seconds the chat's lock waits at most for an update's plain replies (`is_ordering_replies`)."""
RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0)
"""Pauses between the attempts at an update that failed for a passing reason (about 4 s)."""


class Outcome(enum.Enum):
    """What became of one update."""

    DONE = "done"
    """Handled: its change is committed (or it needed none), or it failed for good."""
    DUPLICATE = "duplicate"
    """Applied before: skipped."""
    STALE = "stale"
    """Older than what its chat has applied: skipped (a button press is answered)."""
    RETRY = "retry"
    """Failed for a passing reason: deliver it again."""

    @property
    def is_settled(self) -> bool:
        """Tell whether the update may be confirmed to Telegram."""
        return self is not Outcome.RETRY


@dataclass
class _Attempt:
    update_id: int
    is_last: bool
    errors: list[Exception] = field(default_factory=list)


_attempt: ContextVar[_Attempt | None] = ContextVar("update_attempt", default=None)


def is_transient(error: BaseException) -> bool:
    """Tell whether `error` may pass by itself (network, flood wait, store), unlike a bug."""
    if isinstance(error, BadRequest):  # a NetworkError subclass, but the request itself is wrong
        return False
    return isinstance(error, (NetworkError, RetryAfter, *TRANSIENT_STORE_ERRORS))


def chat_name(update: Update) -> str | None:
    """Return the name of the lock that serialises `update`: its chat, else its user."""
    if update.effective_chat is not None:
        return f"chat:{update.effective_chat.id}"
    if update.effective_user is not None:
        return f"user:{update.effective_user.id}"
    return None


class UpdateProcessor:
    """Run updates through `application`, one chat at a time, skipping redeliveries.

    A passing failure is retried here, under the chat's lock, after `delays` (so the chat's
    later updates keep their order). Until the last attempt, the error handlers after ours are
    skipped: an apology would redraw the question and make the press being retried stale.
    """

    def __init__(
        self,
        application: AnyApplication,
        store: SessionStore,
        *,
        locks: ChatLocks | None = None,
        delays: Sequence[float] = RETRY_DELAYS,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        on_redelivered: RedeliveryHook | None = None,
        outbox: Outbox | None = None,
        is_ordering_replies: bool = False,
    ) -> None:
        self.application = application
        self.on_redelivered = on_redelivered
        self.outbox = outbox
        """The handlers' outbox (`is_ordering_replies`)."""
        self.is_ordering_replies = is_ordering_replies
        """Keep the chat's lock until the update's plain replies went out: with several webhook
        workers the chat's next update may go to another worker, whose replies must follow."""
        # The handlers read what the ledger's verdict read (bot/store/cached.py).
        self.store = store if isinstance(store, CachingStore) else CachingStore(store)
        self.locks = locks if locks is not None else LocalLocks()
        self.delays = tuple(delays)
        self._sleep = sleep
        self.counts: Counter[Outcome] = Counter()
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._failed: dict[int, Exception] = {}
        """The last passing error of an update being retried, by update id."""
        # First of the error handlers: once an update failed, the apology that follows may
        # write the record (to track the message it shows), and that must not mark the update
        # as applied. `error_handlers` is PTB's public, ordered dict of them.
        others = dict(application.error_handlers)
        application.error_handlers.clear()
        application.add_error_handler(self._note_error)
        application.error_handlers.update(others)

    async def process(self, update: Update) -> Outcome:
        """Handle `update` under its chat's lock; return what became of it."""
        name = chat_name(update)
        if name is None:
            outcome = await self._attempts(update)
        else:
            try:
                async with self.locks.hold(name):
                    outcome = await self._attempts(update)
                    await self._replies_sent(update)
            except TRANSIENT_STORE_ERRORS as error:  # the lock itself is unavailable
                logger.warning("update %d postponed: %s", update.update_id, type(error).__name__)
                outcome = Outcome.RETRY
        self._failed.pop(update.update_id, None)
        self.counts[outcome] += 1
        return outcome

    async def _replies_sent(self, update: Update) -> None:
        """Wait (bounded) for the update's plain replies, if they are kept in order across
        workers (`is_ordering_replies`); screens need no wait (the newest record wins)."""
        chat = update.effective_chat
        if not self.is_ordering_replies or self.outbox is None or chat is None:
            return
        marker = self.outbox.replies_marker(chat.id)
        if marker is not None:
            await asyncio.wait({marker}, timeout=REPLIES_WAIT)

    async def _attempts(self, update: Update) -> Outcome:
        """Judge and apply `update`, again after each delay while it fails for a passing reason."""
        for attempt, delay in enumerate((*self.delays, None), start=1):
            try:
                with update_scope():  # a fresh memory of the store for every attempt
                    outcome = await self._judged(update, is_last=delay is None)
            except TRANSIENT_STORE_ERRORS as error:  # the ledger could not be read
                logger.warning(
                    "update %d: store unavailable (%s)", update.update_id, type(error).__name__
                )
                outcome = Outcome.RETRY
            if outcome.is_settled or delay is None:
                return outcome
            logger.info(
                "update %d: attempt %d failed, retry in %.2f s", update.update_id, attempt, delay
            )
            await self._sleep(delay)
        return Outcome.RETRY  # pragma: no cover - the last round returns above

    async def _judged(self, update: Update, *, is_last: bool) -> Outcome:
        if update.update_id in self._recent:  # handled by this process already
            return Outcome.DUPLICATE
        verdict = await self._verdict(update)
        if verdict is Verdict.DUPLICATE:
            logger.info("update %d was applied before: skipped", update.update_id)
            failure = self._failed.pop(update.update_id, None)
            # A kill between the commit and the answer leaves a press unanswered (the bot
            # answers each press once, `CrampBot.answer_callback_query`).
            await self._answer_only(update)
            # Failed after its commit: report it now (see _report); else re-show what it owed.
            await (self._reshow(update) if failure is None else self._report(update, failure))
            return Outcome.DUPLICATE
        query = update.callback_query
        if verdict is Verdict.STALE and query is not None and is_reply_only(query.data):
            verdict = Verdict.NEW  # a Why?, More or summary a kill kept from its reply
        if verdict is Verdict.STALE:
            logger.info("update %d is older than its chat's last one: skipped", update.update_id)
            await self._answer_only(update)
            return Outcome.STALE
        outcome, was_skipped = await self._apply(update, is_last=is_last)
        failure = self._failed.pop(update.update_id, None) if was_skipped else None
        if failure is not None:  # a feature found it applied: the failure came after its commit
            await self._report(update, failure)
        if outcome is Outcome.DONE:
            await self._settle(update)
        return outcome

    async def _verdict(self, update: Update) -> Verdict:
        """Judge `update` against the ids its chat's conversation record has applied."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None:
            return Verdict.NEW
        record = await self.store.get(SessionKey(chat_id=chat.id, user_id=user.id))
        if record is None:
            return Verdict.NEW
        try:
            applied = Conversation.load(record.data).updates
        except ValidationError:  # an unreadable record: the handlers replace it
            return Verdict.NEW
        return ledger.judge(update.update_id, applied)

    async def _settle(self, update: Update) -> None:
        """Remember a handled update here and, if its handlers wrote no record, in the ledger.

        A /help or a moved-on press changes no state, so nothing stamped its id; stamping it
        now means a redelivery (after a crash before the confirmation) sends nothing either.
        """
        self._recent[update.update_id] = None
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None:
            return
        key = SessionKey(chat_id=chat.id, user_id=user.id)
        try:
            record = await self.store.get(key)
            stored = None if record is None else Conversation.load(record.data)
            if record is None or stored is None or update.update_id in stored.updates:
                return
            updated = stored.model_copy(
                update={"updates": ledger.remember(stored.updates, update.update_id)}
            )
            await self.store.put(key, updated.dump(), expected_revision=record.revision)
        except ValidationError:  # an unreadable record: the next write replaces it
            return
        except TRANSIENT_STORE_ERRORS as error:  # a nicety: never fail the update on it
            logger.info("update %d not stamped: %s", update.update_id, type(error).__name__)

    async def _reshow(self, update: Update) -> None:
        """Let `on_redelivered` show a screen the kill may have lost; never fail the update."""
        try:
            if self.on_redelivered is not None:
                await self.on_redelivered(self.application.bot, update)
        except RESHOW_ERRORS as error:
            logger.info("update %d not shown again: %s", update.update_id, type(error).__name__)

    async def _answer_only(self, update: Update) -> None:
        """Answer a skipped button press, so that the user's spinner stops."""
        if update.callback_query is None:
            return
        try:
            await update.callback_query.answer()
        except TelegramError as error:
            logger.info("stale update %d not answered: %s", update.update_id, type(error).__name__)

    async def _apply(self, update: Update, *, is_last: bool = True) -> tuple[Outcome, bool]:
        """Run the handlers with this update's id in context; classify any error they hit.

        Also return whether a feature found the update applied to its own record already
        (`ledger.skipped`): the conversation's ledger, judged above, does not list those.
        """
        attempt = _Attempt(update.update_id, is_last=is_last)
        attempt_token = _attempt.set(attempt)
        update_token = ledger.current_update.set(update.update_id)
        skipped_token = ledger.skipped.set(False)
        try:
            await self.application.process_update(update)
            was_skipped = ledger.skipped.get()
        finally:
            ledger.skipped.reset(skipped_token)
            ledger.current_update.reset(update_token)
            _attempt.reset(attempt_token)
        transient = [error for error in attempt.errors if is_transient(error)]
        if transient:
            self._failed[update.update_id] = transient[-1]
            return Outcome.RETRY, was_skipped
        return Outcome.DONE, was_skipped

    async def _report(self, update: Update, error: Exception) -> None:
        """Hand a failure that came after the commit to the error handlers, as a last attempt.

        The retry finds the update applied and skips it, so nothing would show the new state;
        the error handler apologises and shows the current question instead.
        """
        token = _attempt.set(_Attempt(update.update_id, is_last=True))
        try:
            await self.application.process_error(update, error)
        finally:
            _attempt.reset(token)

    async def _note_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Error handler: remember the error, stop stamping; hush a failure that is retried."""
        attempt, error = _attempt.get(), context.error
        if attempt is None or error is None:
            return
        attempt.errors.append(error)
        ledger.current_update.set(None)  # reset by `_apply` when the update is done
        if is_transient(error) and not attempt.is_last:
            logger.warning(
                "update %d failed (%s): will retry", attempt.update_id, type(error).__name__
            )
            raise ApplicationHandlerStop  # no apology yet: the retry may still succeed
