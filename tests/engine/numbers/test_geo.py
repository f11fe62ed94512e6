"""country_at finds the country of a position offline, and every country it names for the
hiking areas we test has an emergency-number entry."""

from __future__ import annotations

import math

import pytest

from bot.engine.kb.loader import (
    EMERGENCY_NUMBERS_FILE,
    default_knowledge_dir,
    load_emergency_numbers,
)
from bot.engine.numbers.geo import country_at
from bot.engine.numbers.table import lookup

PLACES = [
    ("Oslo", 59.91, 10.75, "NO"),
    ("Zermatt", 46.02, 7.75, "CH"),
    ("Kathmandu", 27.7172, 85.3240, "NP"),
    ("Cusco", -13.5319, -71.9675, "PE"),
    ("Denver", 39.7392, -104.9903, "US"),
    ("Sydney", -33.8688, 151.2093, "AU"),
    ("Longyearbyen", 78.2232, 15.6267, "SJ"),
    ("Pristina", 42.6629, 21.1655, "XK"),  # no ISO code upstream; mapped to XK
    ("Queenstown", -45.0312, 168.6626, "NZ"),
    ("Chamonix", 45.9237, 6.8694, "FR"),
]


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [place[1:] for place in PLACES],
    ids=[place[0] for place in PLACES],
)
def test_country_at_known_places(lat: float, lon: float, code: str) -> None:
    assert country_at(lat=lat, lon=lon) == code


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(30.0, -40.0), (0.0, -150.0), (90.0, 0.0)],
    ids=["mid-Atlantic", "mid-Pacific", "North Pole"],
)
def test_country_at_open_sea_is_none(lat: float, lon: float) -> None:
    assert country_at(lat=lat, lon=lon) is None


def test_territory_without_iso_code_is_none() -> None:
    """The Caspian Sea is its own entry upstream, with no ISO code and no numbers."""
    assert country_at(lat=42.0, lon=51.0) is None


def test_summit_on_a_border_may_give_the_neighbour() -> None:
    """Documents the limit: the Matterhorn summit (on the CH/IT border) resolves to one of them."""
    assert country_at(lat=45.9763, lon=7.6586) in {"CH", "IT"}


@pytest.mark.parametrize(
    ("lat", "lon"), [(91.0, 0.0), (-90.5, 0.0), (0.0, 181.0), (0.0, -180.01), (math.nan, 0.0)]
)
def test_country_at_rejects_impossible_positions(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        country_at(lat=lat, lon=lon)


def test_every_tested_place_has_emergency_numbers() -> None:
    table = load_emergency_numbers(default_knowledge_dir() / EMERGENCY_NUMBERS_FILE)

    missing = [
        name
        for name, lat, lon, _ in PLACES
        if lookup(table, country_at(lat=lat, lon=lon) or "") is None
    ]

    assert missing == []
