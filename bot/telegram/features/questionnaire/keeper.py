"""The questionnaire's keeper: read and commit its record (`state/conversation.py`), then
bring the chat to it.

State first, screens after. A handler commits the new state (`commit`, `begin`, `resurface`):
one compare-and-set against the store revision it read, with `view` one higher and what the new
screen owes (a new message, first-aid cards, the location offer). It never waits for Telegram:
the commit posts a show job to the chat's outbox (`outbox.py`), and the handler answers the
press at once. The show job (`sync`) reads the newest record and brings the chat to it: the
owed cards, the screen (the live message edited in place, or a new message whose predecessor
loses its buttons), then, after an urgent result, the location offer. It records the view it
showed with a compare-and-set of its own, merged into whatever was committed meanwhile, so it
never undoes an answer; when the state moved on while it was sending, it goes round again.

The emergency comes first: with an urgent or emergency result the result goes out before any
owed card and before the location offer.

A press that asks for a message of its own (Why?, More, a summary) is committed too, as a reply
owed in the record (`reply`), and the show job sends it: a kill or a run of failed calls after
the press was answered cannot lose it. A reply asked for on the screen the chat shows goes
before any newer screen; an urgent result committed but never shown, when /start replaces it,
is kept the same way, ahead of the new questionnaire.

What a killed process committed but never sent stays owed in the record: the next process
brings every such chat to its record as it starts (`resume`), and an urgent result or an owed
reply also has a wake-up in the store (`_wake_later`), for whichever worker runs then.

A new questionnaire continues the old one's session revision (`continued`): buttons carry the
revision they were drawn at, so a press on a screen of an earlier questionnaire can never be
read as an answer to this one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.engine.errors import ConflictError, SessionOutdated
from bot.engine.kb.models import KnowledgeBase
from bot.engine.numbers.table import CountryNumbers
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Result, Step
from bot.engine.questionnaire.session import Session
from bot.render.questionnaire import card_text, shows_local_number
from bot.store.base import SESSION, SessionKey, SessionStore
from bot.store.faults import TRANSIENT_STORE_ERRORS
from bot.telegram.state.conversation import (
    DEFAULT_LANGUAGE,
    Conversation,
    OwedCard,
    OwedReply,
    ReplyButton,
    StoredConversation,
)
from bot.telegram.state.records import Records
from bot.telegram.ui import messages
from bot.telegram.ui.keyboards import screen
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

LocalNumbers = Callable[[int], Awaitable[CountryNumbers | None]]
"""User id -> the emergency numbers of the user's country, if known."""
AfterResult = Callable[[Bot, SessionKey, Result, str], Awaitable[None]]
"""Called once when a new result is committed (bot, key, result, language): metrics."""
LocationOffer = Callable[[Bot, SessionKey, Result, str], Awaitable[bool]]
"""Sends the "Share location" offer after an urgent result is shown; True when it did."""
Wake = Callable[[SessionKey, float], Awaitable[None]]
"""Has the chat brought to its record after so many seconds, whichever process is running then
(`CheckinScheduler.wake`, a schedule in the store)."""
RESUME_SECONDS = 10.0
"""After a new urgent result or an owed reply, when the chat is brought to its record once more:
should a kill have taken the show job, it still goes out without the person's next update."""
MERGE_TRIES = 5
"""Compare-and-set rounds for recording what was shown, against commits landing meanwhile."""
MAX_OWED_REPLIES = 4
"""Replies a record owes at most: each is a whole message (a why-text, a summary)."""


async def _no_local_numbers(user_id: int) -> CountryNumbers | None:
    return None


def _replies_first(conversation: Conversation, step: Step) -> tuple[OwedReply, ...]:
    """Return the owed replies that go before the owed screen, in order: those asked for on a
    screen the chat shows (they answer an earlier press); one about the owed screen follows it,
    and an owed emergency goes before them all."""
    pending = conversation.is_screen_pending
    if pending and _is_urgent(step):
        return ()
    return tuple(
        reply for reply in conversation.replies if not pending or reply.view < conversation.view
    )


class _Watch:
    """Tells whether the event loop ran other work (a handler's commit, say) since it was made:
    until it has, a record this task just read is still the newest this process knows."""

    __slots__ = ("ran",)

    def __init__(self) -> None:
        self.ran = False
        asyncio.get_running_loop().call_soon(self._mark)

    def _mark(self) -> None:
        self.ran = True


def _is_urgent(step: Step) -> bool:
    """Tell whether `step` is an urgent or emergency result (it names a number to call)."""
    return isinstance(step, Result) and shows_local_number(step)


def continued(session: Session, after: Conversation | None) -> Session:
    """Return a new questionnaire's `session` numbered on from the one it replaces."""
    if after is None:
        return session
    return session.model_copy(update={"rev": after.session.rev + 1})


class ConversationKeeper:
    """Load and commit conversations; show them through the chat's outbox."""

    def __init__(
        self,
        kb: KnowledgeBase,
        store: SessionStore,
        outbox: Outbox,
        *,
        local_numbers: LocalNumbers = _no_local_numbers,
        offer_location: LocationOffer | None = None,
        after_result: Sequence[AfterResult] = (),
        wake: Wake | None = None,
    ) -> None:
        self.kb = kb
        self.store = store
        self.records = Records(store, Conversation, "record", parse=Conversation.load)
        """Reads records (`Conversation.load` parses each text once); commits write them below."""
        self.outbox = outbox
        self.local_numbers = local_numbers
        """The user's country's numbers, named on results (country.py, via registry.py)."""
        self.offer_location = offer_location
        """Sends the location offer after an urgent result (country.py, via registry.py)."""
        self.after_result = tuple(after_result)
        """Called once when a new result is committed (metrics)."""
        self.wake = wake
        """Brings a chat to its record later, across a kill (`_wake_later`)."""

    async def get(self, key: SessionKey) -> StoredConversation:
        """Return what is stored under `key`; an unreadable record is logged and reads as none."""
        stored = await self.records.load(key)
        return StoredConversation(stored.record, stored.revision)

    async def delete(self, key: SessionKey) -> bool:
        return await self.store.delete(key)

    # --- state ----------------------------------------------------------------------------------

    async def begin(
        self,
        bot: Bot,
        key: SessionKey,
        language: str,
        *,
        start: tuple[Session, Step] | None = None,
    ) -> None:
        """Start a new questionnaire (at `start`, else the first question), replacing any other."""
        for _ in range(MERGE_TRIES):
            stored = await self.get(key)
            session, step = start if start is not None else machine.start(self.kb)
            old = stored.conversation
            base = old or Conversation(session=session)
            replies = base.replies
            kept = self._unshown_urgent_result(old)
            if kept is not None and kept not in replies:
                replies = (kept, *replies)  # the emergency first
            session = continued(session, old)
            conversation = base.model_copy(
                update={
                    "session": session,
                    "language": language,
                    "cards": (),
                    "screen_rev": session.rev,
                    "replies": replies,
                }
            )
            if await self.commit(bot, key, stored, conversation, step, fresh=True):
                return

    def _unshown_urgent_result(self, old: Conversation | None) -> OwedReply | None:
        """Return an urgent result that was committed but never shown, as a reply owed before
        anything else: a red flag ticked just before /start must still reach the person (last
        write wins otherwise), ahead of the new questionnaire's first screen."""
        if old is None or old.offer <= old.shown:
            return None
        try:
            step = machine.current_step(self.kb, old.session)
        except SessionOutdated:
            return None
        if not _is_urgent(step):
            return None
        text, _ = screen(self.kb, step, old.language)
        return OwedReply(view=old.shown, text=text)

    async def relanguage(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Redraw the live question or result, if any, in `language` and keep that choice."""
        stored = await self.get(key)
        if stored.conversation is None or stored.conversation.language == language:
            return
        try:
            step = machine.current_step(self.kb, stored.conversation.session)
        except SessionOutdated:
            await self.restart_outdated(bot, key, language)
            return
        updated = stored.conversation.model_copy(update={"language": language})
        await self.commit(bot, key, stored, updated, step, fresh=False)

    async def resurface(
        self,
        bot: Bot,
        key: SessionKey,
        stored: StoredConversation,
        *,
        below: int | None = None,
    ) -> None:
        """Show the current step again below the chat's other messages (after typed text).

        `below`: the typed message's id. A screen sent after it (the text came while the bot
        was still sending) is below it already: it is not sent a second time.
        """
        conversation = stored.conversation
        if conversation is None:
            self.say(bot, key.chat_id, self.kb.text("no_session", DEFAULT_LANGUAGE))
            return
        live = conversation.message_id
        if below is not None and live is not None and live > below:
            self.show(bot, key)  # in case its screen is still owed: an edit of that message
            return
        try:
            step = machine.current_step(self.kb, conversation.session)
        except SessionOutdated:
            await self.restart_outdated(bot, key, conversation.language)
            return
        if not await self.commit(bot, key, stored, conversation, step, fresh=True):
            self.show(bot, key)  # a newer step won the race: it is being shown

    async def commit(
        self,
        bot: Bot,
        key: SessionKey,
        stored: StoredConversation,
        conversation: Conversation,
        step: Step,
        *,
        fresh: bool,
    ) -> bool:
        """Save `conversation` over `stored` as the next view, and have it shown.

        `fresh`: the step goes into a new message (a step with cards always does). Return
        False when another write won the race (nothing saved; the caller may reload and retry).
        """
        # A result is new once: not a redraw of the same revision (another language), nor the
        # whole answer after the interim one was shown (the session is tailoring).
        previous = stored.conversation.session if stored.conversation is not None else None
        was_shown = previous is not None and (
            previous.done
            or previous.rev == conversation.session.rev
            or conversation.session.tailor is not None
        )
        new_result = step if isinstance(step, Result) and not was_shown else None
        view = conversation.view + 1
        owed: dict[str, object] = {"view": view}
        if fresh or step.cards:
            owed["fresh"] = view
        if step.cards:
            new_cards = (OwedCard(view=view, advice=card.id) for card in step.cards)
            owed["cards"] = (*conversation.cards, *new_cards)
        if new_result is not None:
            owed["offer"] = view
        conversation = conversation.model_copy(update=owed).stamped()
        try:
            revision = await self.store.put(
                key, conversation.dump(), expected_revision=stored.revision
            )
        except ConflictError as error:
            logger.info(
                "conflict on %s: expected %d, found %s", key.render(), error.expected, error.actual
            )
            return False
        logger.debug("saved %s rev %d, view %d", key.render(), revision, view)
        is_urgent = new_result is not None and shows_local_number(new_result)
        self.show(bot, key, is_urgent=is_urgent)
        if is_urgent:
            await self._wake_later(key)
        if new_result is not None:
            for follow in self.after_result:
                await follow(bot, key, new_result, conversation.language)
        return True

    async def restart_outdated(self, bot: Bot, key: SessionKey, language: str) -> None:
        """Say that the questionnaire changed (a new knowledge base), then start again."""
        logger.info("session in %s outdated: restarting", key.render())
        self.say(bot, key.chat_id, self.kb.text("kb_updated", language))
        await self.begin(bot, key, language)

    async def reply(
        self,
        bot: Bot,
        key: SessionKey,
        stored: StoredConversation,
        text: str,
        *,
        buttons: Sequence[ReplyButton] = (),
    ) -> bool:
        """Owe the chat `text` (Why?, More, a summary) in its record, and have it sent.

        Committed with the update's id like an answer, so a kill after the press was answered
        cannot lose it (`OwedReply`). The same reply owed twice (a double tap before it went
        out) is sent once, and a record owes `MAX_OWED_REPLIES` at most (presses during an
        outage must not grow it without end). Return False when another write won the race.
        """
        conversation = stored.conversation
        assert conversation is not None  # noqa: S101 - the caller read a conversation
        owed = OwedReply(view=conversation.view, text=text, buttons=tuple(buttons))
        is_new = owed not in conversation.replies  # else a double tap before it went out
        if is_new and len(conversation.replies) >= MAX_OWED_REPLIES:
            logger.info("%s owes %d replies already: not one more", key.render(), MAX_OWED_REPLIES)
        elif is_new:
            updated = conversation.model_copy(update={"replies": (*conversation.replies, owed)})
            try:
                await self.store.put(
                    key, updated.stamped().dump(), expected_revision=stored.revision
                )
            except ConflictError:
                return False
            await self._wake_later(key)
        self.show(bot, key)
        return True

    async def resume(self, bot: Bot) -> int:
        """Bring every chat whose record still owes something (a screen, cards, a reply) to it:
        at start-up, what a killed process committed but never sent goes out without waiting
        for the person's next update. Return how many chats were owed."""
        owed = 0
        async for key, record in self.store.scan(SESSION):
            try:
                conversation = Conversation.load(record.data)
            except ValueError:  # unreadable: the chat's next update says so (`get`)
                continue
            if conversation.is_owed:
                self.show(bot, key)
                owed += 1
        logger.info("%d chats owed a screen at start", owed)
        return owed

    async def _wake_later(self, key: SessionKey) -> None:
        """Have the chat brought to its record again in `RESUME_SECONDS`, by whichever process
        runs then: nothing to do unless a kill took the show job (an urgent result, a reply)."""
        if self.wake is None:
            return
        try:
            await self.wake(key, RESUME_SECONDS)
        except TRANSIENT_STORE_ERRORS as error:  # a safety net: the press stands without it
            logger.warning("no wake-up for %s: %s", key.render(), type(error).__name__)

    # --- the chat -------------------------------------------------------------------------------

    def say(self, bot: Bot, chat_id: int, text: str) -> None:
        """Send `text` after what the chat is owed already, without waiting for it."""
        self.outbox.send(bot, chat_id, text)

    def show(self, bot: Bot, key: SessionKey, *, is_urgent: bool = False) -> None:
        """Have the chat brought to its record soon (`sync`), without waiting for it.

        `is_urgent` (an urgent or emergency result): before anything else the chat is owed."""

        async def sync() -> None:
            await self.sync(bot, key)

        self.outbox.show(key.chat_id, sync, is_urgent=is_urgent)

    async def sync(self, bot: Bot, key: SessionKey) -> None:
        """Bring the chat to its record: owed replies, owed cards, the newest screen, the
        location offer."""
        known: StoredConversation | None = None
        for _ in range(MERGE_TRIES):
            # The record as this job last wrote it is the newest one: a commit since then has
            # posted a show of its own, which reads it.
            stored = known if known is not None else await self.get(key)
            read = _Watch() if known is None else None  # just read: did a commit come since?
            conversation = stored.conversation
            if conversation is None or not conversation.is_owed:
                return
            try:
                step = machine.current_step(self.kb, conversation.session)
            except SessionOutdated:
                return  # the next update restarts it politely
            earlier = _replies_first(conversation, step)
            if earlier:
                known = await self._send_replies(bot, key, stored, earlier)
            else:  # a screen is owed (`is_owed` without replies before it)
                known = await self._send(bot, key, stored, step, read=read)

    async def _send(
        self,
        bot: Bot,
        key: SessionKey,
        stored: StoredConversation,
        step: Step,
        *,
        read: _Watch | None = None,
    ) -> StoredConversation | None:
        """Send what `stored` owes, record it as shown, then the notes that follow it.

        `read`: started when `stored` was read; while nothing else ran since, no commit can have
        come, and the turn needs no second read. Return the record as written then, if it was
        (None: read it again)."""
        conversation = stored.conversation
        assert conversation is not None  # noqa: S101 - sync checked it
        chat_id = key.chat_id
        is_new = self._opens_with_new_message(conversation, step)
        # Going first is for a result not shown yet: drawing one the chat shows already again
        # (typed text resurfaces it) waits its turn, behind other chats' queued calls.
        is_new_result = conversation.offer > conversation.shown
        first = is_new_result and _is_urgent(step)
        while await self.outbox.take_turn(chat_id, is_new_message=is_new, is_urgent=first) and (
            read is None or read.ran
        ):
            # The chat's turn may come a second later: show the state as it is by then.
            newest = await self._newest(key)
            if newest is None:
                return None  # nothing owed any more
            stored, step = newest
            conversation = stored.conversation
            assert conversation is not None  # noqa: S101 - _newest checked it
            if is_new or not self._opens_with_new_message(conversation, step):
                break
            # The turn was for an edit, and the state now wants a new message (typed text came
            # meanwhile): that waits for the chat's token, and the state may move on again.
            is_new = True
        language = conversation.language
        cards = self._owed_cards(conversation)
        is_urgent = _is_urgent(step)
        if not is_urgent and cards:  # first aid before the question it came with
            await self._send_cards(bot, chat_id, cards, language)
            recorded = await self._record(key, stored, None)  # sent: never owed again
            if recorded is None:
                return None
            stored, cards = recorded, ()
            # The screen's own turn; an urgent result committed meanwhile may go first.
            if conversation.needs_new_message and await self.outbox.take_turn(chat_id):
                newest = await self._newest(key)
                if newest is None or self._owed_cards(newest[0].conversation):
                    return None  # shown meanwhile, or newer cards owed: `sync` sends them first
                stored, step = newest
                conversation = stored.conversation
                assert conversation is not None  # noqa: S101 - _newest checked it
                is_urgent = _is_urgent(step)
        local = await self.local_numbers(key.user_id) if isinstance(step, Result) else None
        text, markup = screen(self.kb, step, language, local=local)
        old_id = conversation.message_id
        # An urgent result is drawn over the live message (an edit waits for no chat token).
        is_new_message = conversation.needs_new_message and not (is_urgent and old_id is not None)
        if is_new_message or old_id is None:
            shown_id = await messages.send_text(bot, chat_id=chat_id, text=text, markup=markup)
        else:
            shown_id = await messages.edit_or_send(
                bot, chat_id=chat_id, message_id=old_id, text=text, markup=markup
            )
        recorded = await self._record(key, stored, shown_id)
        try:  # what follows the screen is not worth sending the screen again for
            if old_id is not None and shown_id != old_id:  # a job of its own: an urgent show
                self.outbox.retire(bot, chat_id=chat_id, message_id=old_id)  # may go first
            await self._send_cards(bot, chat_id, cards, language)  # an urgent result's, after it
            is_new_result = conversation.offer > conversation.shown
            if is_new_result and isinstance(step, Result) and self.offer_location is not None:
                await self.offer_location(bot, key, step, language)
        except TelegramError as error:
            logger.info(
                "chat %d: a note after the screen failed: %s", chat_id, type(error).__name__
            )
        return recorded

    async def _send_replies(
        self, bot: Bot, key: SessionKey, stored: StoredConversation, replies: Sequence[OwedReply]
    ) -> StoredConversation | None:
        """Send `replies` in order, each dropped from the record once it went out; return the
        record as written then (None: read it again)."""
        latest: StoredConversation | None = stored
        for reply in replies:
            await self.outbox.take_turn(key.chat_id)  # an urgent result may go first
            markup = None
            if reply.buttons:
                rows = [
                    [InlineKeyboardButton(each.label, callback_data=each.data)]
                    for each in reply.buttons
                ]
                markup = InlineKeyboardMarkup(rows)
            await messages.send_text(bot, chat_id=key.chat_id, text=reply.text, markup=markup)
            assert latest is not None  # noqa: S101 - checked below
            latest = await self._drop_reply(key, latest, reply)
            if latest is None:
                return None
        return latest

    async def _drop_reply(
        self, key: SessionKey, latest: StoredConversation, reply: OwedReply
    ) -> StoredConversation | None:
        """Record `reply` as sent (over any commit since) and return the record as written; None
        if it was not written (the record went, or had it recorded already)."""

        def without_reply(current: Conversation | None) -> Conversation | None:
            if current is None or reply not in current.replies:
                return None  # recorded already (by whom, and what else: read it again)
            replies = list(current.replies)
            replies.remove(reply)
            return current.model_copy(update={"replies": tuple(replies)})

        return await self._merge(key, latest, without_reply, what="a reply")

    async def _merge(
        self,
        key: SessionKey,
        latest: StoredConversation,
        change: Callable[[Conversation | None], Conversation | None],
        *,
        what: str,
    ) -> StoredConversation | None:
        """Write `change` of the newest record with a compare-and-set, reading the record again
        after each lost race; return the record as written. None when `change` declines (None)
        or the record kept moving (`what` names the write in the warning)."""
        for _ in range(MERGE_TRIES):
            merged = change(latest.conversation)
            if merged is None:
                return None
            try:
                revision = await self.store.put(
                    key, merged.dump(), expected_revision=latest.revision
                )
            except ConflictError:
                latest = await self.get(key)
                continue
            return StoredConversation(merged, revision)
        logger.warning("%s to %s not recorded: the record kept moving", what, key.render())
        return None

    def _opens_with_new_message(self, conversation: Conversation, step: Step) -> bool:
        """Tell whether showing `step` starts with a new message (not an edit of the live one)."""
        if _is_urgent(step):  # drawn over the live message
            return conversation.message_id is None
        return conversation.needs_new_message or bool(self._owed_cards(conversation))

    @staticmethod
    def _owed_cards(conversation: Conversation | None) -> tuple[OwedCard, ...]:
        if conversation is None:
            return ()
        return tuple(card for card in conversation.cards if card.view > conversation.shown)

    async def _newest(self, key: SessionKey) -> tuple[StoredConversation, Step] | None:
        """Return the record and step to show now; None when no screen is owed any more, or
        when replies owed go before it (`sync` sends them first: an unshown emergency that
        /start kept, say)."""
        stored = await self.get(key)
        conversation = stored.conversation
        if conversation is None or not conversation.is_screen_pending:
            return None
        try:
            step = machine.current_step(self.kb, conversation.session)
        except SessionOutdated:
            return None
        return None if _replies_first(conversation, step) else (stored, step)

    async def _send_cards(
        self, bot: Bot, chat_id: int, cards: tuple[OwedCard, ...], language: str
    ) -> None:
        if cards:
            blocks = tuple(self.kb.advice_block(card.advice) for card in cards)
            await messages.send_text(
                bot, chat_id=chat_id, text=card_text(blocks, language), markup=None
            )

    async def _record(
        self, key: SessionKey, sent: StoredConversation, message_id: int | None
    ) -> StoredConversation | None:
        """Record the cards owed up to the view of `sent` as sent and, given `message_id`, that
        message as showing that view, over any commit since; return what is stored then.

        A commit that came meanwhile keeps its answer and stays owed (its view is higher); a
        record replaced meanwhile (/cancel, then /start) is left alone (None).
        """
        shown = sent.conversation
        assert shown is not None  # noqa: S101 - _send has it

        def as_shown(current: Conversation | None) -> Conversation | None:
            if current is None or current.view < shown.view:
                logger.info("%s was replaced while it was shown", key.render())
                return None
            update: dict[str, object] = {
                "cards": tuple(card for card in current.cards if card.view > shown.view)
            }
            if message_id is not None:
                update.update(message_id=message_id, shown=max(current.shown, shown.view))
            return current.model_copy(update=update)

        return await self._merge(key, sent, as_shown, what="a send")
