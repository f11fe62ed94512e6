"""The trip card as the user reads it (bot/render/card.py): every red flag of the knowledge base,
short, offline.

The red flags are derived here from the loaded knowledge base's rules (level and label), not
through the card builder's own helpers, and compared with what the card prints.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.engine.card import CARD_AIM, CARD_LIMIT, PLAN_DAYS, TripPlan
from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint import lint_knowledge_base
from bot.engine.numbers.table import CountryNumbers, EmergencyTable, lookup
from bot.engine.primitives import localize
from bot.render.card import card_text, check_card_length
from tests.engine.helpers import real_kb
from tests.shared import REPO

LANGUAGES = ("en", "nb")
MADE = date(2026, 6, 1)
PLAN = TripPlan(made_on=MADE, kind="plan", litres_per_hour=0.456, ml_per_15_min=114.0)
PLANS = (
    None,
    PLAN,
    TripPlan(made_on=MADE, kind="gained"),
    TripPlan(made_on=MADE, kind="restricted"),
    TripPlan(made_on=MADE, kind="small"),
)


@pytest.fixture(scope="module")
def real() -> KnowledgeBase:
    return real_kb()


@pytest.fixture(scope="module")
def table() -> EmergencyTable:
    return load_tables().numbers


def card(
    kb: KnowledgeBase,
    table: EmergencyTable,
    language: str = "en",
    code: str | None = "NO",
    *,
    plan: TripPlan | None = None,
    today: date = MADE,
) -> str:
    country = None if code is None else lookup(table, code)
    return card_text(kb, language, country=country, checked=table.checked, plan=plan, today=today)


def section(text: str, heading: str) -> list[str]:
    """Return the bullet lines of the block that starts with `heading`."""
    blocks = [block.splitlines() for block in text.split("\n\n")]
    found = [lines for lines in blocks if lines[0] == heading]
    assert len(found) == 1, (heading, text)
    return [line.removeprefix("• ") for line in found[0][1:] if line.startswith("• ")]


def labels(kb: KnowledgeBase, level: str, language: str) -> set[str]:
    """The labels of the knowledge base's rules at `level`; fails on a rule without one."""
    rules = [rule for rule in kb.rules if rule.level == level]
    assert rules, level
    missing = [rule.id for rule in rules if rule.trip_card is None]
    assert missing == [], f"{level} rules without a trip_card label: {missing}"
    return {localize(rule.trip_card, language) for rule in rules if rule.trip_card is not None}


# ---------------------------------------------------------------- red flags --
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_card_lists_exactly_the_emergency_and_urgent_rules_of_the_knowledge_base(
    real: KnowledgeBase, table: EmergencyTable, language: str
) -> None:
    text = card(real, table, language)
    call = real.text("trip_card_call_if", language).format(number="113")
    today = real.text("trip_card_today_if", language)

    emergency, urgent = section(text, call), section(text, today)

    assert set(emergency) == labels(real, "emergency", language)
    assert set(urgent) == labels(real, "urgent", language)
    assert len(emergency) == len(set(emergency)), "a shared label is shown once"
    assert len(urgent) == len(set(urgent))
    lower = {
        localize(rule.trip_card, language)
        for rule in real.rules
        if rule.level in ("doctor", "self_care") and rule.trip_card is not None
    }
    assert lower == set(), "doctor and self-care rules have no place on the card"


def test_every_emergency_and_urgent_rule_of_the_real_knowledge_base_is_covered(
    real: KnowledgeBase,
) -> None:
    """18 rules in December 2026; grouped labels are fine, a rule left out is not."""
    listed = [rule for rule in real.rules if rule.level in ("emergency", "urgent")]
    assert len(listed) >= 18
    assert all(rule.trip_card is not None for rule in listed)


def test_a_rule_given_no_label_would_be_missing_from_the_card(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    """The comparison above can fail: drop a rule's own label and the card leaves it out."""
    emergency = [rule for rule in real.rules if rule.level == "emergency"]
    alone = next(r for r in emergency if [s.trip_card for s in emergency].count(r.trip_card) == 1)
    assert alone.trip_card is not None
    rules = tuple(
        rule.model_copy(update={"trip_card": None}) if rule is alone else rule
        for rule in real.rules
    )
    stripped = real.model_copy(update={"rules": rules})
    call = real.text("trip_card_call_if", "en").format(number="113")

    assert localize(alone.trip_card, "en") not in section(card(stripped, table), call)
    with pytest.raises(AssertionError, match=alone.id):
        labels(stripped, "emergency", "en")


def test_the_emergency_part_comes_before_the_urgent_one_and_the_numbers(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    text = card(real, table)
    headings = [block.splitlines()[0] for block in text.split("\n\n")]

    assert headings[0] == "🧭 TRIP CARD · Norway"
    assert headings[1:4] == [
        real.text("trip_card_cramp_now", "en"),
        real.text("trip_card_call_if", "en").format(number="113"),
        real.text("trip_card_today_if", "en"),
    ]
    assert headings[4] == real.text("trip_card_numbers", "en").format(date="2026-11-25")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_first_aid_is_the_three_lines_of_the_first_aid_advice(
    real: KnowledgeBase, table: EmergencyTable, language: str
) -> None:
    first_aid = real.advice_block("first_aid").trip_card
    assert first_aid is not None
    lines = localize(first_aid, language).splitlines()
    block = card(real, table, language).split("\n\n")[1].splitlines()

    assert len(lines) == 3
    assert block == [real.text("trip_card_cramp_now", language), *lines]


# ------------------------------------------------------------------ numbers --
def test_the_numbers_name_the_country_its_notes_112_and_the_table_date(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    text = card(real, table, "en", "CH")

    assert "🚨 CALL 144 OR PRESS SOS NOW IF" in text
    assert "Switzerland: medical emergency 144 (112 also works from mobiles)" in text
    assert "Air rescue: Rega 1414" in text
    assert "checked 2026-11-25" in text
    assert "map coordinates" in text


def test_a_country_with_two_numbers_names_both_in_the_heading(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    assert "🚨 CALL 999/112 OR PRESS SOS NOW IF" in card(real, table, "en", "GB")


@pytest.mark.parametrize("language", LANGUAGES)
def test_without_a_country_the_card_gives_112_and_911(
    real: KnowledgeBase, table: EmergencyTable, language: str
) -> None:
    text = card(real, table, language, None)

    assert real.text("trip_card_call_if_no_number", language) in text
    assert real.text("trip_card_no_country", language) in text
    assert text.splitlines()[0] == real.text("trip_card_title", language)


# ------------------------------------------------------------ drinking plan --
def test_a_recent_plan_shows_its_numbers_and_its_overdrinking_warning(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    text = card(real, table, plan=PLAN, today=MADE + timedelta(days=3))

    assert "💧 Your /sweat plan (2026-06-01): at most 0.46 L/h, 110 mL per 15 min." in text
    assert "Stop drinking." in text
    assert real.text("trip_card_drink", "en") not in text


def test_a_norwegian_plan_has_decimal_commas(real: KnowledgeBase, table: EmergencyTable) -> None:
    text = card(real, table, "nb", plan=PLAN)

    assert "høyst 0,46 l/t, 110 ml per kvarter" in text


@pytest.mark.parametrize(
    ("age", "is_shown"),
    [(0, True), (PLAN_DAYS, True), (PLAN_DAYS + 1, False), (-1, False)],
)
def test_a_plan_shows_for_30_days_then_the_card_says_drink_to_thirst(
    real: KnowledgeBase, table: EmergencyTable, age: int, is_shown: bool
) -> None:
    text = card(real, table, plan=PLAN, today=MADE + timedelta(days=age))

    assert ("0.46 L/h" in text) is is_shown
    assert (real.text("trip_card_drink", "en") in text) is not is_shown


def test_an_overdrinking_test_gives_its_warning_and_no_amount(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    text = card(real, table, plan=TripPlan(made_on=MADE, kind="gained"))

    assert real.text("trip_card_plan_gained", "en").format(date="2026-06-01") in text
    assert "L/h" not in text


def test_a_heart_or_kidney_condition_gives_the_doctors_plan_and_no_amount(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    text = card(real, table, plan=TripPlan(made_on=MADE, kind="restricted"))

    assert real.text("trip_card_plan_restricted", "en") in text
    assert "L/h" not in text


# ------------------------------------------------------------------- length --
def test_every_card_fits_its_aim_in_every_language_country_and_plan(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    countries: list[CountryNumbers | None] = [None, *table.countries]
    lengths = {
        (language, None if country is None else country.code, plan and plan.kind): len(
            card_text(
                real, language, country=country, checked=table.checked, plan=plan, today=MADE
            )
        )
        for language in LANGUAGES
        for country in countries
        for plan in PLANS
    }

    assert len(lengths) == len(LANGUAGES) * (len(table.countries) + 1) * len(PLANS)
    longest = max(lengths, key=lambda combination: lengths[combination])
    assert lengths[longest] <= CARD_AIM < CARD_LIMIT, longest
    assert min(lengths.values()) > 900, "the card lost a section"


def test_every_card_line_is_short_enough_for_a_phone(
    real: KnowledgeBase, table: EmergencyTable
) -> None:
    """No table-like lines; a label or step fits about two lines of a small screen."""
    for language in LANGUAGES:
        text = card(real, table, language, "SJ", plan=PLAN)
        numbers = section_lines_after(text, real.text("trip_card_numbers", language))
        for line in text.splitlines():
            if line in numbers:
                continue  # the country's notes come from the table, a sentence or two
            assert len(line) <= 100, line
            assert "|" not in line
            assert "\t" not in line


def section_lines_after(text: str, heading_template: str) -> set[str]:
    prefix = heading_template.split("{", 1)[0]
    block = next(b for b in text.split("\n\n") if b.startswith(prefix))
    return set(block.splitlines())


# ------------------------------------------------------------ length lint --
def test_the_length_check_measures_the_worded_card_and_comes_in_through_checks() -> None:
    """The engine's lint leaves the length to `check_card_length`, which its callers pass."""
    too_long = REPO / "tests" / "kb" / "invalid" / "KB212_trip_card_over_one_message"

    assert lint_knowledge_base(too_long) == []
    issues = lint_knowledge_base(too_long, checks=(check_card_length,))
    assert [(issue.code, issue.severity) for issue in issues] == [("KB212", "error")]
    assert f"({CARD_LIMIT})" in issues[0].message
