"""The emergency numbers and a position as the user reads them: one line per country, and the
coordinates to read out to an operator.

The words around the numbers are kept here in every language the table requires (en, nb); the
numbers and country names come from `knowledge/emergency_numbers.yaml`.
"""

from __future__ import annotations

import math

from bot.engine.numbers.table import CountryNumbers
from bot.engine.primitives import localize

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "medical": "medical emergency",
        "or": "or",
        "mobile_112": "112 also works from mobiles",
        "general": "general emergency",
    },
    "nb": {
        "medical": "medisinsk nødnummer",
        "or": "eller",
        "mobile_112": "112 virker også fra mobil",
        "general": "generelt nødnummer",
    },
}


def numbers_line(entry: CountryNumbers, language: str) -> str:
    """Return one short line such as "Norway: medical emergency 113 (112 also works ...)"."""
    words = _WORDS.get(language, _WORDS["en"])
    numbers = f" {words['or']} ".join(entry.ambulance)
    extras = []
    if entry.mobile_112 and "112" not in entry.ambulance:
        extras.append(words["mobile_112"])
    if entry.general is not None and not (entry.general == "112" and extras):
        extras.append(f"{words['general']} {entry.general}")
    line = f"{localize(entry.name, language)}: {words['medical']} {numbers}"
    return f"{line} ({'; '.join(extras)})" if extras else line


def format_coordinates(*, lat: float, lon: float) -> str:
    """Return a position to read out to an operator, e.g. "60.1234 N, 7.5678 E".

    Raises ValueError for a latitude outside [-90, 90], a longitude outside [-180, 180] or a
    value that is not a finite number.
    """
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0):
        raise ValueError(f"latitude {lat!r} is outside -90..90")
    if not (math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ValueError(f"longitude {lon!r} is outside -180..180")
    north = _degrees(lat, positive="N", negative="S")
    east = _degrees(lon, positive="E", negative="W")
    return f"{north}, {east}"


def _degrees(value: float, *, positive: str, negative: str) -> str:
    rounded = round(abs(value), 4)
    # A value that rounds to zero has no hemisphere worth confusing anyone with.
    hemisphere = negative if value < 0 and rounded != 0 else positive
    return f"{rounded:.4f} {hemisphere}"
