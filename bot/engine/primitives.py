"""The building blocks every frozen model shares: the base model, ids, texts and triage levels.

The knowledge base (`kb/models.py`), its conditions (`kb/conditions.py`) and the side tables
(`numbers/table.py`, `sweat/config.py`) are all built from these, so that none imports another's
models, and the loader (`kb/loader.py`) can read every file without an import circle.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$", min_length=1, max_length=40)]
Text = dict[str, str]
"""User-facing text keyed by language code ("en", "nb")."""
UNKNOWN = "unknown"
"""The value every finding also accepts: not sure, skipped, or never asked."""


class Level(IntEnum):
    """Triage levels, ordered so that `max` picks the most urgent."""

    SELF_CARE = 0
    DOCTOR = 1
    URGENT = 2
    EMERGENCY = 3

    @property
    def code(self) -> LevelCode:
        codes: tuple[LevelCode, ...] = ("self_care", "doctor", "urgent", "emergency")
        return codes[self.value]

    @classmethod
    def from_code(cls, code: str) -> Level:
        return cls[code.upper()]


LevelCode = Literal["self_care", "doctor", "urgent", "emergency"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def localize(text: Text, language: str) -> str:
    """Pick `language`, falling back to English (lint ensures every language is present)."""
    return text.get(language) or text["en"]
