"""Bare aiogram 3 with its defaults (aiohttp session, each update handled as a task).

Runs in the benchmark's aiogram venv (see bench/aiogram_env.py). A text gets two sendMessage
calls, a press answerCallbackQuery and editMessageText, as for every stack.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from screen import ALLOWED_UPDATES, api_base, load_screen, token

SCREEN = load_screen()
MARKUP = InlineKeyboardMarkup.model_validate(SCREEN["markup"])

dispatcher = Dispatcher()


@dispatcher.message(F.text)
async def on_text(message: Message) -> None:
    await message.answer(SCREEN["welcome"])
    await message.answer(SCREEN["text"], reply_markup=MARKUP)


@dispatcher.callback_query()
async def on_press(query: CallbackQuery) -> None:
    await query.answer()
    assert isinstance(query.message, Message)
    await query.message.edit_text(SCREEN["text"], reply_markup=MARKUP)


async def run() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base()))
    bot = Bot(token(), session=session)
    await dispatcher.start_polling(bot, allowed_updates=ALLOWED_UPDATES, handle_signals=True)


if __name__ == "__main__":
    asyncio.run(run())
