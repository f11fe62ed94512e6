"""Run the bot until SIGTERM or SIGINT: polling or webhook, each with at-least-once delivery.

`serve` replaces PTB's `run_polling`/`run_webhook`, whose Updater and webhook server confirm
updates before they are handled. It initialises the application, runs `post_init`, takes the
per-chat locks (shared through Redis when the store is Redis), then polls with `PollingLoop` or
serves the webhook with `serve_webhook` (after `setWebhook` with the secret token and the allowed
updates), and on a stop signal finishes in-flight updates, confirms only those, and shuts down
in PTB's order (stop, shutdown, post_shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from aiohttp import web
from telegram import Bot

from bot.config import Settings
from bot.store import shared_client
from bot.store.base import SessionStore
from bot.store.cached import CachingStore
from bot.store.locks import ChainedLocks, ChatLocks, LocalLocks, RedisLocks
from bot.telegram.delivery.polling import PollingLoop, PollingOptions
from bot.telegram.delivery.processing import AnyApplication, RedeliveryHook, UpdateProcessor
from bot.telegram.delivery.webhook import serve_webhook
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
OUTBOX_GRACE = 5.0
"""Seconds the chats' owed messages get to go out after the last update was handled."""
REMEMBER_SECONDS = 600.0
"""How long a process that handles every chat reads its own last write of a record from memory
(`CachingStore.remember_writes`): a conversation's next press comes well within it."""


def remember_own_writes(store: SessionStore, locks: ChatLocks, settings: Settings) -> None:
    """Have `store` read this process's own writes from memory (`CachingStore.remember_writes`)
    if the process handles every chat: its chat locks are its own (polling, or a webhook
    without Redis workers). For `REMEMBER_SECONDS`, or half the idle TTL if that is shorter,
    so that a remembered record never outlives the stored one."""
    if isinstance(locks, LocalLocks) and isinstance(store, CachingStore):
        store.remember_writes(for_seconds=min(REMEMBER_SECONDS, settings.session_ttl_seconds / 2))


async def serve(
    application: AnyApplication,
    settings: Settings,
    store: SessionStore,
    *,
    allowed_updates: Sequence[str],
    stop: asyncio.Event | None = None,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    polling: PollingOptions | None = None,
    on_redelivered: RedeliveryHook | None = None,
    outbox: Outbox | None = None,
) -> None:
    """Run `application` in the settings' mode until `stop` is set (default: a stop signal).

    `on_redelivered` re-shows the screen of an update applied before (processing.py); `outbox`
    (the handlers' screens) shares the chat locks, and gets `OUTBOX_GRACE` seconds on a stop.
    `store`: the handlers' `CachingStore` (`BotParts.store`), so that the update processor
    shares its memory (`remember_own_writes`); a bare store gets a memory of the processor's own.
    """
    async with _stop_event(stop) as stopping, _chat_locks(settings, store) as locks:
        remember_own_writes(store, locks, settings)
        if outbox is not None:
            outbox.locks = locks  # so that two webhook workers never show one chat at once
        try:
            async with application:
                if application.post_init is not None:
                    await application.post_init(application)
                processor = UpdateProcessor(
                    application,
                    store,
                    locks=locks,
                    on_redelivered=on_redelivered,
                    outbox=outbox,
                    # Shared locks: several workers, and a chat's replies must stay in order.
                    is_ordering_replies=isinstance(locks, ChainedLocks),
                )
                await application.start()
                try:
                    await _receive(
                        processor, settings, stopping, allowed_updates, extra_routes, polling
                    )
                    if outbox is not None and not await outbox.drain(OUTBOX_GRACE):
                        logger.info("stopping: screens still owed are sent on the next start")
                finally:
                    await application.stop()
        finally:
            if application.post_shutdown is not None:
                await application.post_shutdown(application)


async def _receive(
    processor: UpdateProcessor,
    settings: Settings,
    stop: asyncio.Event,
    allowed_updates: Sequence[str],
    extra_routes: Iterable[web.AbstractRouteDef],
    polling: PollingOptions | None,
) -> None:
    bot = processor.application.bot
    if settings.mode == "polling":
        await bot.delete_webhook()  # getUpdates is refused while a webhook is set
        loop = PollingLoop(processor, allowed_updates=allowed_updates, options=polling)
        await loop.run(stop)
        return
    await set_webhook(bot, settings, allowed_updates)
    await serve_webhook(processor, settings, stop, extra_routes=extra_routes)


async def set_webhook(bot: Bot, settings: Settings, allowed_updates: Sequence[str]) -> None:
    """Point Telegram at WEBHOOK_URL with our secret token; keep pending updates."""
    if settings.webhook_url is None or settings.webhook_secret is None:
        raise ValueError("webhook mode needs WEBHOOK_URL and WEBHOOK_SECRET (Settings checks)")
    await bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=list(allowed_updates),
    )


@contextlib.asynccontextmanager
async def _stop_event(stop: asyncio.Event | None) -> AsyncIterator[asyncio.Event]:
    """Yield `stop`, or an event that SIGTERM and SIGINT set (handlers removed afterwards)."""
    if stop is not None:
        yield stop
        return
    event, loop = asyncio.Event(), asyncio.get_running_loop()
    for number in STOP_SIGNALS:
        loop.add_signal_handler(number, _stopper(event, number))
    try:
        yield event
    finally:
        for number in STOP_SIGNALS:
            loop.remove_signal_handler(number)


def _stopper(event: asyncio.Event, number: signal.Signals) -> Callable[[], None]:
    def on_signal() -> None:
        logger.info("%s: finishing the updates in flight, then stopping", number.name)
        event.set()

    return on_signal


@contextlib.asynccontextmanager
async def _chat_locks(settings: Settings, store: SessionStore) -> AsyncIterator[ChatLocks]:
    """Yield local per-chat locks, chained with Redis locks for webhook workers on Redis.

    Polling needs no shared lock: Telegram serves getUpdates to one process at a time. The Redis
    locks use the store's client (one pool per process), which the store closes.
    """
    client = shared_client(store)
    if settings.mode != "webhook" or client is None:
        yield LocalLocks()
        return
    yield ChainedLocks(LocalLocks(), RedisLocks(client))
