"""Lint checks of the advice, and the warnings for what is never used.

KB203 (a card names unknown advice), KB204 (unknown advice code), KB205 (advice tagged with a
code the bot must never advise), KB210 (advice with no code), KB404 (a level at which no
advice can be shown); warnings KB501 (a cause no advice uses), KB502 (advice that can never
be shown) and KB503 (a finding no question asks).
"""

from __future__ import annotations

from typing import Any

from bot.engine.kb.conditions import CauseIs
from bot.engine.kb.evaluation import walk
from bot.engine.kb.loader import KB_FILE
from bot.engine.lint.context import LintContext, unknown
from bot.engine.primitives import Level


def check_advice(lint: LintContext) -> None:
    """Report bad advice codes and card links, and levels with no advice (KB203-205, 210, 404)."""
    known = lint.kb.advice_codes
    for index, block in enumerate(lint.kb.advice):
        where = lint.sources.locate("advice", index, "codes")
        if not block.codes:
            lint.add("KB210", where, f"advice {block.id} carries no advice code")
        for code in block.codes:
            if code not in known:
                lint.add("KB204", where, unknown("advice code", code, known))
            elif code in lint.kb.never_codes:
                lint.add(
                    "KB205",
                    where,
                    f"advice {block.id} is tagged {code}, which the bot must never advise",
                )
    ids = [block.id for block in lint.kb.advice]
    for index, card in enumerate(lint.kb.cards):
        if card.advice not in ids:
            where = lint.sources.at(KB_FILE, ("cards", index, "advice"))
            lint.add("KB203", where, unknown("advice", card.advice, ids))
    for level in Level:
        if not any(
            _can_show(lint, block, level)
            for block in lint.kb.advice
            if block.section == "action" or level is Level.SELF_CARE
        ):
            where = lint.sources.at("advice.yaml", ())
            lint.add("KB404", where, f"no advice can ever be shown at level {level.code}")


def _can_show(lint: LintContext, block: Any, level: Level) -> bool:
    return block.section != "card" and lint.satisfiable(block.show_if, level=level)


def check_usage(lint: LintContext) -> None:
    """Warn about causes, advice and findings that are never used (KB501-503)."""
    used_causes = {
        node.cause
        for block in lint.kb.advice
        for condition in (block.show_if, block.hide_if)
        if condition is not None
        for node in walk(condition)
        if isinstance(node, CauseIs)
    }
    for index, cause in enumerate(lint.kb.causes):
        if cause.id not in used_causes:
            lint.add(
                "KB501",
                lint.sources.locate("causes", index),
                f"cause {cause.id} is never used by any advice",
                "warning",
            )
    for index, block in enumerate(lint.kb.advice):
        if block.section != "card" and not lint.satisfiable(block.show_if):
            lint.add(
                "KB502",
                lint.sources.locate("advice", index, "show_if"),
                f"advice {block.id} can never be shown",
                "warning",
            )
    asked = {code for question in lint.kb.questions for code in question.findings}
    for index, finding in enumerate(lint.kb.findings):
        if finding.code not in asked and finding.not_asked is None:
            lint.add(
                "KB503",
                lint.sources.locate("findings", index),
                f"finding {finding.code} is never asked",
                "warning",
            )
