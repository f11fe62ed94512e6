"""The trip card as the user reads it: headings, bullets, numbers and the drinking line.

`bot/engine/card.py` decides what goes on the card (`TripCard`); this module words it from the
knowledge base's `trip_card_*` texts, in plain text with short lines and no tables, the
emergency part first, so that it reads on a small screen. Numbers are rounded here (0.01 L/h,
10 mL), half up, with the language's decimal separator.

`check_card_length` is the lint check of the card's length (KB212 past one Telegram message,
the warning KB505 past `CARD_AIM`): it measures this wording, so it lives beside it and comes
into `bot.engine.lint` through the `checks` of its callers (`bot/cli/main.py`).
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from bot.engine.card import (
    CARD_AIM,
    CARD_LIMIT,
    TEXT_KEYS,
    TripCard,
    TripPlan,
    build_card,
)
from bot.engine.kb.loader import KB_FILE
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint.context import LintContext
from bot.engine.numbers.table import CountryNumbers
from bot.engine.primitives import localize
from bot.render.numbers import numbers_line

BULLET = "• "


def card_text(
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
    `PLAN_DAYS` days of `today` (`bot.engine.card.build_card`).
    """
    card = build_card(kb, language, country=country, checked=checked, plan=plan, today=today)
    return render_card(kb, card)


def render_card(kb: KnowledgeBase, card: TripCard) -> str:
    """Word `card`: title, cramp now, call now if, get help today if, numbers, drinking."""
    say = _Texts(kb, card.language)
    title = say("trip_card_title")
    if card.country is not None:
        title += f" · {localize(card.country.name, card.language)}"
    blocks = [
        title,
        _section(say("trip_card_cramp_now"), card.first_aid, bullet=""),
        _section(_call_heading(say, card.country), card.emergency),
        _section(say("trip_card_today_if"), card.urgent),
        _numbers(say, card.country, card.checked),
        _drinking(say, card.plan),
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


def _drinking(say: _Texts, plan: TripPlan | None) -> str:
    """Return the plan's numbers and overdrinking warning, its warning alone, or the brief's
    "drink to thirst; never gain weight" when the card shows no plan."""
    if plan is None:
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
    """Round half up to `step`, as /sweat's own text does (render/sweat.py)."""
    exact = Decimal(f"{value:.9f}")
    return (exact / Decimal(step)).quantize(Decimal(1), rounding=ROUND_HALF_UP) * Decimal(step)


# --- lint: the card's length -----------------------------------------------------------------

SOME_DAY = date(2026, 1, 1)
"""Any date: a plan made that day, the card built the same day."""
PLANS: tuple[TripPlan | None, ...] = (
    None,
    TripPlan(made_on=SOME_DAY, kind="plan", litres_per_hour=0.88, ml_per_15_min=220),
    TripPlan(made_on=SOME_DAY, kind="gained"),
    TripPlan(made_on=SOME_DAY, kind="restricted"),
)
"""The card's drinking line in each of its forms, with numbers as long as /sweat gives."""


def check_card_length(lint: LintContext) -> None:
    """Report the longest card of each language, over every country of the emergency-number
    table beside the knowledge base (or no country when there is none) and every kind of
    plan: KB212 past one Telegram message, KB505 (a warning) past `CARD_AIM`. A card with a
    text missing is not measured: `bot.engine.lint.card` reports that (KB206)."""
    if not _has_every_language(lint.kb):
        return
    countries, checked = _countries(lint)
    for language in lint.kb.languages:
        # Each section hangs on the country or on the plan, never on both: the longest card
        # is the longest country's with its longest plan (tests/render builds them all).
        country = max(countries, key=lambda c: len(_card(lint, language, c, checked, None)))
        plan = max(PLANS, key=lambda p: len(_card(lint, language, country, checked, p)))
        length = len(_card(lint, language, country, checked, plan))
        where = _name(country, plan)
        at = lint.sources.at(KB_FILE, ("texts", "trip_card_title"))
        if length > CARD_LIMIT:
            message = f"the {language} trip card is {length} characters {where}"
            lint.add("KB212", at, f"{message}: more than one message ({CARD_LIMIT})")
        elif length > CARD_AIM:
            message = f"the {language} trip card is {length} characters {where}"
            lint.add("KB505", at, f"{message} (aim: {CARD_AIM})", "warning")


def _has_every_language(kb: KnowledgeBase) -> bool:
    """Tell whether every text the card is worded with is there in every language."""
    if any(key not in kb.texts for key in TEXT_KEYS):
        return False
    texts = [kb.texts[key] for key in TEXT_KEYS]
    texts += [r.trip_card for r in kb.rules if r.trip_card is not None]
    texts += [b.trip_card for b in kb.advice if b.trip_card is not None]
    return all(set(kb.languages) <= text.keys() for text in texts)


def _card(
    lint: LintContext,
    language: str,
    country: CountryNumbers | None,
    checked: date,
    plan: TripPlan | None,
) -> str:
    kb = lint.kb
    return card_text(kb, language, country=country, checked=checked, plan=plan, today=SOME_DAY)


def _countries(lint: LintContext) -> tuple[list[CountryNumbers | None], date]:
    """Return the countries of the table beside the knowledge base (None: no country), and
    the table's date; only no country when there is no table (its own errors are KB101)."""
    table = lint.numbers
    if table is None:
        return [None], SOME_DAY
    return [None, *table.countries], table.checked


def _name(country: CountryNumbers | None, plan: TripPlan | None) -> str:
    place = "with no country" if country is None else f"for {localize(country.name, 'en')}"
    return f"{place} and {'no plan' if plan is None else f'a plan of kind {plan.kind}'}"
