"""Lint checks of the trip card (`trip_card.py`): complete, in every language, and short.

KB211 (an emergency or urgent rule without a `trip_card` label, or no advice with `trip_card`
lines: the card would leave out a red flag or the first aid), KB206 (a text the card is built
from is missing; a label's missing language is KB206 of `check_texts`), KB212 (a card longer
than one Telegram message) and the warning KB505 (a card over `CARD_AIM` characters, a label
over `LABEL_AIM`, or a label on a rule the card never lists). Lengths are measured for every
language, for every country of the emergency-number table beside the knowledge base (or with
no country when there is none), and with each kind of drinking plan.
"""

from __future__ import annotations

from datetime import date

from bot.engine.lint_context import LintContext
from bot.engine.loader import KB_FILE
from bot.engine.numbers import CountryNumbers
from bot.engine.primitives import Level, localize
from bot.engine.trip_card import (
    CARD_AIM,
    CARD_LEVELS,
    CARD_LIMIT,
    LABEL_AIM,
    TEXT_KEYS,
    TripPlan,
    trip_card_text,
)

SOME_DAY = date(2026, 1, 1)
"""Any date: a plan made that day, the card built the same day."""
PLANS: tuple[TripPlan | None, ...] = (
    None,
    TripPlan(made_on=SOME_DAY, kind="plan", litres_per_hour=0.88, ml_per_15_min=220),
    TripPlan(made_on=SOME_DAY, kind="gained"),
    TripPlan(made_on=SOME_DAY, kind="restricted"),
)
"""The card's drinking line in each of its forms, with numbers as long as the planner gives."""


def check_trip_card(lint: LintContext) -> None:
    """Report a card that leaves something out (KB211, KB206) or is too long (KB212, KB505)."""
    _check_labels(lint)
    if not any(block.trip_card is not None for block in lint.kb.advice):
        where = lint.sources.at("advice.yaml", ())
        lint.add("KB211", where, "no advice has trip_card lines: the card would have no first aid")
    missing = [key for key in TEXT_KEYS if key not in lint.kb.texts]
    for key in missing:
        lint.add("KB206", lint.sources.at(KB_FILE, ("texts",)), f"missing text {key}")
    if not missing and _has_every_language(lint):
        _check_length(lint)


def _check_labels(lint: LintContext) -> None:
    for index, rule in enumerate(lint.kb.rules):
        is_listed = Level.from_code(rule.level) in CARD_LEVELS
        where = lint.sources.locate("rules", index, "trip_card")
        if rule.trip_card is None:
            if is_listed:
                lint.add("KB211", where, f"{rule.level} rule {rule.id} has no trip_card label")
            continue
        if not is_listed:
            message = f"{rule.level} rule {rule.id}: the trip card never lists its label"
            lint.add("KB505", where, message, "warning")
        for language, label in rule.trip_card.items():
            if len(label) > LABEL_AIM:
                message = f"{language} label of {rule.id} is {len(label)} characters"
                lint.add("KB505", where, f"{message} (aim: {LABEL_AIM})", "warning")


def _has_every_language(lint: LintContext) -> bool:
    """Tell whether every text the card is built from has every language (else: KB206)."""
    texts = [lint.kb.texts[key] for key in TEXT_KEYS]
    texts += [r.trip_card for r in lint.kb.rules if r.trip_card is not None]
    texts += [b.trip_card for b in lint.kb.advice if b.trip_card is not None]
    return all(set(lint.kb.languages) <= text.keys() for text in texts)


def _check_length(lint: LintContext) -> None:
    """Report the longest card of each language, over every country and plan."""
    countries, checked = _countries(lint)
    for language in lint.kb.languages:
        # Each section hangs on the country or on the plan, never on both: the longest card
        # is the longest country's with its longest plan (tests/engine builds them all).
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


def _card(
    lint: LintContext,
    language: str,
    country: CountryNumbers | None,
    checked: date,
    plan: TripPlan | None,
) -> str:
    return trip_card_text(
        lint.kb, language, country=country, checked=checked, plan=plan, today=SOME_DAY
    )


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
