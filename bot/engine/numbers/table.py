"""The bundled table of medical emergency numbers per country: its models and lookup.

Owns the table models (`EmergencyTable`, `CountryNumbers`, `Source`; read by
`kb/loader.py`'s `load_emergency_numbers`) and lookup by ISO 3166-1 alpha-2 code. How the numbers
and a position are written out for the user is `bot/render/numbers.py`.
The data lives in `knowledge/emergency_numbers.yaml`, dated by its `checked` field.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from bot.engine.primitives import Frozen, Slug, Text

REQUIRED_LANGUAGES = ("en", "nb")

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""ISO 3166-1 alpha-2, upper case (plus the user-assigned XK for Kosovo)."""
PhoneNumber = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,8}$")]
"""A short number as dialled: digits only, so that "000" keeps its zeros."""


def _has_languages(text: Text, what: str) -> Text:
    missing = [language for language in REQUIRED_LANGUAGES if not text.get(language)]
    if missing:
        raise ValueError(f"{what} lacks language(s) {', '.join(missing)}")
    return text


class Source(Frozen):
    """A document the numbers were checked against."""

    id: Slug
    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")


class CountryNumbers(Frozen):
    """The medical emergency numbers of one country.

    `general` is the all-services (or police-run) emergency number when it differs from the
    medical one; `mobile_112` says that 112 reaches an emergency service from a mobile there.
    """

    code: CountryCode
    name: Text
    ambulance: tuple[PhoneNumber, ...] = Field(min_length=1)
    general: PhoneNumber | None = None
    mobile_112: bool
    notes: Text | None = None
    source: Slug

    @model_validator(mode="after")
    def _consistent(self) -> CountryNumbers:
        _has_languages(self.name, f"{self.code}: name")
        if self.notes is not None:
            _has_languages(self.notes, f"{self.code}: notes")
        if len(set(self.ambulance)) != len(self.ambulance):
            raise ValueError(f"{self.code}: ambulance numbers repeat")
        if self.general is not None and self.general in self.ambulance:
            raise ValueError(f"{self.code}: general {self.general} is already an ambulance number")
        return self


class EmergencyTable(Frozen):
    """Every country's numbers, the sources they were checked against, and when."""

    checked: date
    sources: tuple[Source, ...] = Field(min_length=1)
    countries: tuple[CountryNumbers, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_and_sourced(self) -> EmergencyTable:
        codes = [country.code for country in self.countries]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"country codes repeat: {', '.join(repeated)}")
        source_ids = [source.id for source in self.sources]
        if len(set(source_ids)) != len(source_ids):
            raise ValueError("source ids repeat")
        unknown = sorted({c.code for c in self.countries if c.source not in source_ids})
        if unknown:
            raise ValueError(f"unknown source for: {', '.join(unknown)}")
        return self


def lookup(table: EmergencyTable, code: str) -> CountryNumbers | None:
    """Return the entry for an ISO 3166-1 alpha-2 code (any case), or None if not listed."""
    wanted = code.strip().upper()
    return next((country for country in table.countries if country.code == wanted), None)
