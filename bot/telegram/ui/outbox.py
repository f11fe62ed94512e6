"""`Outbox`: what the bot owes each chat, sent in order at Telegram's pace, apart from handling.

Handling an update (`processing.py`) commits the new state and answers the press under the
chat's lock, and never waits for pacing: what the chat should see next is posted here. Each chat
has one worker task that runs the chat's jobs in order: plain messages (a welcome, a why-text)
and `show` jobs, which bring the chat to its committed record (`ConversationKeeper.sync`). A `show`
job still queued is not queued twice, and it reads the newest record when it runs, so several
commits before one send are shown once, as the newest (last write wins): a double tap can never
send two screens, and the next press is handled while the bot is still sending.

Workers run in a context of their own, not the update's: no update id is stamped into what they
write (`ledger.current_update`), and no update's store memory answers their reads
(`bot/store/cached.py`). With several webhook workers a `show` job holds the chat's send lock
(`locks`, through Redis), so two processes never show one chat's screen side by side.

A job that fails for a passing reason (network, flood wait, store) is tried again after a growing
pause; a screen that still fails stays owed in its record (`state/conversation.py`), and the next
sync of the chat (the user's next press or message, a redelivery, a wake-up, or the next
process's start: `ConversationKeeper.resume`) sends it. An urgent show goes
before a job that only waits: for its turn, or to try a call again (the outbox's pause, or the
request chain's, `api/retry.pause_hook`); that job runs again right after it. Errors are logged by
type only: a job's text is what the user is told, and may be health data.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from telegram import (
    Bot,
    ForceReply,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, NetworkError, RetryAfter

from bot.store.faults import TRANSIENT_STORE_ERRORS
from bot.store.locks import ChatLocks, LocalLocks
from bot.telegram.api.pacing.limiter import Pacer, take_turn
from bot.telegram.api.retry import pause_hook, retries_wanted
from bot.telegram.ui import messages
from bot.telegram.ui.keyboards import KeyboardJson, Markup

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]
ReplyMarkup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove | ForceReply
Sleep = Callable[[float], Awaitable[object]]
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
"""Pauses before the next tries of a job that failed for a passing reason (about 8 s)."""
SHOW = "show"

_everywhere: weakref.WeakSet[Outbox] = weakref.WeakSet()


@dataclass(slots=True)
class _Queued:
    job: Job
    tag: str | None
    """`SHOW` for a show job, which is queued at most once at a time."""
    done: asyncio.Future[None]
    """Resolved when the job has run (successfully or not), cancelled if it never will."""
    is_urgent: bool = False
    """A show job that brings an urgent or emergency result: it goes before anything queued."""


def is_passing(error: BaseException) -> bool:
    """Tell whether a job's failure may pass by itself, so that trying again makes sense."""
    if isinstance(error, BadRequest):  # a NetworkError subclass, but the call itself is wrong
        return False
    return isinstance(error, (NetworkError, RetryAfter, *TRANSIENT_STORE_ERRORS))


class Outbox:
    """Per chat, a queue of jobs run one after another by a worker task of the chat's own."""

    def __init__(
        self,
        *,
        locks: ChatLocks | None = None,
        pacer: Pacer | None = None,
        delays: Sequence[float] = RETRY_DELAYS,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.locks: ChatLocks = locks if locks is not None else LocalLocks()
        """Held around show jobs; `serving.py` shares them through Redis for webhook workers."""
        self.pacer: Pacer | None = pacer
        """The request chain's limiter, if known: show jobs wait for the chat's turn first."""
        self.delays = tuple(delays)
        self._sleep = sleep
        self._queues: dict[int, deque[_Queued]] = {}
        self._last_plain: dict[int, asyncio.Future[None]] = {}
        """The last plain message job queued, per chat (`replies_marker`)."""
        self._turn_waits: dict[int, asyncio.Task[object]] = {}
        """The running job of a chat while it only waits for its turn (`take_turn`): an urgent
        show may stop it there and go first; it runs again right after."""
        self._preempting: set[int] = set()
        self._pauses: dict[int, asyncio.Future[object]] = {}
        """The running job of a chat while it pauses before trying a failed call again."""
        self._hurrying: set[int] = set()
        self._workers: dict[int, asyncio.Task[None]] = {}
        _everywhere.add(self)

    def post(self, chat_id: int, job: Job) -> None:
        """Run `job` after the chat's earlier jobs (a message to send, say)."""
        self._queue(chat_id, job, None)
        self._last_plain[chat_id] = self._queues[chat_id][-1].done

    def show(self, chat_id: int, job: Job, *, is_urgent: bool = False) -> None:
        """Run the show job `job` after the chat's earlier jobs, unless one is queued already.

        A queued show job reads the newest record when it runs, so one is enough. An urgent one
        (an emergency result) goes first: before the queued jobs, and before the running one if
        that only waits for its turn (which then runs right after).
        """
        queue = self._queues.get(chat_id)
        queued = next((each for each in queue or () if each.tag == SHOW), None)
        if queued is None:
            self._queue(chat_id, job, SHOW)
            queue = self._queues[chat_id]
            queued = queue[-1]
        elif not is_urgent:
            self._hurry(chat_id)
            return
        if not is_urgent:
            self._hurry(chat_id)
        if is_urgent and queue is not None:
            queued.is_urgent = True
            queue.remove(queued)
            queue.appendleft(queued)
            waiting = self._turn_waits.get(chat_id)
            if waiting is not None:
                self._preempting.add(chat_id)
                waiting.cancel()

    def _hurry(self, chat_id: int) -> None:
        """Cut short the pause of the chat's running job before it tries a failed call again.

        A show is asked for when the person acts (a press, a message): that is the moment to try
        again, not seconds later (a queued show is never queued twice, so it would wait behind
        the pause). A flood wait still holds: the pacer keeps the 429's hold-off.
        """
        pause = self._pauses.get(chat_id)
        if pause is not None and not pause.done() and chat_id not in self._preempting:
            self._hurrying.add(chat_id)
            pause.cancel()

    def send(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        *,
        reply_markup: ReplyMarkup | KeyboardJson | None = None,
    ) -> None:
        """Send `text` after what the chat is owed already; the handler does not wait for it."""

        async def send() -> None:
            await self.take_turn(chat_id)  # an emergency result may go first
            if reply_markup is None or isinstance(reply_markup, InlineKeyboardMarkup | str):
                # without PTB building the sent message back from Telegram's echo
                await messages.send_text(bot, chat_id=chat_id, text=text, markup=reply_markup)
            else:
                await bot.send_message(chat_id, text, reply_markup=reply_markup)

        self.post(chat_id, send)

    def reply(
        self, update: Update, text: str, *, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        """Send `text` to the update's chat (`send`)."""
        if update.effective_chat is not None:
            self.send(update.get_bot(), update.effective_chat.id, text, reply_markup=markup)

    def edit(
        self, bot: Bot, *, chat_id: int, message_id: int, text: str, markup: Markup | None
    ) -> None:
        """Edit message `message_id` to `text` (or send it anew if it is gone), in turn."""

        async def edit() -> None:
            await self.take_turn(chat_id, is_new_message=False)  # an emergency may go first
            await messages.edit_or_send(
                bot, chat_id=chat_id, message_id=message_id, text=text, markup=markup
            )

        self.post(chat_id, edit)

    def retire(self, bot: Bot, *, chat_id: int, message_id: int) -> None:
        """Take the buttons off message `message_id`, in turn."""

        async def retire() -> None:
            await self.take_turn(chat_id, is_new_message=False)  # an emergency may go first
            await messages.retire_keyboard(bot, chat_id=chat_id, message_id=message_id)

        self.post(chat_id, retire)

    async def take_turn(
        self,
        chat_id: int,
        *,
        is_new_message: bool = True,
        may_yield: bool = True,
        is_urgent: bool = False,
    ) -> bool:
        """Wait until the chat's next call (a new message, or an edit) may start; False: no
        pacer known.

        `may_yield`: an urgent show may stop the job while it waits here (`show`). `is_urgent`:
        the call shows an urgent or emergency result, which the pacer lets past other chats.
        """
        if self.pacer is None:
            return False
        task = asyncio.current_task()
        if may_yield and task is not None:
            self._turn_waits[chat_id] = task
        try:
            await take_turn(
                self.pacer, chat_id, is_new_message=is_new_message, is_urgent=is_urgent
            )
        finally:
            if self._turn_waits.get(chat_id) is task:
                del self._turn_waits[chat_id]
        return True

    def replies_marker(self, chat_id: int) -> asyncio.Future[None] | None:
        """Return what resolves once the chat's plain messages queued now went out, if any.

        Screens need no such wait (they show the newest record whoever sends them); plain
        replies do, when another worker may handle the chat's next update (`processing.py`).
        """
        last = self._last_plain.get(chat_id)
        if last is None or last.done():
            self._last_plain.pop(chat_id, None)
            return None
        return last

    async def drain(self, within: float | None = None) -> bool:
        """Wait until every chat's jobs are done (jobs posted meanwhile too), or `within` s.

        Return whether all are done.
        """
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while self._workers:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return False
            await asyncio.wait(set(self._workers.values()), timeout=left)
        return True

    async def aclose(self) -> None:
        """Stop every worker at once; what was owed stays owed in the records."""
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._queues.clear()
        self._workers.clear()

    def _queue(self, chat_id: int, job: Job, tag: str | None) -> None:
        queue = self._queues.setdefault(chat_id, deque())
        queue.append(_Queued(job, tag, asyncio.get_running_loop().create_future()))
        if chat_id not in self._workers:
            # A context of its own: not the update's stamping id or store memory (docstring).
            worker = asyncio.get_running_loop().create_task(
                self._work(chat_id, queue), context=contextvars.Context()
            )
            self._workers[chat_id] = worker

    async def _work(self, chat_id: int, queue: deque[_Queued]) -> None:
        running: _Queued | None = None
        try:
            while queue:
                running = (
                    queue.popleft()
                )  # a show posted from now on is queued again: it may be new
                if await self._run(chat_id, running):  # stopped for an urgent show: again next
                    queue.insert(1 if queue else 0, running)
                else:
                    running.done.set_result(None)
                running = None
        finally:
            for left in (*queue, running):
                if left is not None and not left.done.done():
                    left.done.cancel()  # stopped: what it owed stays owed in the records
            if self._queues.get(chat_id) is queue:
                del self._queues[chat_id]
            self._workers.pop(chat_id, None)

    async def _run(self, chat_id: int, queued: _Queued) -> bool:
        """Run one job; try again after each delay while it fails for a passing reason.

        Return True when an urgent show stopped it while it waited for its turn.
        """
        for delay in (*self.delays, None):
            attempt = asyncio.ensure_future(self._attempt(chat_id, queued))
            try:
                await attempt
            except asyncio.CancelledError:
                if attempt.cancelled() and chat_id in self._preempting:
                    self._preempting.discard(chat_id)
                    return True
                raise
            except Exception as error:  # a worker must go on with the chat's next job
                if delay is None or not is_passing(error):
                    logger.warning(
                        "chat %d: %s job failed: %s",
                        *(chat_id, queued.tag or "message", type(error).__name__),
                        exc_info=not is_passing(error),
                    )
                    return False
                logger.info("chat %d: job failed (%s), retry", chat_id, type(error).__name__)
                if await self._pause(chat_id, delay):
                    return True
            else:
                return False
        return False  # pragma: no cover - the last round returns above

    async def _pause(self, chat_id: int, delay: float) -> bool:
        """Wait `delay` before trying a job again; True when an urgent show stopped the wait
        (`show`): the job then runs again after it."""
        pause = asyncio.ensure_future(self._sleep(delay))
        self._turn_waits[chat_id] = self._pauses[chat_id] = pause
        try:
            await pause
        except asyncio.CancelledError:
            if pause.cancelled() and chat_id in self._preempting:
                self._preempting.discard(chat_id)
                return True
            task = asyncio.current_task()
            is_stopping = task is not None and task.cancelling() > 0  # `aclose`, not a hurry
            if pause.cancelled() and chat_id in self._hurrying and not is_stopping:
                self._hurrying.discard(chat_id)
                return False  # the person acted: try again now
            self._hurrying.discard(chat_id)
            raise
        finally:
            if self._turn_waits.get(chat_id) is pause:
                del self._turn_waits[chat_id]
            if self._pauses.get(chat_id) is pause:
                del self._pauses[chat_id]
        return False

    async def _yielding(self, chat_id: int, waiting: Awaitable[object]) -> object:
        """Await `waiting` (the request chain's pause before a retry) as `take_turn` waits: an
        urgent show may stop the job here, and it runs again after it."""
        task = asyncio.current_task()
        if task is not None:
            self._turn_waits[chat_id] = task
        try:
            return await waiting
        finally:
            if self._turn_waits.get(chat_id) is task:
                del self._turn_waits[chat_id]

    async def _attempt(self, chat_id: int, queued: _Queued) -> None:
        if queued.tag == SHOW:
            retries_wanted.set(False)  # a screen is tried again from the newest record (`_run`)
            if isinstance(self.locks, LocalLocks):  # one process: the chat's one worker (here)
                await queued.job()  # runs its shows one at a time already
                return
            async with self.locks.hold(f"send:{chat_id}"):
                await queued.job()
        else:
            pause_hook.set(functools.partial(self._yielding, chat_id))
            await queued.job()


async def drain_all(within: float | None = None) -> bool:
    """Wait for the jobs of every outbox of this process (tests, benchmarks); see `drain`."""
    results = [await outbox.drain(within) for outbox in list(_everywhere)]
    return all(results)
