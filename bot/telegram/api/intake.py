"""Incoming updates, read defensively: webhook bodies and getUpdates answers (`CrampBot`).

A body that is not a JSON object with an integer `update_id` is not an update at all (the webhook
answers 400). An update that PTB cannot parse (a field of the wrong shape, from a newer Bot API or
a hostile sender), or that breaks what the Bot API guarantees and the handlers rely on (a private
message without a sender, text that is not a string, a location off the globe), becomes an empty
`Update` with the same id: it is processed as "nothing to do" and confirmed, instead of failing
the whole getUpdates batch again and again (which would stop the bot) or a handler. Only the
update id and the reason are logged, never the content.

A button press, the update the bot gets most, is built here rather than by `Update.de_json`: of
the message the button was pressed on only its chat, id and date are kept, as PTB's own base
class `MaybeInaccessibleMessage` (the bot reads nothing else: callback data says what was
pressed). PTB would build the whole `Message`, keyboard included: parsing a press took 181 us
that way and takes 64 us this way (docs/performance.md). A press with fields this module does
not know (a newer Bot API) goes to `Update.de_json` whole.

A typed message of text and command entities only (every /start) is built here too, as the
`Message` PTB would build; anything more goes to `Update.de_json`. The sender and chat of presses
and typed messages are parsed once per distinct data and shared by the updates that carry them
(PTB's objects are frozen; a bounded table, in memory only): the same person presses again and
again, and building the two was half the cost of a press (docs/performance.md, *Sixth look*).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    InaccessibleMessage,
    MaybeInaccessibleMessage,
    Message,
    MessageEntity,
    TelegramObject,
    Update,
    User,
)

logger = logging.getLogger(__name__)

# What Update.de_json raises on a malformed field: missing keys, wrong types, bad values.
PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)
PRESS_UPDATE = frozenset({"update_id", "callback_query"})
QUERY_FIELDS = frozenset(
    {"id", "from", "message", "inline_message_id", "chat_instance", "data", "game_short_name"}
)
"""CallbackQuery's fields in the Bot API spec: a press with others is parsed by PTB."""
TEXT_UPDATE = frozenset({"update_id", "message"})
TEXT_REQUIRED = frozenset({"message_id", "chat", "date"})
TEXT_FIELDS = TEXT_REQUIRED | {"from", "text", "entities"}
"""What a typed message to the bot holds; a message with anything else is parsed by PTB."""
ENTITY_FIELDS = frozenset({"type", "offset", "length"})
"""A command's or a link's entity (no user, URL or language: those are PTB's to parse)."""
Parsed = TypeVar("Parsed", User, Chat)
_SHARED: dict[tuple[object, ...], TelegramObject] = {}
"""Users and chats parsed from presses, by their data (`_shared`)."""
MAX_SHARED = 4096
"""People pressing at once, and more; past it the table starts afresh."""


def update_id_of(data: object) -> int | None:
    """Return the integer `update_id` of a decoded update, or None if it has none."""
    if not isinstance(data, dict):
        return None
    update_id = data.get("update_id")
    return update_id if type(update_id) is int else None


def decode_body(body: bytes) -> dict[str, Any] | None:
    """Return the update object of a webhook body, or None when it is not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return data if update_id_of(data) is not None else None


def parse_update(data: dict[str, Any], bot: Bot | None) -> Update:
    """Return the `Update` for `data` (an int update_id); an empty one if it is unusable."""
    update_id = data["update_id"]
    try:
        update = _parsed(data, bot)
    except (*PARSE_ERRORS, RecursionError) as error:
        reason: str | None = type(error).__name__
    else:
        reason = broken_promise(update)
        if reason is None:
            return update
    logger.warning("update %d unreadable (%s): treated as empty", update_id, reason)
    empty = Update(update_id=update_id)
    if bot is not None:
        empty.set_bot(bot)
    return empty


def _parsed(data: dict[str, Any], bot: Bot | None) -> Update:
    """Return PTB's `Update` for `data`; a plain button press and a plain typed message are
    built here (module docstring)."""
    if _is_plain_text(data):
        update = Update(update_id=data["update_id"], message=_typed(data["message"], bot))
        update.set_bot(bot)
        return update
    query = data.get("callback_query")
    if data.keys() != PRESS_UPDATE or not isinstance(query, dict) or query.keys() - QUERY_FIELDS:
        return Update.de_json(data, bot)
    message = query.get("message")
    pressed = CallbackQuery(
        id=query["id"],
        from_user=_shared(User, query["from"], bot),
        chat_instance=query["chat_instance"],
        message=None if message is None else _pressed_message(message, bot),
        data=query.get("data"),
        inline_message_id=query.get("inline_message_id"),
        game_short_name=query.get("game_short_name"),
    )
    update = Update(update_id=data["update_id"], callback_query=pressed)
    for parsed in (pressed, update):  # as de_json does: shortcuts like query.answer() need it
        parsed.set_bot(bot)
    return update


def _is_plain_text(data: dict[str, Any]) -> bool:
    """Tell whether `data` is a message of text (and command entities) only: what people type."""
    message = data.get("message")
    if data.keys() != TEXT_UPDATE or not isinstance(message, dict):
        return False
    if not TEXT_REQUIRED <= message.keys() <= TEXT_FIELDS:
        return False
    entities = message.get("entities", ())
    return isinstance(entities, list | tuple) and all(
        isinstance(entity, dict) and entity.keys() <= ENTITY_FIELDS for entity in entities
    )


def _typed(message: dict[str, Any], bot: Bot | None) -> Message:
    """Return the `Message` PTB would build for a plain text message (`_is_plain_text`)."""
    date = message["date"]
    if type(date) is not int:
        raise TypeError("the message date is not a Unix time")
    sender = message.get("from")
    typed = Message(
        message_id=message["message_id"],
        date=datetime.fromtimestamp(date, UTC),
        chat=_shared(Chat, message["chat"], bot),
        from_user=None if sender is None else _shared(User, sender, bot),
        text=message.get("text"),
        entities=MessageEntity.de_list(message.get("entities", []), bot),
    )
    typed.set_bot(bot)
    return typed


def _pressed_message(message: dict[str, Any], bot: Bot | None) -> MaybeInaccessibleMessage:
    """Return the pressed message's chat, id and date; Telegram dates one it hides 0."""
    date = message["date"]
    if date == 0:
        return InaccessibleMessage.de_json(message, bot)
    if type(date) is not int:
        raise TypeError("the message date is not a Unix time")
    pressed = MaybeInaccessibleMessage(
        chat=_shared(Chat, message["chat"], bot),
        message_id=message["message_id"],
        date=datetime.fromtimestamp(date, UTC),
    )
    pressed.set_bot(bot)
    return pressed


def _shared(kind: type[Parsed], data: dict[str, Any], bot: Bot | None) -> Parsed:
    """Return `kind.de_json(data, bot)`, made once for the same data: the person pressing and
    their chat come with every press, and PTB's objects are frozen, so updates can share them
    (building the two was half the cost of parsing a press)."""
    try:
        key = (kind, id(bot), *data.items())  # the shared objects keep `bot` alive: id is its own
        found = _SHARED.get(key)
    except TypeError:  # a value that cannot be a key (a nested object): not shared
        return kind.de_json(data, bot)
    if found is None:
        if len(_SHARED) >= MAX_SHARED:
            _SHARED.clear()
        found = _SHARED[key] = kind.de_json(data, bot)
    return cast(Parsed, found)


def broken_promise(update: Update) -> str | None:
    """Name what `update` breaks of the Bot API's guarantees the handlers rely on, if anything."""
    for message in (update.message, update.edited_message):  # what a user sent
        if message is None:
            continue
        if not isinstance(message.text, str | None) or not isinstance(message.caption, str | None):
            return "text is not a string"
        if message.chat.type == "private" and message.from_user is None:
            return "private message without a sender"
        location = message.location
        if location is not None and not (
            _within(location.latitude, 90) and _within(location.longitude, 180)
        ):
            return "location off the globe"
    query = update.callback_query
    if query is not None and not isinstance(query.data, str | None):
        return "callback data is not a string"
    return None


def _within(value: object, limit: float) -> bool:
    return isinstance(value, int | float) and -limit <= value <= limit
