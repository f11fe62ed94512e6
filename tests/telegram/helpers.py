"""Helpers for the adapter tests: read the stored conversation, feed updates the driver lacks."""

from __future__ import annotations

import time
from typing import Any

from telegram import Update

from bot.store.base import SessionKey, SessionStore
from bot.telegram.state.conversation import Conversation
from tests.fakes.driver import ChatDriver


async def stored(store: SessionStore, driver: ChatDriver) -> Conversation | None:
    """Return the conversation stored for the driver's chat and user, if any."""
    record = await store.get(SessionKey(driver.chat_id, driver.user_id))
    return None if record is None else Conversation.load(record.data)


async def feed(driver: ChatDriver, kind: str, payload: dict[str, Any]) -> None:
    """Feed one update of `kind` (message, edited_message, ...) through the application."""
    data = {"update_id": driver.api.next_update_id(), kind: payload}
    await driver.process(Update.de_json(data, driver.app.bot))


def user_message(driver: ChatDriver, **content: Any) -> dict[str, Any]:
    """Return a message from the driver's user in the driver's chat, with `content`."""
    return {
        "message_id": driver.api.next_message_id(driver.chat_id),
        "from": driver.user,
        "chat": driver.api.chat(driver.chat_id),
        "date": int(time.time()),
        **content,
    }


PHOTO = [{"file_id": "AgACphoto", "file_unique_id": "AQADphoto", "width": 90, "height": 90}]
