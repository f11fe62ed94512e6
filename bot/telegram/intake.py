"""Incoming updates, read defensively: webhook bodies and getUpdates answers (`CrampBot`).

A body that is not a JSON object with an integer `update_id` is not an update at all (the webhook
answers 400). An update that PTB cannot parse (a field of the wrong shape, from a newer Bot API or
a hostile sender), or that breaks what the Bot API guarantees and the handlers rely on (a private
message without a sender, text that is not a string, a location off the globe), becomes an empty
`Update` with the same id: it is processed as "nothing to do" and confirmed, instead of failing
the whole getUpdates batch again and again (which would stop the bot) or a handler. Only the
update id and the reason are logged, never the content.

The keyboard of the message a button was pressed on is left out before parsing: the bot never
reads it (callback data says what was pressed), and building its buttons was 7 % of the CPU a
press cost (docs/performance.md).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram import Bot, Update

logger = logging.getLogger(__name__)

# What Update.de_json raises on a malformed field: missing keys, wrong types, bad values.
PARSE_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError)


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
        update = Update.de_json(_without_pressed_keyboard(data), bot)
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


def _without_pressed_keyboard(data: dict[str, Any]) -> dict[str, Any]:
    """Return `data` without the keyboard of a pressed message (a copy; `data` is unchanged)."""
    query = data.get("callback_query")
    if not isinstance(query, dict):
        return data
    message = query.get("message")
    if not isinstance(message, dict) or "reply_markup" not in message:
        return data
    bare = {name: value for name, value in message.items() if name != "reply_markup"}
    return {**data, "callback_query": {**query, "message": bare}}


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
