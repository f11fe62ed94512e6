"""Build the PTB `Application` (handlers, commands, store lifecycle) and run it.

`build_application` wires handlers only to private chats: group chats and channel posts are
ignored on purpose (the bot cannot join groups, and health questions do not belong there).
`run_bot` opens the store on the event loop PTB will run, logs one start-up line (no token, no
store URL) and blocks in polling or webhook mode until stopped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

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
from bot.engine.models import KnowledgeBase
from bot.store import SessionStore, open_store
from bot.telegram.handlers import QuestionnaireHandlers

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
COMMANDS = ("start", "help", "restart", "cancel", "language", "privacy", "forget", "about")
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
EDITED = filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE


def build_application(
    settings: Settings,
    kb: KnowledgeBase,
    store: SessionStore,
    *,
    request: BaseRequest | None = None,
) -> AnyApplication:
    """Return the application; `request` replaces PTB's HTTP client (tests pass a fake)."""
    if settings.token is None:
        raise ConfigError("CRAMPCHECK_TOKEN: is required to run the Telegram bot")
    builder = Application.builder().token(settings.token.get_secret_value())
    builder = builder.base_url(settings.api_url)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)

    async def post_init(application: AnyApplication) -> None:
        await set_commands(application, kb)

    async def post_shutdown(application: AnyApplication) -> None:
        await store.close()

    app = builder.post_init(post_init).post_shutdown(post_shutdown).build()
    register(app, QuestionnaireHandlers(kb, store, session_ttl=settings.session_ttl))
    return app


def register(app: AnyApplication, handlers: QuestionnaireHandlers) -> None:
    """Add every handler; order matters, the first match in the group wins."""
    app.add_handlers(
        [
            # Commands, private chats only (a command edited afterwards is not run again).
            *(
                CommandHandler(name, getattr(handlers, f"on_{name}"), filters=PRIVATE)
                for name in COMMANDS
            ),
            # Questionnaire buttons: q:<revision>:<action>.
            CallbackQueryHandler(handlers.on_button, pattern=r"^q:"),
            # The /forget confirmation: f:y or f:n.
            CallbackQueryHandler(handlers.on_forget_choice, pattern=r"^f:[yn]$"),
            # The /language choice: l:<code>.
            CallbackQueryHandler(handlers.on_language_choice, pattern=r"^l:[a-z]{2}$"),
            # Any other callback data is forged or from an old version: "moved on".
            CallbackQueryHandler(handlers.on_button),
            # Typed text (unknown commands too): emergency card, or the question again.
            MessageHandler(PRIVATE & filters.TEXT, handlers.on_text),
            # Edited messages are not answers.
            MessageHandler(EDITED, handlers.on_edited),
            # Stickers, photos, voice, locations...: a polite note.
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
    configure_logging(settings.log_level)
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
        app = build_application(settings, kb, store)
    except BaseException:
        loop.run_until_complete(store.close())
        loop.close()
        raise
    logger.info(
        "starting crampcheck %s (knowledge base %s) in %s mode with a %s store",
        *(__version__, kb.version, settings.mode, settings.store_scheme),
    )
    _run(app, settings)  # closes the store (post_shutdown) and the loop


def _run(app: AnyApplication, settings: Settings) -> None:
    if settings.mode == "polling":
        app.run_polling(allowed_updates=ALLOWED_UPDATES)
    else:
        app.run_webhook(**webhook_options(settings))


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Return the webhook arguments shared by `run_webhook` and `Updater.start_webhook`."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return {
        "listen": settings.listen,
        "port": settings.port,
        "url_path": settings.webhook_path,
        "webhook_url": settings.webhook_url,
        "secret_token": secret,
        "allowed_updates": ALLOWED_UPDATES,
    }


def configure_logging(level: str) -> None:
    """Log at `level`, but keep httpx at WARNING and PTB at INFO or above.

    httpx logs request URLs, which hold the token; PTB's debug output holds the token and whole
    updates, i.e. what users typed.
    """
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    numeric = logging.getLevelNamesMapping()[level]
    logging.getLogger("telegram").setLevel(max(logging.INFO, numeric))
