"""What goes on the trip card (bot/engine/card.py): the knowledge base's red flags and first aid,
and the /sweat plan the card keeps for 30 days. Its wording: tests/render/test_card.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.engine.card import PLAN_DAYS, TripPlan, build_card, trip_plan
from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import KnowledgeBase
from bot.engine.numbers.table import EmergencyTable, lookup
from bot.engine.primitives import localize
from bot.engine.sweat.arithmetic import compute_plan
from bot.engine.sweat.config import SweatInput
from bot.engine.sweat.flow import SweatDone
from tests.engine.helpers import real_kb

MADE = date(2026, 6, 1)
PLAN = TripPlan(made_on=MADE, kind="plan", litres_per_hour=0.456, ml_per_15_min=114.0)


@pytest.fixture(scope="module")
def real() -> KnowledgeBase:
    return real_kb()


@pytest.fixture(scope="module")
def table() -> EmergencyTable:
    return load_tables().numbers


@pytest.mark.parametrize("language", ["en", "nb"])
def test_the_card_holds_each_emergency_and_urgent_label_once_in_rule_order(
    real: KnowledgeBase, table: EmergencyTable, language: str
) -> None:
    """Derived from the rules here, not through the builder's own helpers."""
    card = build_card(real, language, country=lookup(table, "NO"), checked=table.checked)

    for level, listed in (("emergency", card.emergency), ("urgent", card.urgent)):
        expected = [
            localize(rule.trip_card, language)
            for rule in real.rules
            if rule.level == level and rule.trip_card is not None
        ]
        assert listed == tuple(dict.fromkeys(expected))
        assert len(expected) == len([rule for rule in real.rules if rule.level == level])


def test_the_first_aid_is_the_first_aid_advice_line_by_line(real: KnowledgeBase) -> None:
    block = real.advice_block("first_aid").trip_card
    assert block is not None

    card = build_card(real, "en", country=None, checked=MADE)

    assert card.first_aid == tuple(localize(block, "en").splitlines())
    assert len(card.first_aid) == 3


@pytest.mark.parametrize(
    ("age", "is_shown"),
    [(0, True), (PLAN_DAYS, True), (PLAN_DAYS + 1, False), (-1, False)],
)
def test_the_card_keeps_a_plan_for_30_days(real: KnowledgeBase, age: int, is_shown: bool) -> None:
    today = MADE + timedelta(days=age)
    card = build_card(real, "en", country=None, checked=MADE, plan=PLAN, today=today)

    assert (card.plan == PLAN) is is_shown
    assert (card.plan is None) is not is_shown


def test_a_plan_too_small_for_an_amount_or_without_a_date_is_not_shown(
    real: KnowledgeBase,
) -> None:
    small = TripPlan(made_on=MADE, kind="small")

    assert build_card(real, "en", country=None, checked=MADE, plan=small, today=MADE).plan is None
    assert build_card(real, "en", country=None, checked=MADE, plan=PLAN).plan is None


def _done(*, before: float, after: float, fluid: float, restricted: bool = False) -> SweatDone:
    """/sweat's own result for a 2-hour session (sweat/arithmetic.py compute_plan)."""
    data = SweatInput(
        weight_before_kg=before,
        weight_after_kg=after,
        fluid_l=fluid,
        duration_h=2.0,
        fluid_restricted=restricted,
    )
    return SweatDone(compute_plan(load_tables().sweat, data))


def test_trip_plan_keeps_the_planned_amounts_or_the_kind_of_warning() -> None:
    done = _done(before=70.0, after=69.0, fluid=0.5)
    assert done.plan is not None
    kept = trip_plan(done, MADE)
    assert kept.kind == "plan"
    assert kept.litres_per_hour == done.plan.planned_l_per_h
    assert kept.ml_per_15_min == done.plan.planned_ml_per_15_min
    assert 0 < (kept.litres_per_hour or 0) <= 0.75, "at most the sweat rate of 0.75 L/h"

    assert trip_plan(_done(before=70.0, after=70.4, fluid=1.5), MADE).kind == "gained"
    restricted = _done(before=70.0, after=69.0, fluid=0.5, restricted=True)
    assert trip_plan(restricted, MADE).kind == "restricted"
    assert trip_plan(SweatDone(None), MADE).kind == "restricted"
    assert trip_plan(_done(before=70.0, after=70.0, fluid=0.0), MADE).kind == "small"


def test_a_plan_with_numbers_must_be_of_kind_plan() -> None:
    with pytest.raises(ValueError, match="numbers"):
        TripPlan(made_on=MADE, kind="gained", litres_per_hour=0.5, ml_per_15_min=120)
    with pytest.raises(ValueError, match="numbers"):
        TripPlan(made_on=MADE, kind="plan")
