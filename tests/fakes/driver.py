"""ChatDriver: play one user's private chat against a real PTB ``Application`` and a FakeBotApi.

The driver builds updates as JSON dicts, the way Telegram delivers them, turns them into
``telegram.Update`` objects bound to the application's bot (``Update.de_json``), feeds them through
``Application.process_update`` and reads what the user now sees from the FakeBotApi.
"""

from __future__ import annotations

import re
import time
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.telegram.ui.outbox import drain_all
from tests.fakes.botapi import FakeBotApi, SentMessage, utf16_len

# A bot command as Telegram marks it: "/" then 1-32 letters, digits or underscores, optional @bot.
COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class ChatDriver:
    """One user in a private chat with the bot: send messages, press buttons, read the screen."""

    def __init__(
        self,
        app: AnyApplication,
        api: FakeBotApi,
        *,
        chat_id: int = 4242,
        user_id: int | None = None,
        language_code: str = "en",
        first_name: str = "Alex",
    ) -> None:
        # A wrapper around the fake (api/metrics.py CountingRequest) exposes it as `inner`.
        if api not in (app.bot.request, getattr(app.bot.request, "inner", None)):
            raise ValueError("build the Application with .request(api).get_updates_request(api)")
        self.app = app
        self.api: FakeBotApi = api  # annotated: the identity check above narrows api to Any
        self.chat_id = chat_id
        self.user_id = chat_id if user_id is None else user_id  # private chat id == user id
        self.user: dict[str, Any] = {
            "id": self.user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": language_code,
        }
        self.query_ids: list[str] = []
        api.register_chat(chat_id, first_name=first_name)

    # --- user actions ---------------------------------------------------------------------------

    async def send(self, text: str) -> Update:
        """Send a text message; a leading "/command" gets its bot_command entity."""
        message = self._user_message(text=text)
        if command := COMMAND.match(text):
            length = utf16_len(command.group(0))
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self._feed("message", message)

    async def send_location(self, latitude: float, longitude: float) -> Update:
        location = {"latitude": latitude, "longitude": longitude}
        return await self._feed("message", self._user_message(location=location))

    async def send_sticker(self) -> Update:
        sticker = {
            "file_id": "CAACAgIAAxkBAAEBsticker",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\N{THUMBS UP SIGN}",
        }
        return await self._feed("message", self._user_message(sticker=sticker))

    async def press(self, button: str | int) -> Update:
        """Press a button on the latest inline keyboard: exact label, unique prefix or index.

        An int counts buttons in row-major order across the keyboard.
        """
        sent = self.api.latest_message(self.chat_id, with_keyboard=True)
        if sent is None:
            raise LookupError(
                f"no inline keyboard in chat {self.chat_id}; screen:\n{self.screen()}"
            )
        found = _find_button(_buttons(sent), button)
        if found is None:
            raise LookupError(f"no single button matches {button!r}; screen:\n{self.screen()}")
        if "callback_data" not in found:
            raise LookupError(f"button {found['text']!r} has no callback_data: {found}")
        return await self._callback(self.api.message_json(sent), str(found["callback_data"]))

    async def press_data(self, data: str, message_id: int | None = None) -> Update:
        """Send a callback query with arbitrary (stale or forged) data.

        Without ``message_id`` it is attached to the latest keyboard message; an unknown or
        deleted ``message_id`` arrives as an InaccessibleMessage, as Telegram sends it.
        """
        if message_id is None:
            sent = self.api.latest_message(self.chat_id, with_keyboard=True)
            sent = sent or self.api.latest_message(self.chat_id)
        else:
            sent = self.api.messages.get((self.chat_id, message_id))
        if sent is not None:
            return await self._callback(self.api.message_json(sent), data)
        gone = {"chat": self.api.chat(self.chat_id), "message_id": message_id or 1, "date": 0}
        return await self._callback(gone, data)

    # --- what the user sees ---------------------------------------------------------------------

    @property
    def presses(self) -> int:
        """The number of callback queries this driver sent."""
        return len(self.query_ids)

    def answered_callbacks(self) -> int:
        """The number of this driver's callback queries the bot answered."""
        answered = set(self.api.answered_callback_queries)
        return sum(query_id in answered for query_id in self.query_ids)

    def unanswered_callbacks(self) -> list[str]:
        answered = set(self.api.answered_callback_queries)
        return [query_id for query_id in self.query_ids if query_id not in answered]

    def bot_messages(self) -> list[SentMessage]:
        """The bot's messages in this chat as they look now, oldest first."""
        mine = [sent for sent in self.api.messages.values() if sent.chat_id == self.chat_id]
        return sorted(mine, key=lambda sent: sent.message_id)

    def last_text(self) -> str:
        """Return the text of the bot message sent or edited last in this chat."""
        sent = self.api.latest_message(self.chat_id)
        if sent is None:
            raise LookupError(f"the bot has not written to chat {self.chat_id}")
        return sent.text

    def screen_text(self) -> str:
        """Return the text of the newest screen: the message with buttons sent or edited last.

        Notes may follow a screen (the location offer after an urgent result)."""
        sent = self.api.latest_message(self.chat_id, with_keyboard=True)
        if sent is None:
            raise LookupError(f"no message with buttons in chat {self.chat_id}")
        return sent.text

    def current_buttons(self) -> list[str]:
        """Labels of the latest inline keyboard in this chat, row-major; [] when there is none."""
        sent = self.api.latest_message(self.chat_id, with_keyboard=True)
        return [] if sent is None else [str(button["text"]) for button in _buttons(sent)]

    def questionnaire_keyboards(self) -> list[SentMessage]:
        """The bot's messages that carry questionnaire buttons (`q:` data), oldest first.

        Other buttons stay on their messages (the welcome's trip-card button never goes stale);
        only the questionnaire's screen must be the one with live answers."""
        return [
            sent
            for sent in self.bot_messages()
            if any(str(b.get("callback_data", "")).startswith("q:") for b in _buttons(sent))
        ]

    def screen(self) -> str:
        """Latest bot message and latest keyboard as text, for assertion messages and debugging."""
        sent = self.api.latest_message(self.chat_id)
        lines = ["(no bot message)" if sent is None else sent.text]
        keyboard = self.api.latest_message(self.chat_id, with_keyboard=True)
        if keyboard is not None:
            rows = keyboard.reply_markup["inline_keyboard"] if keyboard.reply_markup else []
            lines += [" ".join(f"[{button['text']}]" for button in row) for row in rows]
        return "\n".join(lines)

    # --- plumbing -------------------------------------------------------------------------------

    def _user_message(self, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.api.next_message_id(self.chat_id),
            "from": self.user,
            "chat": self.api.chat(self.chat_id),
            "date": int(time.time()),
            **content,
        }

    async def _callback(self, message: dict[str, Any], data: str) -> Update:
        query_id = self.api.new_callback_query_id()
        self.query_ids.append(query_id)
        query = {
            "id": query_id,
            "from": self.user,
            "chat_instance": f"-{8_000_000_000 + self.chat_id}",
            "message": message,
            "data": data,
        }
        return await self._feed("callback_query", query)

    async def _feed(self, kind: str, payload: dict[str, Any]) -> Update:
        data = {"update_id": self.api.next_update_id(), kind: payload}
        update = Update.de_json(data, self.app.bot)
        await self.process(update)
        return update

    async def process(self, update: Update) -> None:
        """Handle `update`, then wait for what it owes the chat (sent from the chat's outbox)."""
        await self.app.process_update(update)
        await drain_all()


def _buttons(sent: SentMessage) -> list[dict[str, Any]]:
    rows = sent.reply_markup["inline_keyboard"] if sent.reply_markup else []
    return [button for row in rows for button in row]


def _find_button(buttons: list[dict[str, Any]], target: str | int) -> dict[str, Any] | None:
    if isinstance(target, int):
        return buttons[target] if -len(buttons) <= target < len(buttons) else None
    exact = [button for button in buttons if button["text"] == target]
    prefixed = [button for button in buttons if str(button["text"]).startswith(target)]
    matches = exact or prefixed
    return matches[0] if len(matches) == 1 else None
