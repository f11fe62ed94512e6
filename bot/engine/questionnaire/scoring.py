"""From findings to an outcome: the triage level, the ranked causes and the advice to show."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.engine.kb.evaluation import Context, holds
from bot.engine.kb.models import Advice, KnowledgeBase, Rule, Signal
from bot.engine.primitives import UNKNOWN, Level

LIKELY_SCORE = 2
"""A cause scoring at least this is named as likely (the top cause always is, if above 0)."""


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: Rule
    evidence: dict[str, str]
    """The findings the rule reads, with their answers: the "why" of the level."""


@dataclass(frozen=True, slots=True)
class CauseScore:
    cause: str
    score: int
    signals: tuple[tuple[Signal, dict[str, str]], ...]


def _context(kb: KnowledgeBase, answers: Mapping[str, str]) -> Context:
    return Context(answers=answers, patterns=kb.patterns)


def _evidence(codes: frozenset[str], answers: Mapping[str, str]) -> dict[str, str]:
    """Return the answers to `codes` that are known, in the order answered."""
    return {code: value for code, value in answers.items() if code in codes and value != UNKNOWN}


def triage(kb: KnowledgeBase, answers: Mapping[str, str]) -> tuple[Level, tuple[RuleHit, ...]]:
    """Return the most urgent level any rule forces, and every rule that fired."""
    context = _context(kb, answers)
    hits = tuple(
        RuleHit(rule, _evidence(kb.rule_reads[rule.id], answers))
        for rule in kb.rules
        if holds(rule.when, context)
    )
    level = max((Level.from_code(hit.rule.level) for hit in hits), default=Level.SELF_CARE)
    return level, hits


def triage_level(kb: KnowledgeBase, answers: Mapping[str, str]) -> Level:
    """Return the most urgent level any rule forces: `triage`'s level, without the hits.

    The rules are tried most urgent first, so the first that holds decides; this runs on
    every press, `triage` only for a result.
    """
    return kb.urgency(_context(kb, answers))


def rank_causes(kb: KnowledgeBase, answers: Mapping[str, str]) -> tuple[CauseScore, ...]:
    """Score every cause from its signals, best first (ties keep knowledge-base order)."""
    context = _context(kb, answers)
    scores = []
    for cause, signals in kb.signal_tests:
        fired = tuple(
            (signal, _evidence(reads, answers)) for signal, test, reads in signals if test(context)
        )
        scores.append(CauseScore(cause.id, cause.prior + sum(s.weight for s, _ in fired), fired))
    return tuple(sorted(scores, key=lambda score: -score.score))


def likely_causes(ranked: tuple[CauseScore, ...], level: Level) -> tuple[CauseScore, ...]:
    """Keep the causes worth naming: the top one if it scores, and any scoring LIKELY_SCORE.

    At `urgent` and above a cause is named only when an answer pointed to it: a prior alone
    ("cramps are usually tired muscles") must not explain away a red flag.
    """
    return tuple(
        score
        for index, score in enumerate(ranked)
        if score.score > 0
        and (index == 0 or score.score >= LIKELY_SCORE)
        and (level < Level.URGENT or any(signal.weight > 0 for signal, _ in score.signals))
    )


def select_advice(
    kb: KnowledgeBase,
    answers: Mapping[str, str],
    *,
    level: Level,
    causes: frozenset[str],
) -> tuple[Advice, ...]:
    """Return the advice blocks whose conditions hold, in section order."""
    context = Context(answers=answers, patterns=kb.patterns, level=level, causes=causes)
    return tuple(
        block
        for block, show, hide in kb.result_advice
        if (show is None or show(context)) and not (hide is not None and hide(context))
    )
