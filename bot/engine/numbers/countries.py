"""Which country a user means when they type one: "Norway", "norge", "NO", "uk".

Pure lookup in the emergency-number table (`bot.engine.numbers.table`): by ISO 3166-1 alpha-2 code,
or by the country's name in any language of the table, ignoring case, accents and extra
spaces. A few everyday names that are not ISO codes are mapped as well.
"""

from __future__ import annotations

import unicodedata

from bot.engine.numbers.table import CountryNumbers, EmergencyTable, lookup

ALIASES = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "america": "US",
    "united states of america": "US",
}
"""Everyday names that are not in the table's `name` fields (case-insensitive)."""


def find_country(table: EmergencyTable, text: str) -> CountryNumbers | None:
    """Return the country `text` names (code, name in any language, alias), or None."""
    typed = _folded(text)
    if typed in ALIASES:
        return lookup(table, ALIASES[typed])
    if len(typed) == 2 and typed.isascii() and typed.isalpha():
        return lookup(table, typed)
    return next(
        (
            country
            for country in table.countries
            if typed in {_folded(name) for name in country.name.values()}
        ),
        None,
    )


def _folded(text: str) -> str:
    """Lower-case, single-spaced, without the accents people leave out ("Aland", "Reunion")."""
    words = " ".join(text.casefold().split())
    decomposed = unicodedata.normalize("NFKD", words)
    return "".join(char for char in decomposed if not unicodedata.combining(char))
