"""`PollingLoop`: getUpdates with at-least-once delivery, in place of PTB's `Updater`.

PTB's Updater confirms updates to Telegram (by asking for the next offset) before the handlers
have run, so a crash loses what was fetched. Telegram's offset is a watermark: getUpdates with
offset N confirms every update below N and returns the ones from N on, again if need be, and
answers at once whenever it has one (a long poll waits only while it has none). So:
* the offset asked for is always the lowest update not yet handled (or past the last one);
* each update goes to its chat's queue; a chat's updates run one after another in update_id
  order, different chats side by side (at most `concurrency` updates in flight), each through
  `UpdateProcessor`, which commits the change and its update id together;
* the loop remembers the updates in flight and polls on no fixed timer. With nothing in flight
  it long-polls (`poll_timeout`). With updates in flight Telegram answers any poll at once,
  repeating them, so the loop first waits: until a finished update moves the watermark with at
  most a quarter of a batch still in flight (with none left the poll is a real long poll
  again), else until `repoll` seconds (0.5) after the last poll, a pause that doubles after
  each poll that brings nothing new, up to `max_repoll` (2), and starts over after one that
  does (new updates, or a new update at the watermark). So an update that stays in flight (a
  store outage being retried) holds back only its chat and the offset: the other chats'
  updates still come in within the pause, and Telegram is asked every 2 s, not 5 times a
  second. Repeated updates are skipped and counted (`PollingStats`). Every poll asks with
  `timeout=poll_timeout`: while updates are in flight Telegram answers at once anyway, and
  should it have dropped them the call waits instead of spinning. (Telegram returns at most
  100 updates from the offset, so a very slow update still caps what can be fetched past it.)
A SIGKILL leaves the unhandled updates unconfirmed: the next process fetches them again, and
the ledger skips what was applied. On stop, no new update is fetched, the ones in flight get
`grace` seconds, and one last getUpdates(offset, limit=1, timeout=0) confirms what finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.telegram.api.wire import seconds
from bot.telegram.delivery.processing import UpdateProcessor, chat_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollingOptions:
    """How the loop polls; the defaults suit Telegram, tests shorten the waits."""

    poll_timeout: int = 30
    """Seconds a getUpdates long poll may wait; every poll asks it, and Telegram answers sooner
    when it has an update at or above the offset: at once while updates are in flight."""
    batch_size: int = 100
    concurrency: int = 100
    """Updates in flight at most; no more are fetched until one finishes."""
    repoll: float = 0.5
    """Seconds from one poll to the next while updates are in flight (each such poll is answered
    at once, with them all again). Sooner when a finished update moves the watermark and at
    most a quarter of `batch_size` is still in flight: the loop then asks from there."""
    max_repoll: float = 2.0
    """The longest such pause: it doubles after each poll that brings nothing new (an update
    stuck at the watermark), and is `repoll` again after one that brings new updates or asks
    from a higher watermark."""
    max_delay: float = 30.0
    """Longest pause between failed getUpdates calls (the pause doubles from 1 s)."""
    grace: float = 20.0
    """Seconds the updates in flight get to finish after a stop request."""


@dataclass(slots=True)
class PollingStats:
    """What the loop has asked Telegram and got back: shows whether it spins."""

    polls: int = 0
    """getUpdates calls (not counting the confirmation on stop)."""
    long_polls: int = 0
    """Of those, the ones asked with nothing in flight: Telegram may wait `poll_timeout`."""
    received: int = 0
    """Updates in the answers, repeats included."""
    repeated: int = 0
    """Of those, updates already in flight or handled (not confirmed yet): skipped."""


def watermark(in_flight: Collection[int], finished: Collection[int]) -> int:
    """Return the offset that confirms every finished update below the first one in flight.

    `finished` must not be empty when nothing is in flight.
    """
    return min(in_flight) if in_flight else max(finished) + 1


class PollingLoop:
    """Fetch updates, hand them to per-chat queues, confirm them once handled; until `stop`."""

    def __init__(
        self,
        processor: UpdateProcessor,
        *,
        allowed_updates: Sequence[str],
        options: PollingOptions | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.processor = processor
        self.bot = processor.application.bot
        self.allowed_updates = list(allowed_updates)
        self.options = options or PollingOptions()
        self._sleep = sleep
        self.offset: int | None = None
        """The offset for the next getUpdates: every update below it is handled."""
        self._confirmed: int | None = None
        """The offset Telegram was last given, i.e. what it has been told is handled."""
        self._pending: dict[int, Update] = {}
        """Fetched and not yet handled, by update id."""
        self._finished: set[int] = set()
        """Handled, but above the offset (an earlier update is still in flight)."""
        self._queues: dict[str, deque[Update]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._finish = asyncio.Event()
        """Set by a worker when an update finishes: time to see whether to poll."""
        self._moved = False
        """Whether a finished update has moved the offset since the last getUpdates."""
        self._polled = 0.0
        """When the last getUpdates ended (event loop time)."""
        self.stats = PollingStats()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; then let the work in flight finish, confirm it, return."""
        try:
            await self._poll(stop)
            await self._drain()
        finally:
            for worker in self._workers:
                worker.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
        stats = self.stats
        logger.info(
            "polled %d times (%d with nothing in flight); %d of %d updates received were repeats",
            stats.polls,
            stats.long_polls,
            stats.repeated,
            stats.received,
        )
        await self._confirm()

    async def _poll(self, stop: asyncio.Event) -> None:
        failures = 0
        repoll = self.options.repoll
        while not stop.is_set():
            await self._wait_to_poll(stop, repoll)
            if stop.is_set():
                break
            previous = self._confirmed
            updates = await self._fetch(stop)
            self._polled = asyncio.get_running_loop().time()
            if updates is None:
                failures += 1
                await self._pause(min(self.options.max_delay, 2.0 ** (failures - 1)), stop)
                continue
            failures = 0
            if stop.is_set():
                break
            fresh = self._take(updates)
            if fresh or self._confirmed != previous:  # news, or a new update at the watermark
                repoll = self.options.repoll
            else:  # only repeats: the update at the watermark is still in flight
                repoll = min(2 * repoll, self.options.max_repoll)

    async def _wait_to_poll(self, stop: asyncio.Event, repoll: float) -> None:
        """Return when the next getUpdates is due (at once when nothing is in flight).

        While updates are in flight, a poll is answered at once with them all again, so wait
        until a finished update has moved the watermark and at most a quarter of a batch is
        still in flight (so that most of the answer can be new, while the rest are still being
        handled), or until `repoll` seconds after the last poll; with `concurrency` updates in
        flight, until one of them finishes.
        """
        clock = asyncio.get_running_loop()
        while self._pending and not stop.is_set():
            within: float | None = None
            if len(self._pending) < self.options.concurrency:
                if self._moved and len(self._pending) <= self.options.batch_size // 4:
                    return
                within = self._polled + repoll - clock.time()
                if within <= 0:
                    return
            self._finish.clear()
            await self._first(asyncio.ensure_future(self._finish.wait()), stop, within=within)

    async def _fetch(self, stop: asyncio.Event) -> list[Update] | None:
        """Return the next updates ([] when stopped meanwhile), or None after a failure."""
        self._confirmed = self.offset
        self._moved = False
        self.stats.polls += 1
        if not self._pending:
            self.stats.long_polls += 1
        fetch = asyncio.ensure_future(
            self.bot.get_updates(
                offset=self.offset,
                limit=self.options.batch_size,
                # With updates in flight Telegram answers at once all the same (they are at or
                # above the offset); should it have lost them, the call waits, not spins.
                timeout=self.options.poll_timeout,
                allowed_updates=self.allowed_updates,
            )
        )
        if not await self._first(fetch, stop):
            return []
        try:
            return list(fetch.result())
        except InvalidToken:
            raise  # a wrong token does not heal: stop the bot with a clear error
        except RetryAfter as error:
            logger.warning("getUpdates flood-limited for %.0f s", seconds(error.retry_after))
            await self._pause(seconds(error.retry_after), stop)
            return []
        except TelegramError as error:
            logger.warning("getUpdates failed: %s", type(error).__name__)
            return None

    def _take(self, updates: list[Update]) -> int:
        """Queue the updates not seen yet behind their chat's earlier ones; start workers.

        Return how many were new (the others are repeats of updates in flight or handled).
        """
        self.stats.received += len(updates)
        fresh = 0
        for update in sorted(updates, key=lambda update: update.update_id):
            update_id = update.update_id
            if (
                update_id in self._pending
                or update_id in self._finished
                or (self.offset is not None and update_id < self.offset)
            ):
                self.stats.repeated += 1  # Telegram repeats what is not confirmed yet
                continue
            fresh += 1
            self._pending[update_id] = update
            name = chat_name(update) or f"update:{update_id}"
            queue = self._queues.setdefault(name, deque())
            queue.append(update)
            if len(queue) == 1:  # no worker runs for this chat: start one
                worker = asyncio.create_task(self._work(name, queue))
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
        self._advance()
        return fresh

    async def _work(self, name: str, queue: deque[Update]) -> None:
        """Handle one chat's queue in order until it is empty."""
        while queue:
            update = queue[0]
            outcome = await self.processor.process(update)
            if not outcome.is_settled:  # the user has had the apology; do not stall the chat
                logger.error("update %d given up: still failing after retries", update.update_id)
            queue.popleft()
            self._done(update.update_id)
        del self._queues[name]

    def _done(self, update_id: int) -> None:
        del self._pending[update_id]
        self._finished.add(update_id)
        offset = self.offset
        self._advance()
        if self.offset != offset:
            self._moved = True
        self._finish.set()

    def _advance(self) -> None:
        """Move the offset past every handled update below the first one still in flight."""
        if not self._pending and not self._finished:
            return
        self.offset = watermark(self._pending.keys(), self._finished)
        self._finished = {update_id for update_id in self._finished if update_id >= self.offset}

    async def _drain(self) -> None:
        """After a stop request, give the updates in flight `grace` seconds to finish."""
        if not self._workers:
            return
        logger.info(
            "stopping: %d update(s) in flight get %g s", len(self._pending), self.options.grace
        )
        await asyncio.wait(set(self._workers), timeout=self.options.grace)

    async def _first(
        self, work: asyncio.Future[Any], stop: asyncio.Event, *, within: float | None = None
    ) -> bool:
        """Wait for `work`, `stop` or `within` seconds; cancel `work` unless it is done."""
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, stopper}, timeout=within, return_when="FIRST_COMPLETED")
        finally:
            stopper.cancel()
        if work.done():
            return True
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, TelegramError):
            await work
        return False

    async def _pause(self, delay: float, stop: asyncio.Event) -> bool:
        """Sleep `delay` seconds or until `stop`; return whether `stop` is set."""
        sleeper = asyncio.ensure_future(self._sleep(delay))
        await self._first(sleeper, stop)
        return stop.is_set()

    async def _confirm(self) -> None:
        """Tell Telegram which updates are handled, once, on the way out."""
        if self.offset is None or self.offset == self._confirmed:
            return
        try:
            await self.bot.get_updates(offset=self.offset, limit=1, timeout=0)
        except TelegramError as error:  # they come again on the next start and are skipped
            logger.warning(
                "could not confirm updates below %d: %s", self.offset, type(error).__name__
            )
            return
        logger.info("confirmed updates below %d", self.offset)
