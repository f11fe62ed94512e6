"""Which country a position is in, offline, for picking the right emergency number.

Owns `country_at`. It wraps the `countrycheck` package (MIT, no dependencies, a 323 KB data
file shipped in the wheel): country polygons from OpenStreetMap-derived borders, extended
into coastal waters, rasterised onto a grid of triangles about 7 km across. The data is
loaded on the first call (about 0.2 s) and kept for the life of the process.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Protocol, cast

import countrycheck  # type: ignore[import-untyped]

logger = logging.getLogger(__name__)

_NO_ISO_CODE = {"XKO": "XK"}
"""countrycheck's codes for territories without an ISO code that we still map: Kosovo gets
the user-assigned XK used by the EU. Others (Northern Cyprus, the Caspian Sea, ...) give None."""


class _Answer(Protocol):
    country: str | None
    iso2: str | None


class _Checker(Protocol):
    def check(self, lon: float, lat: float) -> _Answer: ...


@cache
def _checker() -> _Checker:
    logger.debug("loading the countrycheck border data")
    return cast("_Checker", countrycheck.CountryCheck())


def country_at(*, lat: float, lon: float) -> str | None:
    """Return the ISO 3166-1 alpha-2 code of the country at a position, or None at sea.

    Limits: near a border the answer can be the neighbouring country, because cells that a
    border crosses (up to about 7 km across) get the country holding most of their area; a
    summit on the Swiss-Italian border may come back as Italy. Coastal waters count as the
    coastal country; the open sea gives None. The user can always pick the country by hand.

    Raises ValueError for a latitude outside [-90, 90] or a longitude outside [-180, 180].
    """
    answer = _checker().check(lon, lat)
    if answer.country is None:
        return None
    return answer.iso2 or _NO_ISO_CODE.get(answer.country)
