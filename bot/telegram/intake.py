"""Incoming updates, read defensively: webhook bodies and getUpdates answers.

A body that is not a JSON object with an integer `update_id` is not an update at all (the webhook
answers 400). An update that PTB cannot parse (a field of the wrong shape, from a newer Bot API or
a hostile sender), or that breaks what the Bot API guarantees and the handlers rely on (a private
message without a sender, text that is not a string, a location off the globe), becomes an empty
`Update` with the same id: it is processed as "nothing to do" and confirmed, instead of failing
the whole getUpdates batch again and again (which would stop the bot) or a handler. Only the
update id and the reason are logged, never the content.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from telegram import Bot, Update
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.telegram.wire import WrappingRequest, method_name

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
        update = Update.de_json(data, bot)
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


def screen_updates(payload: bytes) -> bytes:
    """Return a getUpdates answer in which every update parses; unreadable ones become empty."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return payload  # PTB reports an unreadable answer as an error
    results = body.get("result") if isinstance(body, dict) else None
    if not isinstance(results, list):
        return payload
    screened = [_screened(item) for item in results]
    kept = [item for item in screened if item is not None]
    if kept == results:
        return payload
    return json.dumps({**body, "result": kept}).encode()


def _screened(item: object) -> object | None:
    """Return `item` if PTB can parse it, an empty update with its id if not, None without one."""
    update_id = update_id_of(item)
    if update_id is None:
        logger.warning("getUpdates returned an item without an update id: dropped")
        return None
    try:
        Update.de_json(item, None)  # type: ignore[arg-type]  # checked to be a dict above
    except (*PARSE_ERRORS, RecursionError) as error:
        logger.warning(
            "update %d unreadable (%s): treated as empty", update_id, type(error).__name__
        )
        return {"update_id": update_id}
    return item


class UpdateScreen(WrappingRequest):
    """Forward calls to `inner`; make every update in a getUpdates answer parseable."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Forward the call; screen the updates of a successful getUpdates answer."""
        timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        status, payload = await self.inner.do_request(url, method, request_data, *timeouts)
        if status == 200 and method_name(url) == "getUpdates":
            return status, screen_updates(payload)
        return status, payload
