"""A user's preferences: the language (Telegram's `language_code` or /language) and the country.

Both are stored under the user's `PROFILE` key in the session store, so they outlive a
questionnaire and `/cancel`, and `/forget` (which erases every record of the user) erases them.
The country is an ISO 3166-1 alpha-2 code only: never a position. The profile also keeps the
ids of the last updates that wrote it (`ledger.py`), in the same write, so that a redelivered
country choice is recognised; and a check-in answer, which changes nothing else, is recorded
there too (`remember`).
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field
from telegram import Update

from bot.engine.kb.models import KnowledgeBase
from bot.store.base import PROFILE, SessionKey, SessionStore
from bot.telegram.state import ledger
from bot.telegram.state.records import Records

logger = logging.getLogger(__name__)

NORWEGIAN_CODES = ("nb", "nn", "no")
"""Telegram language codes that get Bokmål: Nynorsk readers read Bokmål, not the reverse."""


class Profile(BaseModel):
    """What is remembered about a user between questionnaires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    language: str | None = None
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    """The country for the emergency number, from /country or a shared location."""
    updates: tuple[int, ...] = ()
    """Ids of the last Telegram updates applied to this profile (`ledger.py`)."""

    def dump(self) -> str:
        """Return the stored JSON; an empty ledger (nothing stamped) is left out."""
        return self.model_dump_json(exclude=None if self.updates else {"updates"})


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
        self.records = Records(store, Profile, "profile", dump=Profile.dump)

    @staticmethod
    def record_key(user_id: int) -> SessionKey:
        """Return where the user's preferences are kept (one record for every chat)."""
        return _profile_key(user_id)

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
        await self._update(user_id, language=language)

    async def country(self, user_id: int) -> str | None:
        """Return the user's country code, if they set one."""
        profile = await self._read(_profile_key(user_id))
        return None if profile is None else profile.country

    async def set_country(self, user_id: int, country: str) -> None:
        """Remember the country code (ISO 3166-1 alpha-2) for the user."""
        await self._update(user_id, country=country)

    async def applied(self, user_id: int) -> tuple[int, ...]:
        """Return the ids of the updates applied to the user's profile (`ledger.verdict`)."""
        profile = await self._read(_profile_key(user_id))
        return () if profile is None else profile.updates

    async def remember(self, user_id: int) -> None:
        """Record the update being processed in the profile, changing nothing else.

        For a reply that changes no state (a check-in answer), so that a redelivery of it sends
        nothing. Outside `UpdateProcessor` there is no update, and nothing is written.
        """
        if ledger.stamp() is not None:
            await self._update(user_id)

    async def _update(self, user_id: int, **changes: str) -> None:
        """Change some fields of the profile, keep the rest, and stamp the update being processed
        (`ledger.py`) in the same write; retry a lost race once."""

        def changed(current: Profile | None) -> Profile:
            return Profile.model_validate((current or Profile()).model_dump() | changes)

        await self.records.change(_profile_key(user_id), changed)

    async def _read(self, key: SessionKey) -> Profile | None:
        return (await self.records.load(key)).record


def _profile_key(user_id: int) -> SessionKey:
    # Preferences belong to the user, not a chat: chat 0 stands for "every chat".
    return SessionKey(chat_id=0, user_id=user_id, scope=PROFILE)
