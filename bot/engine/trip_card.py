"""The trip card: what to do and whom to call, in one message to read with no signal.

Built before a trip (/card in Telegram, `crampcheck card` in a terminal) and kept in the chat,
which Telegram shows offline. Everything on it comes from the knowledge base, so that it can
never disagree with the questionnaire: the first aid is the `trip_card` lines of the advice
that has them, and the red flags are the `trip_card` labels of the emergency and urgent rules,
all of them and nothing else (`red_flags`; lint KB211 and KB212, KB505). The emergency numbers
come from the bundled table (`numbers.py`), the drinking line from a /sweat plan made in the
last `PLAN_DAYS` days (`TripPlan`), else the brief's "drink to thirst; never gain weight".

Pure: the caller passes today's date. Plain text, short lines, no tables, the emergency part
first, so that it reads on a small screen.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from pydantic import model_validator

from bot.engine.models import KnowledgeBase
from bot.engine.numbers import CountryNumbers, numbers_line
from bot.engine.planner_flow import PlannerDone
from bot.engine.primitives import Frozen, Level, localize

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
"""The knowledge-base texts the card is built from (lint KB206 when one is missing)."""
BULLET = "• "

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


def trip_plan(done: PlannerDone, made_on: date) -> TripPlan:
    """Return what the card keeps of the planner's result, made on `made_on`."""
    plan = done.plan
    if plan is None or plan.is_restricted:
        return TripPlan(made_on=made_on, kind="restricted")
    if plan.status == "gained":
        return TripPlan(made_on=made_on, kind="gained")
    per_15_min = plan.planned_ml_per_15_min
    if plan.planned_l_per_h is None or per_15_min is None or _rounded(per_15_min, "10") == 0:
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


def trip_card_text(
    kb: KnowledgeBase,
    language: str,
    *,
    country: CountryNumbers | None,
    checked: date,
    plan: TripPlan | None = None,
    today: date | None = None,
) -> str:
    """Return the card in `language` for a trip to `country` (None: not chosen).

    `checked` is the date of the emergency-number table; `plan` shows when made within
    `PLAN_DAYS` days of `today`.
    """
    say = _Texts(kb, language)
    title = say("trip_card_title")
    if country is not None:
        title += f" · {localize(country.name, language)}"
    blocks = [
        title,
        _section(say("trip_card_cramp_now"), first_aid(kb, language), bullet=""),
        _section(_call_heading(say, country), red_flags(kb, Level.EMERGENCY, language)),
        _section(say("trip_card_today_if"), red_flags(kb, Level.URGENT, language)),
        _numbers(say, country, checked),
        _drinking(say, plan, today),
    ]
    return "\n\n".join(blocks)


class _Texts:
    """The knowledge base's texts in one language, with placeholders filled in."""

    def __init__(self, kb: KnowledgeBase, language: str) -> None:
        self.kb = kb
        self.language = language

    def __call__(self, key: str, **values: str) -> str:
        text = self.kb.text(key, self.language)
        return text.format(**values) if values else text

    def decimal(self, value: float, step: str) -> str:
        shown = format(_rounded(value, step).normalize(), "f")
        return shown.replace(".", self("trip_card_decimal"))


def _section(heading: str, lines: tuple[str, ...], *, bullet: str = BULLET) -> str:
    return "\n".join([heading, *(f"{bullet}{line}" for line in lines)])


def _call_heading(say: _Texts, country: CountryNumbers | None) -> str:
    if country is None:
        return say("trip_card_call_if_no_number")
    return say("trip_card_call_if", number="/".join(country.ambulance))


def _numbers(say: _Texts, country: CountryNumbers | None, checked: date) -> str:
    lines = [say("trip_card_numbers", date=checked.isoformat())]
    if country is None:
        lines.append(say("trip_card_no_country"))
    else:
        lines.append(numbers_line(country, say.language))
        if country.notes is not None:
            lines.append(localize(country.notes, say.language))
    lines.append(say("trip_card_say"))
    return "\n".join(lines)


def _drinking(say: _Texts, plan: TripPlan | None, today: date | None) -> str:
    """Return the plan's numbers and overdrinking warning, its warning alone, or the brief's
    "drink to thirst; never gain weight" when there is no plan from the last `PLAN_DAYS` days."""
    if plan is None or today is None or not is_recent(plan, today) or plan.kind == "small":
        return say("trip_card_drink")
    made = plan.made_on.isoformat()
    if plan.kind == "gained":
        return say("trip_card_plan_gained", date=made)
    if plan.litres_per_hour is None or plan.ml_per_15_min is None:  # restricted
        return say("trip_card_plan_restricted")
    rate = say.decimal(plan.litres_per_hour, "0.01")
    per_15_min = say.decimal(plan.ml_per_15_min, "10")
    return say("trip_card_plan", date=made, rate=rate, per_15_min=per_15_min)


def _rounded(value: float, step: str) -> Decimal:
    """Round half up to `step`, as the planner's own text does (planner_text.py)."""
    exact = Decimal(f"{value:.9f}")
    return (exact / Decimal(step)).quantize(Decimal(1), rounding=ROUND_HALF_UP) * Decimal(step)
