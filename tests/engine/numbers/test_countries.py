"""Typed country names and codes find the right row of the emergency-number table."""

from __future__ import annotations

import pytest

from bot.engine.kb.loader import load_tables
from bot.engine.numbers.countries import find_country
from bot.engine.numbers.table import EmergencyTable


@pytest.fixture(scope="module")
def table() -> EmergencyTable:
    return load_tables().numbers


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("NO", "NO"),
        ("no", "NO"),
        (" Norway ", "NO"),
        ("norge", "NO"),
        ("Sveits", "CH"),
        ("UK", "GB"),
        ("united  kingdom", "GB"),
        ("USA", "US"),
        ("Osterreich", None),  # German names are not in the table
        ("Østerrike", "AT"),
        ("Aland Islands", "AX"),
        ("nz", "NZ"),
    ],
)
def test_country_found_by_code_name_or_alias(
    table: EmergencyTable, typed: str, code: str | None
) -> None:
    found = find_country(table, typed)
    assert (found.code if found else None) == code


@pytest.mark.parametrize("typed", ["", "Atlantis", "ZZ", "N0", "113"])
def test_unknown_text_finds_no_country(table: EmergencyTable, typed: str) -> None:
    assert find_country(table, typed) is None
