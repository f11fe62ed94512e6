"""Where an update comes from: its record key, private chats, the pressed message."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Update

from bot.store.base import SessionKey


def key(update: Update) -> SessionKey:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        raise ValueError(f"update {update.update_id} has no chat or user")
    return SessionKey(chat_id=chat.id, user_id=user.id)


def is_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == "private"


async def private_query(update: Update) -> CallbackQuery | None:
    """Return the callback query of a private chat; answer and drop any other on purpose."""
    query = update.callback_query
    if query is None:
        raise ValueError(f"update {update.update_id} is not a callback query")
    if is_private(update):
        return query
    await query.answer()
    return None


def pressed_id(query: CallbackQuery) -> int | None:
    return query.message.message_id if query.message is not None else None


async def reply(update: Update, text: str, *, markup: InlineKeyboardMarkup | None = None) -> None:
    if update.effective_chat is not None:
        await update.get_bot().send_message(update.effective_chat.id, text, reply_markup=markup)
