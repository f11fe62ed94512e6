"""The trip card's content: what to do and whom to call, in one message to read with no signal.

Built before a trip (/card in Telegram, `crampcheck card` in a terminal) and kept in the chat,
which Telegram shows offline. Everything on it comes from the knowledge base, so that it can
never disagree with the questionnaire: the first aid is the `trip_card` lines of the advice
that has them, and the red flags are the `trip_card` labels of the emergency and urgent rules,
all of them and nothing else (`red_flags`; lint KB211, KB505). The emergency numbers come from
the bundled table, the drinking line from a /sweat plan made in the last `PLAN_DAYS` days
(`TripPlan`), else the brief's "drink to thirst; never gain weight".

This module decides what goes on the card (`build_card` returns a `TripCard`, data only);
`bot/render/card.py` words it. Pure: the caller passes today's date.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import model_validator

from bot.engine.kb.models import KnowledgeBase
from bot.engine.numbers.table import CountryNumbers
from bot.engine.primitives import Frozen, Level, localize
from bot.engine.sweat.flow import SweatDone

CARD_AIM = 1500
"""Characters a card should stay within in every language, country and plan (lint KB505).

Issue 15 aimed at 1,200. Every emergency and urgent rule (16 labels), the first aid, the
longest country notes (mountain rescue numbers) and a plan need about 1,470 (December 2026),
so the warning sits just above what that content needs: a card that grows past it is to be
cut, not the aim raised."""
CARD_LIMIT = 4096
"""Telegram's limit for one message (lint KB212)."""
LABEL_AIM = 70
"""Characters a red-flag label should stay within: one line on a phone (lint KB505)."""
PLAN_DAYS = 30
"""A /sweat plan shows on the card for this many days after it was made."""
CARD_LEVELS = (Level.EMERGENCY, Level.URGENT)
"""The levels whose rules the card lists: "call now", then "get help today"."""
TEXT_KEYS = (
    "trip_card_title",
    "trip_card_cramp_now",
    "trip_card_call_if",
    "trip_card_call_if_no_number",
    "trip_card_today_if",
    "trip_card_numbers",
    "trip_card_no_country",
    "trip_card_say",
    "trip_card_drink",
    "trip_card_decimal",
    "trip_card_plan",
    "trip_card_plan_gained",
    "trip_card_plan_restricted",
)
"""The knowledge-base texts the card is worded with (lint KB206 when one is missing)."""

PlanKind = Literal["plan", "gained", "restricted", "small"]


class TripPlan(Frozen):
    """What the card shows of a /sweat plan: the day it was made, and its numbers or warning.

    `plan`: an hourly amount; `gained`: the test showed overdrinking, so no amount; `restricted`:
    a heart or kidney condition, so no amount; `small`: too little sweat for a set amount.
    """

    made_on: date
    kind: PlanKind
    litres_per_hour: float | None = None
    ml_per_15_min: float | None = None

    @model_validator(mode="after")
    def _numbers_only_with_a_plan(self) -> TripPlan:
        has_numbers = self.litres_per_hour is not None and self.ml_per_15_min is not None
        if has_numbers != (self.kind == "plan"):
            raise ValueError(f"a {self.kind} plan takes {'no ' * (self.kind != 'plan')}numbers")
        return self


class TripCard(Frozen):
    """One card, in one language: the lines it lists and what it names, not yet worded.

    `plan` is the /sweat plan to show (recent, with an amount or a warning), else None: the card
    then says "drink to thirst".
    """

    language: str
    country: CountryNumbers | None
    checked: date
    """The date of the emergency-number table."""
    first_aid: tuple[str, ...]
    emergency: tuple[str, ...]
    urgent: tuple[str, ...]
    plan: TripPlan | None = None


def trip_plan(done: SweatDone, made_on: date) -> TripPlan:
    """Return what the card keeps of /sweat's result, made on `made_on`."""
    plan = done.plan
    if plan is None or plan.is_restricted:
        return TripPlan(made_on=made_on, kind="restricted")
    if plan.status == "gained":
        return TripPlan(made_on=made_on, kind="gained")
    per_15_min = plan.planned_ml_per_15_min
    if plan.planned_l_per_h is None or per_15_min is None or _rounds_to_zero(per_15_min):
        return TripPlan(made_on=made_on, kind="small")
    return TripPlan(
        made_on=made_on,
        kind="plan",
        litres_per_hour=plan.planned_l_per_h,
        ml_per_15_min=per_15_min,
    )


def is_recent(plan: TripPlan, today: date) -> bool:
    """Tell whether `plan` was made in the last `PLAN_DAYS` days (and not after `today`)."""
    return timedelta(0) <= today - plan.made_on <= timedelta(days=PLAN_DAYS)


def red_flags(kb: KnowledgeBase, level: Level, language: str) -> tuple[str, ...]:
    """Return the card labels of the rules at `level`, in file order, each label once."""
    labels = (
        localize(rule.trip_card, language)
        for rule in kb.rules
        if rule.trip_card is not None and Level.from_code(rule.level) is level
    )
    return tuple(dict.fromkeys(labels))


def first_aid(kb: KnowledgeBase, language: str) -> tuple[str, ...]:
    """Return the card's "Cramp now" lines: the `trip_card` text of each advice block with one."""
    return tuple(
        line
        for block in kb.advice
        if block.trip_card is not None
        for line in localize(block.trip_card, language).splitlines()
        if line.strip()
    )


def build_card(
    kb: KnowledgeBase,
    language: str,
    *,
    country: CountryNumbers | None,
    checked: date,
    plan: TripPlan | None = None,
    today: date | None = None,
) -> TripCard:
    """Return the card in `language` for a trip to `country` (None: not chosen).

    `checked` is the date of the emergency-number table; `plan` shows when made within
    `PLAN_DAYS` days of `today` and it has an amount or a warning to give.
    """
    is_shown = (
        plan is not None and today is not None and is_recent(plan, today) and plan.kind != "small"
    )
    return TripCard(
        language=language,
        country=country,
        checked=checked,
        first_aid=first_aid(kb, language),
        emergency=red_flags(kb, Level.EMERGENCY, language),
        urgent=red_flags(kb, Level.URGENT, language),
        plan=plan if is_shown else None,
    )


def _rounds_to_zero(ml: float) -> bool:
    """Tell whether `ml` shows as 0 mL at the card's 10 mL step (half up, as render does)."""
    exact = Decimal(f"{ml:.9f}")  # drop float noise first: 4.9999999999 is really 5
    return (exact / Decimal(10)).quantize(Decimal(1), rounding=ROUND_HALF_UP) == 0
