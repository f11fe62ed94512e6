"""Follow-up check-ins: which ones to offer after a result, when they fall due, what a reply means.

After any result short of an emergency the user may ask to be checked on in 30 minutes; when low
blood sodium or muscle breakdown is possible (both can show up hours later) also "in the
morning". The bot knows no time zone, so "morning" honestly means about 12 hours later and the
button says so. Which results are "relevant" is content: the knowledge-base pattern named by
`LATE_ONSET_PATTERN` (with its sources in kb.yaml); a knowledge base without it offers 30 minutes
only. A reply of "worse" or "new symptoms" re-runs the red-flag screen.
"""

from __future__ import annotations

from typing import Literal

from bot.engine.errors import EngineError
from bot.engine.kb.evaluation import Context, holds
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import Level
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Result, Step
from bot.engine.questionnaire.session import Session

Offer = Literal["30min", "morning"]
Reply = Literal["better", "same", "worse", "new"]

LATE_ONSET_PATTERN = "late_onset_risk"
"""The kb.yaml pattern that makes a "tomorrow morning" check-in worth offering."""
DELAY_SECONDS: dict[Offer, float] = {"30min": 30 * 60, "morning": 12 * 60 * 60}
"""How long after the press each check-in falls due; "morning" is about 12 hours (no time zone)."""
RECHECK_REPLIES: frozenset[Reply] = frozenset({"worse", "new"})


def offers(kb: KnowledgeBase, result: Result) -> tuple[Offer, ...]:
    """Return the check-ins to offer under `result`; none for an emergency (help is needed now)."""
    if result.level is Level.EMERGENCY:
        return ()
    if has_late_onset_risk(kb, result):
        return ("30min", "morning")
    return ("30min",)


def has_late_onset_risk(kb: KnowledgeBase, result: Result) -> bool:
    """Tell whether the result's findings meet the knowledge base's late-onset pattern."""
    pattern = kb.patterns.get(LATE_ONSET_PATTERN)
    if pattern is None:
        return False
    context = Context(answers=result.findings, patterns=kb.patterns, level=result.level)
    return holds(pattern, context)  # the knowledge base's own object: compiled once


def due_at(offer: Offer, *, now: float) -> float:
    """Return when a check-in of kind `offer` requested at `now` (epoch seconds) falls due."""
    return now + DELAY_SECONDS[offer]


def needs_recheck(reply: Reply) -> bool:
    """Tell whether a check-in reply calls for the red-flag screen again (worse, new symptoms)."""
    return reply in RECHECK_REPLIES


def red_flag_screen(kb: KnowledgeBase) -> str:
    """Return the id of the first question that asks about a red-flag finding."""
    red_flags = {finding.code for finding in kb.findings if finding.red_flag}
    for question in kb.questions:
        if red_flags.intersection(question.findings):
            return question.id
    raise EngineError(f"knowledge base {kb.version} has no question about a red-flag finding")


def recheck(kb: KnowledgeBase) -> tuple[Session, Step]:
    """Begin a new questionnaire at the red-flag screen, for a check-in reply of worse or new."""
    return machine.start_at(kb, red_flag_screen(kb))
