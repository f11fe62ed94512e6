"""The handlers of the operator's commands (registered in bot/cli/main.py).

Like the rest of the command line they parse, wire and pick the exit code: 0 done, 1 the knowledge
base, the store or Telegram failed, 2 bad input or settings. Output never holds the token, the
webhook secret, a user id or an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from telegram import Bot
from telegram.error import TelegramError

from bot.cli import admin
from bot.cli.stats import Stats, render_stats
from bot.config import ConfigError, Settings, load_settings
from bot.engine.errors import KnowledgeBaseError, StoreError
from bot.engine.kb.loader import default_knowledge_dir
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint import load_knowledge_base
from bot.render.card import check_card_length
from bot.store import open_store
from bot.telegram.app import ALLOWED_UPDATES


def _say(text: str, *, error: bool = False) -> None:
    (sys.stderr if error else sys.stdout).write(text + "\n")


def _settings(command: str) -> Settings | None:
    try:
        return load_settings()
    except ConfigError as error:
        _say(f"crampcheck {command}: {error}", error=True)
        return None


def make_bot(settings: Settings) -> Bot:
    """Return a Bot for the configured token and Bot API server (CRAMPCHECK_API_URL)."""
    assert settings.token is not None  # noqa: S101 - webhook() checked it
    return Bot(settings.token.get_secret_value(), base_url=settings.api_url)


def webhook(args: argparse.Namespace) -> int:
    settings = _settings("webhook")
    if settings is None:
        return 2
    if settings.token is None:
        _say("crampcheck webhook: CRAMPCHECK_TOKEN is not set", error=True)
        return 2
    drop = bool(getattr(args, "drop_pending_updates", False))
    return asyncio.run(webhook_command(args.action, settings, drop_pending=drop))


async def webhook_command(
    action: str, settings: Settings, *, bot: Bot | None = None, drop_pending: bool = False
) -> int:
    """Run `webhook set|delete|info` with `bot` (default: one built from the settings)."""
    token = settings.token.get_secret_value() if settings.token else ""
    bot = bot if bot is not None else make_bot(settings)
    try:
        async with bot:
            if action == "set":
                await admin.set_webhook(bot, settings, drop_pending=drop_pending)
                updates = ", ".join(ALLOWED_UPDATES)
                _say(f"webhook set: {settings.webhook_url} (updates: {updates})")
            elif action == "delete":
                await admin.delete_webhook(bot, drop_pending=drop_pending)
                _say("webhook deleted")
            else:
                for name, value in (await admin.webhook_info(bot, token=token)).items():
                    _say(f"{name}: {value}")
    except ValueError as error:
        _say(f"crampcheck webhook {action}: {error}", error=True)
        return 2
    except TelegramError as error:
        _say(
            f"crampcheck webhook {action}: Telegram said: {admin.mask(str(error), token)}",
            error=True,
        )
        return 1
    return 0


def _knowledge(args: argparse.Namespace, settings: Settings) -> KnowledgeBase | None:
    directory: Path = args.kb or settings.knowledge or default_knowledge_dir()
    try:
        return load_knowledge_base(directory, checks=(check_card_length,))
    except KnowledgeBaseError as error:
        _say(f"crampcheck: {error}", error=True)
        return None


def stats(args: argparse.Namespace) -> int:
    settings = _settings("stats")
    if settings is None:
        return 2
    kb = _knowledge(args, settings)
    if kb is None:
        return 1

    async def collect() -> Stats:
        ttl = settings.session_ttl_seconds
        store = await open_store(settings.store, ttl_seconds=ttl, create=False)
        try:
            return await admin.collect_stats(store, kb)
        finally:
            await store.close()

    try:
        stats = asyncio.run(collect())
    except StoreError as error:
        _say(f"crampcheck stats: {error}", error=True)
        return 1
    if args.json:
        _say(json.dumps(stats.as_dict(), indent=1))
    else:
        sys.stdout.write(render_stats(stats, ttl_hours=settings.session_ttl_seconds / 3600))
    return 0


def forget(args: argparse.Namespace) -> int:
    settings = _settings("forget")
    if settings is None:
        return 2

    async def erase() -> int:
        ttl = settings.session_ttl_seconds
        store = await open_store(settings.store, ttl_seconds=ttl, create=False)
        try:
            return await admin.forget_user(store, args.user_id)
        finally:
            await store.close()

    try:
        removed = asyncio.run(erase())
    except StoreError as error:
        _say(f"crampcheck forget: {error}", error=True)
        return 1
    _say(f"erased: {removed} record(s) (questionnaires and preferences), and any check-in")
    return 0
