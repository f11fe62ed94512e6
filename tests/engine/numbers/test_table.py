"""The bundled emergency-number table loads, covers the required countries and says the right
numbers; lookup, the result line and the coordinate string behave."""

from __future__ import annotations

import math
import re
from datetime import date
from pathlib import Path

import pytest

from bot.engine.errors import KnowledgeBaseError
from bot.engine.kb.loader import (
    EMERGENCY_NUMBERS_FILE,
    default_knowledge_dir,
    load_emergency_numbers,
)
from bot.engine.numbers.table import CountryNumbers, EmergencyTable, lookup
from bot.render.numbers import format_coordinates, numbers_line

EU_MEMBERS = [
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
]  # fmt: skip
REQUIRED = [
    *EU_MEMBERS,
    *["IS", "LI", "NO"],  # the rest of the EEA
    "GB",
    "CH",
    *["AL", "BA", "ME", "MK", "RS", "XK"],  # the Balkans outside the EU
    *["UA", "MD", "BY", "TR", "GE", "AM", "AZ", "RU"],
    *["AD", "MC", "SM", "VA"],  # microstates not already listed (LI, LU, MT are)
    *["US", "CA", "MX", "AU", "NZ", "JP", "ZA", "IN", "BR", "NP"],
    *["VE", "CO", "EC", "PE", "BO", "CL", "AR"],  # the Andes countries
]


@pytest.fixture(scope="module")
def table() -> EmergencyTable:
    return load_emergency_numbers(default_knowledge_dir() / EMERGENCY_NUMBERS_FILE)


def entry(table: EmergencyTable, code: str) -> CountryNumbers:
    found = lookup(table, code)
    assert found is not None, code
    return found


# ------------------------------------------------------------------ the bundled table --
def test_bundled_table_is_dated(table: EmergencyTable) -> None:
    assert table.checked == date(2026, 11, 25)


def test_required_list_has_no_duplicates() -> None:
    assert len(EU_MEMBERS) == 27
    assert len(set(REQUIRED)) == len(REQUIRED)


@pytest.mark.parametrize("code", REQUIRED)
def test_required_country_is_listed_with_both_names(table: EmergencyTable, code: str) -> None:
    found = entry(table, code)

    assert found.name["en"]
    assert found.name["nb"]


@pytest.mark.parametrize("code", EU_MEMBERS)
def test_112_works_from_mobiles_in_every_eu_member(table: EmergencyTable, code: str) -> None:
    assert entry(table, code).mobile_112 is True


@pytest.mark.parametrize(
    ("code", "ambulance", "general"),
    [
        ("NO", ("113",), "112"),
        ("SE", ("112",), None),
        ("DK", ("112",), None),
        ("GB", ("999", "112"), None),
        ("IE", ("112", "999"), None),
        ("DE", ("112",), None),
        ("FR", ("15",), "112"),
        ("ES", ("112",), None),
        ("IT", ("118",), "112"),
        ("CH", ("144",), "112"),
        ("AT", ("144",), "112"),
        ("US", ("911",), None),
        ("CA", ("911",), None),
        ("MX", ("911",), None),
        ("AU", ("000",), None),
        ("NZ", ("111",), None),
        ("JP", ("119",), None),
        ("ZA", ("10177",), None),
        ("IN", ("108",), "112"),
        ("BR", ("192",), None),
        ("NP", ("102",), "100"),
    ],
)
def test_well_known_numbers(
    table: EmergencyTable, code: str, ambulance: tuple[str, ...], general: str | None
) -> None:
    found = entry(table, code)

    assert (found.ambulance, found.general) == (ambulance, general)


def test_peru_lists_samu_106_first(table: EmergencyTable) -> None:
    assert entry(table, "PE").ambulance[0] == "106"


@pytest.mark.parametrize(
    ("code", "mobile_112"),
    [
        ("US", False),  # redirected on most GSM networks, but not official
        ("CA", False),
        ("JP", False),
        ("AU", True),
        ("NZ", True),
        ("IN", True),
        ("ZA", True),
        ("CH", True),
        ("NO", True),
        ("BA", False),
    ],
)
def test_mobile_112(table: EmergencyTable, code: str, mobile_112: bool) -> None:
    assert entry(table, code).mobile_112 is mobile_112


def test_mountain_rescue_numbers_are_noted(table: EmergencyTable) -> None:
    notes = {code: entry(table, code).notes or {} for code in ("AT", "CH", "NP")}

    assert "140" in notes["AT"]["en"]
    assert "1414" in notes["CH"]["en"]
    assert "1144" in notes["NP"]["en"]


def test_every_entry_is_sourced_with_web_addresses(table: EmergencyTable) -> None:
    source_ids = {source.id for source in table.sources}

    assert all(country.source in source_ids for country in table.countries)
    assert all(source.url.startswith(("https://", "http://")) for source in table.sources)


def test_every_note_is_in_english_and_norwegian(table: EmergencyTable) -> None:
    with_notes = [country for country in table.countries if country.notes is not None]

    assert with_notes
    assert all(set(country.notes or {}) >= {"en", "nb"} for country in with_notes)


# --------------------------------------------------------------------------- lookup --
def test_lookup_ignores_case_and_spaces(table: EmergencyTable) -> None:
    assert entry(table, " no ").code == "NO"


def test_lookup_of_unlisted_country_gives_none(table: EmergencyTable) -> None:
    assert lookup(table, "ZZ") is None


# ------------------------------------------------------------------- numbers_line --
@pytest.mark.parametrize(
    ("code", "language", "line"),
    [
        ("NO", "en", "Norway: medical emergency 113 (112 also works from mobiles)"),
        ("NO", "nb", "Norge: medisinsk nødnummer 113 (112 virker også fra mobil)"),
        ("SE", "en", "Sweden: medical emergency 112"),
        ("GB", "en", "United Kingdom: medical emergency 999 or 112"),
        ("GB", "nb", "Storbritannia: medisinsk nødnummer 999 eller 112"),
        ("US", "en", "United States: medical emergency 911"),
        ("NP", "en", "Nepal: medical emergency 102 (general emergency 100)"),
        ("NP", "nb", "Nepal: medisinsk nødnummer 102 (generelt nødnummer 100)"),
        (
            "AM",
            "en",
            "Armenia: medical emergency 103 (112 also works from mobiles; general emergency 911)",
        ),
    ],
)
def test_numbers_line(table: EmergencyTable, code: str, language: str, line: str) -> None:
    assert numbers_line(entry(table, code), language) == line


def test_numbers_line_falls_back_to_english(table: EmergencyTable) -> None:
    assert numbers_line(entry(table, "FR"), "de") == (
        "France: medical emergency 15 (112 also works from mobiles)"
    )


# ------------------------------------------------------------- format_coordinates --
@pytest.mark.parametrize(
    ("lat", "lon", "text"),
    [
        (60.1234, 7.5678, "60.1234 N, 7.5678 E"),
        (59.91, 10.75, "59.9100 N, 10.7500 E"),
        (-13.5319, -71.9675, "13.5319 S, 71.9675 W"),
        (-33.86884, 151.20929, "33.8688 S, 151.2093 E"),
        (0.0, 0.0, "0.0000 N, 0.0000 E"),
        (-0.00001, -0.00004, "0.0000 N, 0.0000 E"),
        (90.0, -180.0, "90.0000 N, 180.0000 W"),
        (-90.0, 180.0, "90.0000 S, 180.0000 E"),
    ],
)
def test_format_coordinates(lat: float, lon: float, text: str) -> None:
    assert format_coordinates(lat=lat, lon=lon) == text


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(90.0001, 0.0), (-91.0, 0.0), (0.0, 180.5), (0.0, -181.0), (math.nan, 0.0), (0, math.inf)],
)
def test_format_coordinates_rejects_impossible_positions(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        format_coordinates(lat=lat, lon=lon)


# ------------------------------------------------------------------------ loading --
VALID = """\
checked: 2026-11-25
sources:
  - {id: ec_112, title: "EC 112", url: "https://example.org/112"}
countries:
  - code: "NO"
    name: {en: Norway, nb: Norge}
    ambulance: ["113"]
    general: "112"
    mobile_112: true
    source: ec_112
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / EMERGENCY_NUMBERS_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_small_table_loads(tmp_path: Path) -> None:
    table = load_emergency_numbers(write(tmp_path, VALID))

    assert [country.code for country in table.countries] == ["NO"]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('code: "NO"', "code: NO", "should be a valid string"),  # YAML 1.1 reads NO as false
        ('code: "NO"', 'code: "no"', "should match pattern"),
        ('code: "NO"', 'code: "NOR"', "should match pattern"),
        ('ambulance: ["113"]', "ambulance: [113]", "should be a valid string"),
        ('ambulance: ["113"]', 'ambulance: ["11-3"]', "should match pattern"),
        ('ambulance: ["113"]', "ambulance: []", "at least 1 item"),
        ('ambulance: ["113"]', 'ambulance: ["113", "113"]', "ambulance numbers repeat"),
        ('general: "112"', 'general: "113"', "already an ambulance number"),
        ("{en: Norway, nb: Norge}", "{en: Norway}", "lacks language(s) nb"),
        ("source: ec_112", "source: nowhere", "unknown source for: NO"),
        ("mobile_112: true", "mobile_112: true\n    fax: 1", "Extra inputs are not permitted"),
    ],
)
def test_invalid_table_is_refused(tmp_path: Path, old: str, new: str, reason: str) -> None:
    assert old in VALID
    with pytest.raises(KnowledgeBaseError, match=re.escape(reason)):
        load_emergency_numbers(write(tmp_path, VALID.replace(old, new)))


def test_repeated_country_code_is_refused(tmp_path: Path) -> None:
    country = VALID.split("countries:\n", 1)[1]

    with pytest.raises(KnowledgeBaseError, match="country codes repeat: NO"):
        load_emergency_numbers(write(tmp_path, VALID + country))


def test_unreadable_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="cannot read"):
        load_emergency_numbers(write(tmp_path, "countries: [unclosed"))


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="cannot read"):
        load_emergency_numbers(tmp_path / "absent.yaml")
