"""Bare python-telegram-bot with its defaults (httpx transport, updates one at a time).

A text gets two sendMessage calls (welcome, question with keyboard); a press gets
answerCallbackQuery and editMessageText: what CrampCheck sends, without its work between.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from screen import ALLOWED_UPDATES, api_base, load_screen, token
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

SCREEN = load_screen()
MARKUP = InlineKeyboardMarkup.de_json(SCREEN["markup"], None)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_chat is not None
    chat_id = update.effective_chat.id
    await context.bot.send_message(chat_id, SCREEN["welcome"])
    await context.bot.send_message(chat_id, SCREEN["text"], reply_markup=MARKUP)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(SCREEN["text"], reply_markup=MARKUP)


def main() -> int:
    app = Application.builder().token(token()).base_url(f"{api_base()}/bot").build()
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_press))
    app.run_polling(allowed_updates=ALLOWED_UPDATES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
