"""`PollingLoop`: getUpdates with at-least-once delivery, in place of PTB's `Updater`.

PTB's Updater confirms a batch to Telegram (by asking for the next offset) before the handlers
have run, so a crash loses what was fetched. Telegram's offset is a watermark: getUpdates with
offset N confirms every update below N. This loop therefore
* fetches a batch with the offset of the last *handled* update,
* handles the whole batch: different chats side by side (at most `concurrency` at once), each
  chat's updates one after another in update_id order, each through `UpdateProcessor` (which
  commits the change and its update id together),
* gives up an update that still fails after the processor's retries (the error handler has
  told the user; a store that stays down must not stall every chat for ever),
* and only then asks for the next batch, with an offset past the handled prefix of the batch.
A SIGKILL mid-batch leaves the batch unconfirmed: the next process fetches it again, and the
ledger skips what was applied. On stop, no new batch is fetched, the running one gets `grace`
seconds, and one last getUpdates(offset, limit=1, timeout=0) confirms what finished, never more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot.telegram.processing import UpdateProcessor, chat_name
from bot.telegram.wire import seconds

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollingOptions:
    """How the loop polls; the defaults suit Telegram, tests shorten the waits."""

    poll_timeout: int = 30
    """Seconds a getUpdates long poll may wait for an update."""
    batch_size: int = 100
    concurrency: int = 64
    """Chats handled at once."""
    max_delay: float = 30.0
    """Longest pause between failed getUpdates calls (the pause doubles from 1 s)."""
    grace: float = 20.0
    """Seconds the running batch gets to finish after a stop request."""


def watermark(update_ids: Sequence[int], finished: set[int]) -> int:
    """Return the offset that confirms the finished prefix of a batch and nothing else."""
    for update_id in sorted(update_ids):
        if update_id not in finished:
            return update_id
    return max(update_ids) + 1


class PollingLoop:
    """Fetch, handle and only then confirm updates, until `stop` is set."""

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

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; then confirm the handled updates and return."""
        failures = 0
        while not stop.is_set():
            batch = await self._fetch(stop)
            if batch is None:
                failures += 1
                await self._pause(min(self.options.max_delay, 2.0 ** (failures - 1)), stop)
                continue
            failures = 0
            if batch and not stop.is_set():  # a batch that came with the stop request waits
                await self._handle(batch, stop)
        await self._confirm()

    async def _fetch(self, stop: asyncio.Event) -> list[Update] | None:
        """Return the next batch ([] when stopped meanwhile), or None after a failure."""
        self._confirmed = self.offset
        fetch = asyncio.ensure_future(
            self.bot.get_updates(
                offset=self.offset,
                limit=self.options.batch_size,
                timeout=self.options.poll_timeout,
                allowed_updates=self.allowed_updates,
            )
        )
        if not await self._first(fetch, stop):
            return []
        try:
            updates = fetch.result()
        except InvalidToken:
            raise  # a wrong token does not heal: stop the bot with a clear error
        except RetryAfter as error:
            logger.warning("getUpdates flood-limited for %.0f s", seconds(error.retry_after))
            await self._pause(seconds(error.retry_after), stop)
            return []
        except TelegramError as error:
            logger.warning("getUpdates failed: %s", type(error).__name__)
            return None
        return [
            update for update in updates if self.offset is None or update.update_id >= self.offset
        ]

    async def _handle(self, batch: list[Update], stop: asyncio.Event) -> None:
        """Handle a batch, chats side by side and each chat in order; advance the offset."""
        groups: dict[str, list[Update]] = {}
        for update in sorted(batch, key=lambda update: update.update_id):
            name = chat_name(update) or f"update:{update.update_id}"
            groups.setdefault(name, []).append(update)
        finished: set[int] = set()
        slots = asyncio.Semaphore(self.options.concurrency)

        async def run_chat(updates: list[Update]) -> None:
            async with slots:
                for update in updates:
                    if stop.is_set():
                        return  # stopping: this and later updates of the chat stay unconfirmed
                    await self._process(update)
                    finished.add(update.update_id)

        tasks = [asyncio.create_task(run_chat(updates)) for updates in groups.values()]
        try:
            await self._wait(tasks, stop)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.offset = watermark([update.update_id for update in batch], finished)
        for task in tasks:  # a bug in the processing layer: fail loudly, nothing is confirmed
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error

    async def _process(self, update: Update) -> None:
        """Process `update` (the processor retries passing failures); give up if it still fails."""
        outcome = await self.processor.process(update)
        if not outcome.is_settled:  # the user has had the apology; do not stall every chat
            logger.error("update %d given up: still failing after retries", update.update_id)

    async def _wait(self, tasks: list[asyncio.Task[None]], stop: asyncio.Event) -> None:
        """Wait for `tasks`; once `stop` is set, give them `grace` seconds more at most."""
        remaining: set[asyncio.Future[Any]] = set(tasks)
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while remaining and not stop.is_set():
                done, _ = await asyncio.wait(remaining | {stopper}, return_when="FIRST_COMPLETED")
                remaining -= done
            if remaining:
                logger.info(
                    "stopping: %d chat(s) in flight get %g s", len(remaining), self.options.grace
                )
                await asyncio.wait(remaining, timeout=self.options.grace)
        finally:
            stopper.cancel()

    async def _first(self, work: asyncio.Future[Any], stop: asyncio.Event) -> bool:
        """Wait for `work` or `stop`; cancel `work` and return False if `stop` came first."""
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({work, stopper}, return_when="FIRST_COMPLETED")
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
