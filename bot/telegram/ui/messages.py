"""Sending and editing messages: the live message edited in place, a new one when it cannot be,
the buttons of an old one taken off; and what is logged when an update fails.

Editing the one live message can fail in two harmless ways: the content did not change ("message
is not modified": ignore) or the message is gone or too old ("message to edit not found",
"message can't be edited": send a new one and track that instead). Anything else propagates to
the error handler, which logs the exception and the update id only: never the update, typed text,
answers or session, because answers are health data.
"""

from __future__ import annotations

import logging

from telegram import Bot, Update
from telegram.error import BadRequest

from bot.telegram.api.client import CrampBot
from bot.telegram.ui.keyboards import Markup, as_object

logger = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"
GONE = (
    "message to edit not found",
    "message can't be edited",
    "message_id_invalid",
    "message to delete not found",
)


def is_not_modified(error: BadRequest) -> bool:
    return NOT_MODIFIED in error.message.lower()


def is_gone(error: BadRequest) -> bool:
    """Tell whether the message no longer exists or can no longer be edited."""
    message = error.message.lower()
    return any(phrase in message for phrase in GONE)


async def edit_or_send(
    bot: Bot, *, chat_id: int, message_id: int, text: str, markup: Markup | None
) -> int:
    """Edit message `message_id` to show `text`; return the id of the message showing it now."""
    try:
        await edit_text(bot, chat_id=chat_id, message_id=message_id, text=text, markup=markup)
    except BadRequest as error:
        if is_not_modified(error):
            return message_id
        if not is_gone(error):
            raise
        logger.info("message %d in chat %d cannot be edited; sending anew", message_id, chat_id)
        return await send_text(bot, chat_id=chat_id, text=text, markup=markup)
    return message_id


async def edit_text(
    bot: Bot, *, chat_id: int, message_id: int, text: str, markup: Markup | None
) -> None:
    """Edit a message's text and buttons, without building the copy Telegram sends back."""
    if isinstance(bot, CrampBot):  # the bot `build_application` makes
        await bot.edit_text(chat_id, message_id, text, markup=markup)
    else:
        await bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=None if markup is None else as_object(markup),
        )


async def send_text(bot: Bot, *, chat_id: int, text: str, markup: Markup | None) -> int:
    """Send `text` with `markup` as a new message; return its id."""
    if isinstance(bot, CrampBot):
        return await bot.send_text(chat_id, text, markup=markup)
    reply_markup = None if markup is None else as_object(markup)
    sent = await bot.send_message(chat_id, text, reply_markup=reply_markup)
    return sent.message_id


async def retire_keyboard(bot: Bot, *, chat_id: int, message_id: int) -> None:
    """Remove the buttons of an earlier message so that only one screen has live buttons."""
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id)
    except BadRequest as error:
        # Cosmetic: a message that is gone or already bare needs nothing; nothing else is worth
        # failing the user's step for.
        logger.info("buttons of message %d in chat %d stay: %s", message_id, chat_id, error)


def update_id(update: object) -> int | None:
    return update.update_id if isinstance(update, Update) else None


def log_failure(update: object, error: BaseException | None) -> None:
    """Log a failed update: exception with traceback and the update id, nothing from the user."""
    logger.error("update %s failed: %s", update_id(update), type(error).__name__, exc_info=error)
