"""A seeded generator of hostile Telegram updates, for the fuzz test and the bench harnesses.

Every text a user could have typed carries `CANARY`, so a test can prove that nothing a user
sent reaches a log line. The mix: random and huge text (control characters, RTL marks, emoji,
NUL), commands with junk arguments, every message type, forged, oversized and replayed callback
data on live, missing and inaccessible messages, edits, group and channel traffic, unknown update
kinds, fields of the wrong shape, and exact redeliveries of earlier updates.
"""

from __future__ import annotations

import copy
import random
import string
import time
from collections.abc import Iterator
from typing import Any

from tests.fakes.botapi import FakeBotApi

CANARY = "CANARYtextQx7"
TOKEN_CANARY = "987654321:AAcanaryTOKENcanaryTOKENcanary12345"
COMMANDS = (
    "/start", "/help", "/restart", "/cancel", "/language", "/privacy", "/forget", "/about",
    "/country", "/sweat", "/unknown", "/start@CrampCheckBot", "/",
)  # fmt: skip
CALLBACK_PREFIXES = ("q:", "f:", "l:", "c:", "k:", "s:", "p:", "g:", "x:", "")
ALPHABETS = (
    string.printable,
    "abc æøå ÆØÅ é ß",
    "\u202e\u200f\u200b\ufeff",  # RTL override, RLM, zero-width space, BOM
    "\U0001f4a5\U0001f9b5\u2764\ufe0f",
    "\x00\x01\x07\x1b\x7f",
    "<b>&amp;</b><i>",
    "%s%d{0}{hours}\\n\\u0000",
)


def _text(rng: random.Random) -> str:
    size = rng.choice((0, 1, 5, 40, 300, 4096, 5000, 20_000))
    alphabet = rng.choice(ALPHABETS)
    body = "".join(rng.choice(alphabet) for _ in range(size))
    where = rng.randrange(len(body) + 1)
    return body[:where] + CANARY + body[where:]


class Hostile:
    """Hostile updates for `chats` private chats (and a few groups), from one seed."""

    def __init__(self, api: FakeBotApi, *, seed: int, chats: int = 40) -> None:
        self.api = api
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
        self.chats = [900_000 + index for index in range(chats)]
        for chat in self.chats:
            api.register_chat(chat, first_name=f"Fuzz{CANARY}")
        self.sent: list[dict[str, Any]] = []
        self.query_ids: list[str] = []

    def updates(self, count: int) -> Iterator[dict[str, Any]]:
        """Yield `count` updates; about one in twenty is an exact redelivery of an earlier one."""
        makers = (
            self.text, self.text, self.command, self.command, self.press, self.press,
            self.press, self.forged_press, self.media, self.edit, self.group, self.unknown,
            self.wrong_shape,
        )  # fmt: skip
        for _ in range(count):
            if self.sent and self.rng.random() < 0.05:
                yield copy.deepcopy(self.rng.choice(self.sent[-50:]))
                continue
            update = self.rng.choice(makers)()
            self.sent.append(update)
            yield update

    # --- pieces ---------------------------------------------------------------------------------

    def _chat(self) -> int:
        return self.rng.choice(self.chats)

    def _user(self, chat: int) -> dict[str, Any]:
        user: dict[str, Any] = {"id": chat, "is_bot": False, "first_name": f"U{CANARY}"}
        if self.rng.random() < 0.7:
            user["language_code"] = self.rng.choice(("en", "nb-NO", "nn", "de", "", "x" * 40))
        return user

    def _message(self, chat: int, **content: Any) -> dict[str, Any]:
        return {
            "message_id": self.api.next_message_id(chat),
            "from": self._user(chat),
            "chat": self.api.chat(chat),
            "date": int(time.time()),
            **content,
        }

    def _update(self, kind: str, payload: Any) -> dict[str, Any]:
        return {"update_id": self.api.next_update_id(), kind: payload}

    # --- kinds ----------------------------------------------------------------------------------

    def text(self) -> dict[str, Any]:
        return self._update("message", self._message(self._chat(), text=_text(self.rng)))

    def command(self) -> dict[str, Any]:
        command = self.rng.choice(COMMANDS)
        text = f"{command} {_text(self.rng)}" if self.rng.random() < 0.3 else command
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self._update("message", self._message(self._chat(), text=text, entities=entities))

    def press(self) -> dict[str, Any]:
        """Press a button the bot really showed (maybe long ago: replayed data)."""
        chat = self._chat()
        shown = [
            sent
            for sent in self.api.messages.values()
            if sent.chat_id == chat and sent.reply_markup
        ]
        if not shown:
            return self.forged_press()
        sent = self.rng.choice(shown)
        rows = (sent.reply_markup or {}).get("inline_keyboard", [])
        buttons = [button for row in rows for button in row if "callback_data" in button]
        if not buttons:
            return self.forged_press()
        data = self.rng.choice(buttons)["callback_data"]
        return self._query(chat, data, self.api.message_json(sent))

    def forged_press(self) -> dict[str, Any]:
        chat = self._chat()
        prefix = self.rng.choice(CALLBACK_PREFIXES)
        tail = "".join(
            self.rng.choice(string.printable + "é\U0001f4a5")
            for _ in range(self.rng.choice((0, 3, 12, 70)))
        )
        data = self.rng.choice(
            (
                f"{prefix}{tail}",
                f"q:{self.rng.randrange(-5, 10**13)}:a{self.rng.randrange(99)}",
                "q:0:a0",
                "f:y",
                "l:nb",
                "l:zz",
            )
        )
        message: dict[str, Any] | None = self._message(chat, text="old")
        roll = self.rng.random()
        if roll < 0.2:
            message = {"chat": self.api.chat(chat), "message_id": 1, "date": 0}  # inaccessible
        elif roll < 0.3:
            message = None  # an inline message: no chat at all
        return self._query(chat, data, message)

    def _query(self, chat: int, data: str, message: dict[str, Any] | None) -> dict[str, Any]:
        query_id = self.api.new_callback_query_id()
        self.query_ids.append(query_id)
        query: dict[str, Any] = {
            "id": query_id,
            "from": self._user(chat),
            "chat_instance": f"-{chat}",
            "data": data,
        }
        if message is None:
            query["inline_message_id"] = f"inline-{CANARY}"
        else:
            query["message"] = message
        return self._update("callback_query", query)

    def media(self) -> dict[str, Any]:
        chat = self._chat()
        file = {"file_id": f"f-{CANARY}", "file_unique_id": "u1"}
        kinds: list[dict[str, Any]] = [
            {
                "sticker": {
                    **file,
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            {"photo": [{**file, "width": 9, "height": 9}], "caption": _text(self.rng)},
            {"voice": {**file, "duration": 2}},
            {"video_note": {**file, "length": 2, "duration": 1}},
            {"document": {**file, "file_name": f"{CANARY}.txt"}},
            {
                "location": {
                    "latitude": self.rng.uniform(-90, 90),
                    "longitude": self.rng.uniform(-180, 180),
                }
            },
            {"location": {"latitude": 999.0, "longitude": -999.0}},
            {"contact": {"phone_number": f"+47{CANARY}", "first_name": CANARY}},
            {
                "venue": {
                    "location": {"latitude": 1.0, "longitude": 2.0},
                    "title": CANARY,
                    "address": CANARY,
                }
            },
            {"dice": {"emoji": "🎲", "value": 3}},
            {
                "poll": {
                    "id": "p",
                    "question": CANARY,
                    "options": [],
                    "total_voter_count": 0,
                    "is_closed": False,
                    "is_anonymous": True,
                    "type": "regular",
                    "allows_multiple_answers": False,
                }
            },
            {"new_chat_members": [self._user(chat)]},
            {"text": CANARY, "reply_to_message": self._message(chat, text=CANARY)},
        ]
        return self._update("message", self._message(chat, **self.rng.choice(kinds)))

    def edit(self) -> dict[str, Any]:
        chat = self._chat()
        content = self.rng.choice(
            ({"text": _text(self.rng)}, {"location": {"latitude": 60.0, "longitude": 10.0}})
        )
        message = self._message(chat, edit_date=int(time.time()), **content)
        return self._update(self.rng.choice(("edited_message", "edited_channel_post")), message)

    def group(self) -> dict[str, Any]:
        chat_id = -100_000 - self.rng.randrange(5)
        chat = {
            "id": chat_id,
            "type": self.rng.choice(("group", "supergroup", "channel")),
            "title": CANARY,
        }
        message = {
            "message_id": 1,
            "chat": chat,
            "date": 0,
            "text": self.rng.choice(COMMANDS) + CANARY,
        }
        if chat["type"] != "channel":
            message["from"] = self._user(self._chat())
        kind = "channel_post" if chat["type"] == "channel" else "message"
        return self._update(kind, message)

    def unknown(self) -> dict[str, Any]:
        kind = self.rng.choice(
            (
                "inline_query",
                "poll_answer",
                "my_chat_member",
                "chat_join_request",
                "future_kind_2030",
                "message_reaction",
            )
        )
        return self._update(
            kind,
            {
                "id": CANARY,
                "from": self._user(self._chat()),
                "query": CANARY,
                "x": [1, {"y": CANARY}],
            },
        )

    def wrong_shape(self) -> dict[str, Any]:
        """Fields of the wrong type or missing, as a broken or hostile sender would send them."""
        chat = self._chat()
        broken: list[Any] = [
            {"message": CANARY},
            {"message": {"text": CANARY}},
            {"message": self._message(chat, text=12345)},
            {"message": self._message(chat, text=None)},
            {"message": {**self._message(chat, text=CANARY), "chat": {"id": chat}}},
            {"message": {**self._message(chat, text=CANARY), "from": None}},
            {
                "callback_query": {"id": "unparsable", "data": CANARY}
            },  # no user: cannot be answered
            {"edited_message": [CANARY]},
            {"message": {**self._message(chat, text=CANARY), "date": "yesterday"}},
        ]
        return {"update_id": self.api.next_update_id(), **self.rng.choice(broken)}


MALFORMED_BODIES: tuple[bytes, ...] = (
    b"",
    b"null",
    b"[]",
    b"{}",
    b"{",
    b'{"update_id": "1"}',
    b'{"update_id": 1.5}',
    b'{"update_id": true}',
    b"\xff\xfe\x00" + CANARY.encode(),
    b"[" * 50_000 + b"]" * 50_000,
    b'{"update_id": 1, "message": ' * 2000 + b"1" + b"}" * 2000,
    ('{"update_id": 5, "message": "' + CANARY + '"}').encode(),
    b'{"update_id": 99999999999999999999999999999}',
)
