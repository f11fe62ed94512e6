"""Lint checks of the trip card (`bot/engine/card.py`): complete, in every language.

KB211 (an emergency or urgent rule without a `trip_card` label, or no advice with `trip_card`
lines: the card would leave out a red flag or the first aid), KB206 (a text the card is worded
with is missing; a label's missing language is KB206 of `check_texts`) and the warning KB505 (a
label over `LABEL_AIM`, or a label on a rule the card never lists). The card's length (KB212,
and KB505 past `CARD_AIM`) is measured on its wording: `bot.render.card.check_card_length`.
"""

from __future__ import annotations

from bot.engine.card import CARD_LEVELS, LABEL_AIM, TEXT_KEYS
from bot.engine.kb.loader import KB_FILE
from bot.engine.lint.context import LintContext
from bot.engine.primitives import Level


def check_card(lint: LintContext) -> None:
    """Report a card that would leave something out (KB211, KB206) or a label too long or
    never shown (KB505)."""
    _check_labels(lint)
    if not any(block.trip_card is not None for block in lint.kb.advice):
        where = lint.sources.at("advice.yaml", ())
        lint.add("KB211", where, "no advice has trip_card lines: the card would have no first aid")
    for key in TEXT_KEYS:
        if key not in lint.kb.texts:
            lint.add("KB206", lint.sources.at(KB_FILE, ("texts",)), f"missing text {key}")


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
