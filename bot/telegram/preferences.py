"""A user's preferences: the language, from Telegram's `language_code` or from /language.

The choice is stored under the user's `PROFILE` key in the session store, so it outlives a
questionnaire and `/cancel`, and `/forget` (which erases every record of the user) erases it.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, ValidationError
from telegram import Update

from bot.engine.errors import ConflictError
from bot.engine.models import KnowledgeBase
from bot.store.base import PROFILE, SessionKey, SessionStore

logger = logging.getLogger(__name__)

NORWEGIAN_CODES = ("nb", "nn", "no")
"""Telegram language codes that get Bokmål: Nynorsk readers read Bokmål, not the reverse."""


class Profile(BaseModel):
    """What is remembered about a user between questionnaires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str | None = None


def language_from_code(kb: KnowledgeBase, code: str | None) -> str:
    """Map a Telegram `language_code` ("nb-NO", "en", None) to a knowledge-base language."""
    base = (code or "").split("-")[0].lower()
    wanted = "nb" if base in NORWEGIAN_CODES else base
    return wanted if wanted in kb.languages else kb.languages[0]


class Preferences:
    """Read and write user profiles in the session store."""

    def __init__(self, kb: KnowledgeBase, store: SessionStore) -> None:
        self.kb = kb
        self.store = store

    async def language(self, update: Update) -> str:
        """Return the user's chosen language, else the one their Telegram app uses."""
        user = update.effective_user
        profile = None if user is None else await self._read(_profile_key(user.id))
        if profile is not None and profile.language in self.kb.languages:
            return profile.language
        return self.from_telegram(update)

    def from_telegram(self, update: Update) -> str:
        """Return the language of the user's Telegram app, without reading the store."""
        user = update.effective_user
        return language_from_code(self.kb, user.language_code if user else None)

    async def set_language(self, user_id: int, language: str) -> None:
        """Remember `language` for the user; a concurrent write is retried once."""
        if language not in self.kb.languages:
            raise ValueError(f"no language {language!r} in the knowledge base")
        key = _profile_key(user_id)
        for attempt in (1, 2):
            record = await self.store.get(key)
            data = Profile(language=language).model_dump_json()
            try:
                await self.store.put(key, data, expected_revision=record.revision if record else 0)
            except ConflictError:
                if attempt == 2:
                    raise
            else:
                return

    async def _read(self, key: SessionKey) -> Profile | None:
        record = await self.store.get(key)
        if record is None:
            return None
        try:
            return Profile.model_validate_json(record.data)
        except ValidationError:
            logger.warning("unreadable profile %s: ignored", key.render())
            return None


def _profile_key(user_id: int) -> SessionKey:
    # Preferences belong to the user, not a chat: chat 0 stands for "every chat".
    return SessionKey(chat_id=0, user_id=user_id, scope=PROFILE)
