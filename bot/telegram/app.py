"""Build the PTB `Application` (handlers, commands, store lifecycle) and run it.

`build_application` wires handlers only to private chats: group chats and channel posts are
ignored on purpose (the bot cannot join groups, and health questions do not belong there).
`run_bot` opens the store on the event loop PTB will run, logs one start-up line (no token, no
store URL) and blocks in polling or webhook mode until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from aiohttp import web
from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot import __version__
from bot.config import ConfigError, Settings
from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import JsonFormatter
from bot.observability.observer import Observer
from bot.runtime import tune_gc
from bot.store import SessionStore, open_store, scheme_of, shared_client
from bot.store.base import SESSION
from bot.store.cached import CachingStore
from bot.telegram.api.chain import http_transport, reliable_request
from bot.telegram.api.client import CrampBot
from bot.telegram.api.pacing.limiter import pacer_of
from bot.telegram.api.redact import install_log_redaction
from bot.telegram.delivery.polling import PollingOptions
from bot.telegram.delivery.serving import serve
from bot.telegram.features.checkins import CheckinHandlers, CheckinScheduler
from bot.telegram.features.questionnaire.handlers import QuestionnaireHandlers
from bot.telegram.features.registry import Features
from bot.telegram.ui.outbox import Outbox

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
COMMANDS = (
    *("start", "help", "restart", "cancel", "country", "sweat", "card"),
    *("language", "privacy", "forget", "about"),
)
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
EDITED = filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE


@dataclass(frozen=True, slots=True)
class BotParts:
    """The application and its questionnaire handlers, which serving needs for redeliveries,
    and the store's memory the handlers use, which the update processor shares (cached.py)."""

    application: AnyApplication
    handlers: QuestionnaireHandlers
    store: CachingStore

    async def serve(
        self,
        settings: Settings,
        *,
        stop: asyncio.Event | None = None,
        polling: PollingOptions | None = None,
        extra_routes: Iterable[web.AbstractRouteDef] = (),
    ) -> None:
        """Serve these parts (serving.py) until `stop` (default: a stop signal): the processor
        shares the handlers' store memory and outbox, and re-shows redelivered screens."""
        await serve(
            self.application,
            settings,
            self.store,
            allowed_updates=ALLOWED_UPDATES,
            stop=stop,
            polling=polling,
            extra_routes=extra_routes,
            on_redelivered=self.handlers.on_redelivered,
            outbox=self.handlers.outbox,
        )


class BuildOptions(TypedDict, total=False):
    """What `build_application` and `build_bot` take besides settings, kb and store."""

    request: BaseRequest | None
    """Replaces PTB's HTTP client (tests pass a fake)."""
    checkins: CheckinScheduler | None
    """Sends the follow-up check-ins; tests pass one with a fake clock."""
    observer: Observer | None
    """Adds metrics and the /healthz + /metrics server (bot/observability/observer.py)."""


def build_application(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, **options: Unpack[BuildOptions]
) -> AnyApplication:
    """Return the application (see `BuildOptions`)."""
    return build_bot(settings, kb, store, **options).application


def build_bot(
    settings: Settings,
    kb: KnowledgeBase,
    store: SessionStore,
    *,
    request: BaseRequest | None = None,
    checkins: CheckinScheduler | None = None,
    observer: Observer | None = None,
) -> BotParts:
    """Return the application with its handlers (the options: `BuildOptions`)."""
    if settings.token is None:
        raise ConfigError("CRAMPCHECK_TOKEN: is required to run the Telegram bot")
    install_log_redaction(settings.token.get_secret_value())  # before PTB logs its URL
    redis = shared_client(store)  # the pacer shares a Redis store's pool
    # Repeated reads come from memory (cached.py); a caller's own CachingStore is used as is.
    cached = store = store if isinstance(store, CachingStore) else CachingStore(store)
    if observer is not None:  # time the store; count Bot API calls (observability/)
        store = observer.wrap_store(store)
    if request is None:  # retries, rate limits and screened updates around HTTP (api/chain.py)
        request = _chain(settings, observer, for_updates=False, redis=redis)
        # getUpdates gets a transport of its own, as in PTB's builder (api/chain.py).
        updates_request = _chain(settings, observer, for_updates=True, redis=redis)
    else:
        request = updates_request = request if observer is None else observer.count(request)
    bot = CrampBot(
        settings.token.get_secret_value(),
        base_url=settings.api_url,
        request=request,
        get_updates_request=updates_request,
    )
    builder = Application.builder().bot(bot)

    scheduler = checkins or CheckinScheduler(kb, store)

    async def post_init(application: AnyApplication) -> None:
        await set_commands(application, kb)
        scheduler.start(application.bot)
        if observer is not None:
            await observer.start()

    async def post_shutdown(application: AnyApplication) -> None:
        await handlers.outbox.aclose()  # what it still owed stays owed in the records
        await scheduler.stop()
        if observer is not None:
            await observer.stop()
        await store.close()

    app = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    outbox = Outbox(pacer=pacer_of(request))
    features = Features(
        kb,
        store,
        load_tables(settings.knowledge),
        session_ttl=settings.session_ttl,
        outbox=outbox,
        after_result=() if observer is None else (observer.on_result,),  # metrics
        wake=scheduler.wake,
    )
    handlers = features.core
    # An urgent result a kill left owed is shown when its wake-up falls due, and every screen a
    # kill left owed when the next process starts (keeper.py).
    scheduler.on_due(SESSION, features.keeper.show)
    scheduler.on_start(features.keeper.resume)
    checkin_handlers = CheckinHandlers(kb, store, scheduler, handlers.conversations)
    register(app, handlers, checkin_handlers, features)
    if observer is not None:
        observer.attach(app)
    return BotParts(app, handlers, cached)


def _chain(
    settings: Settings, observer: Observer | None, *, for_updates: bool, redis: Any | None
) -> BaseRequest:
    """Return the request chain (api/chain.py) around a new transport of CRAMPCHECK_HTTP's kind."""
    transport = http_transport(settings.http, for_updates=for_updates)
    counted = transport if observer is None else observer.count(transport)
    return reliable_request(settings, counted, redis=redis)


def register(
    app: AnyApplication,
    handlers: QuestionnaireHandlers,
    checkins: CheckinHandlers,
    features: Features,
) -> None:
    """Add every handler; order matters, the first match in the group wins.

    Buttons come first: a press then never reaches the CommandHandlers, which read
    `Update.effective_message`, and PTB warns when a press carries its message's chat, id and
    date only (`intake.parse_update`). No update is both a press and a message.
    """
    app.add_handlers(
        [
            # Questionnaire buttons: q:<revision>:<action>.
            CallbackQueryHandler(handlers.on_button, pattern=r"^q:"),
            # The /forget confirmation: f:y or f:n.
            CallbackQueryHandler(handlers.on_forget_choice, pattern=r"^f:[yn]$"),
            # The /language choice: l:<code>.
            CallbackQueryHandler(handlers.on_language_choice, pattern=r"^l:[a-z]{2}$"),
            # Follow-up check-ins: c:<revision>:<h|m> under a result, k:<answer> on a check-in.
            CallbackQueryHandler(checkins.on_offer, pattern=r"^c:"),
            CallbackQueryHandler(checkins.on_reply, pattern=r"^k:[bswn]$"),
            # Summary s:<revision>, country g:<CC>, /sweat p:<step>:<y|n|s>, trip card t:o (open
            # /card), t:p:<card message id> (pin it) and t:n:<id> (not now).
            *features.buttons(),
            # Any other callback data is forged or from an old version: "moved on".
            CallbackQueryHandler(handlers.on_button),
            # Commands, private chats only (a command edited afterwards is not run again).
            *(CommandHandler(name, features.command(name), filters=PRIVATE) for name in COMMANDS),
            # Typed text (unknown commands too): an open /sweat or /country prompt first, else
            # the emergency card or the question again (features/registry.py).
            MessageHandler(PRIVATE & filters.TEXT, features.on_text),
            # A live location's updates arrive as edits: ignored. Other edits are not answers.
            MessageHandler(EDITED & filters.LOCATION, features.on_edited_location),
            MessageHandler(EDITED, handlers.on_edited),
            # A shared location: its country's numbers and the position to read out.
            MessageHandler(PRIVATE & filters.LOCATION, features.country.on_location),
            # Stickers, photos, voice...: a polite note.
            MessageHandler(PRIVATE & ~filters.TEXT, handlers.on_other),
        ]
    )
    app.add_error_handler(handlers.on_error)


async def set_commands(app: AnyApplication, kb: KnowledgeBase) -> None:
    """Publish the command menu in every language of the knowledge base."""
    for language in kb.languages:
        commands = [BotCommand(name, kb.text(f"command_{name}", language)) for name in COMMANDS]
        language_code = None if language == kb.languages[0] else language
        await app.bot.set_my_commands(commands, language_code=language_code)


def run_bot(settings: Settings, kb: KnowledgeBase) -> None:
    """Open the store, build the application and run it until stopped (blocking)."""
    # PTB reads it when it builds RetryAfter: retry_after is then a timedelta (we take both).
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    configure_logging(settings.log_level, log_format=settings.log_format)
    # PTB runs on the current event loop; the store must be opened on that same loop.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        store = loop.run_until_complete(
            open_store(settings.store, ttl_seconds=settings.session_ttl_seconds)
        )
    except BaseException:
        loop.close()
        raise
    try:
        observer = Observer(settings, kb)
        parts = build_bot(settings, kb, store, observer=observer)
    except BaseException:
        loop.run_until_complete(store.close())
        loop.close()
        raise
    logger.info(
        "starting crampcheck %s (knowledge base %s) in %s mode with a %s store",
        *(__version__, kb.version, settings.mode, scheme_of(settings.store)),
    )
    tune_gc()  # start-up objects live as long as the process: no collection walks them again
    # In webhook mode /healthz and /metrics go on the webhook server too
    # (bot/observability/http.py).
    _run(loop, parts, settings, extra_routes=observer.routes())  # closes store and loop


def _run(
    loop: asyncio.AbstractEventLoop,
    parts: BotParts,
    settings: Settings,
    *,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> None:
    """Serve with at-least-once delivery (serving.py) in place of PTB's run_polling/webhook."""
    try:
        loop.run_until_complete(parts.serve(settings, extra_routes=extra_routes))
    finally:
        loop.close()


def configure_logging(level: str, *, log_format: str = "text") -> None:
    """Log at `level`, but keep httpx at WARNING and PTB at INFO or above.

    httpx logs request URLs, which hold the token; PTB's debug output holds the token and whole
    updates, i.e. what users typed.
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_format == "json":  # one JSON object per line (bot/observability/metrics.py)
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    logging.getLogger("httpx").setLevel(logging.WARNING)
    numeric = logging.getLevelNamesMapping()[level]
    logging.getLogger("telegram").setLevel(max(logging.INFO, numeric))
