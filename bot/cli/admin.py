"""The operator's actions: store aggregates, erasure, and webhook registration.

Each function takes what it acts on (a store, a PTB `Bot`) so that tests pass real stores and a
Bot on the fake Bot API; `bot/cli/operator.py` builds them from the settings. Nothing returned here
holds a user id, an answer, the token or the webhook secret.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from telegram import Bot

from bot.cli.stats import Stats, Summary, aggregate, summarize
from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import SESSION, SessionStore
from bot.telegram.app import ALLOWED_UPDATES
from bot.telegram.state.conversation import Conversation

WEBHOOK_INFO_FIELDS = (
    "url",
    "pending_update_count",
    "last_error_date",
    "last_error_message",
    "last_synchronization_error_date",
    "max_connections",
    "ip_address",
    "allowed_updates",
    "has_custom_certificate",
)
"""Every WebhookInfo field worth showing; none of them carries the secret."""


def mask(text: str, token: str) -> str:
    """Replace `token` in `text`, in any letter case (PTB may change the case of a message)."""
    return re.sub(re.escape(token), "<token>", text, flags=re.IGNORECASE) if token else text


async def collect_stats(store: SessionStore, kb: KnowledgeBase) -> Stats:
    """Aggregate every stored conversation; unreadable records are counted, not read."""
    summaries: list[Summary] = []
    unreadable = 0
    async for _, record in store.scan(SESSION):  # the keys are not kept: no user is named
        try:
            conversation = Conversation.load(record.data)
        except ValidationError:
            unreadable += 1
            continue
        summaries.append(summarize(kb, conversation.session, conversation.language))
    return aggregate(kb, summaries, unreadable=unreadable)


async def forget_user(store: SessionStore, user_id: int) -> int:
    """Erase every record of `user_id`, as /forget does; return how many records went."""
    return await store.delete_user(user_id)


async def set_webhook(bot: Bot, settings: Settings, *, drop_pending: bool = False) -> None:
    """Point Telegram at CRAMPCHECK_WEBHOOK_URL with the secret and the updates the bot uses."""
    if settings.webhook_url is None or settings.webhook_secret is None:
        raise ValueError("CRAMPCHECK_WEBHOOK_URL and CRAMPCHECK_WEBHOOK_SECRET must both be set")
    await bot.set_webhook(
        settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=ALLOWED_UPDATES,
        drop_pending_updates=drop_pending,
    )


async def delete_webhook(bot: Bot, *, drop_pending: bool = False) -> None:
    """Stop webhook delivery (polling can take over); pending updates stay unless dropped."""
    await bot.delete_webhook(drop_pending_updates=drop_pending)


async def webhook_info(bot: Bot, *, token: str) -> dict[str, Any]:
    """Return what Telegram reports about the webhook, with any trace of `token` masked."""
    info = await bot.get_webhook_info()
    shown: dict[str, Any] = {}
    for name in WEBHOOK_INFO_FIELDS:
        value = getattr(info, name, None)
        if value is None or value == ():
            continue
        text = value.isoformat() if hasattr(value, "isoformat") else value
        if isinstance(text, tuple):
            text = list(text)
        if isinstance(text, str):
            text = mask(text, token)
        shown[name] = text
    return shown
