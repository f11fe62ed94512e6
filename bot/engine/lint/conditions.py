"""Lint checks of every condition: what it names exists, and it is allowed where it stands.

KB201 (unknown finding), KB202 (unknown value of a finding), KB203 (unknown pattern or cause)
and KB209 (a cause condition outside advice, a level condition outside advice and `ask_if`),
in named patterns, `ask_if`, rules, cause signals, advice and cards.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.engine.kb.conditions import CauseIs, Condition, FindingIs, LevelIs, PatternIs
from bot.engine.kb.evaluation import walk
from bot.engine.kb.loader import KB_FILE
from bot.engine.lint.context import LintContext, Where, unknown
from bot.engine.primitives import UNKNOWN


def check_conditions(lint: LintContext) -> None:
    """Mark patterns that name an unknown pattern as broken, then check every condition."""
    lint.broken_patterns |= {
        node.pattern
        for condition, _, _ in conditions(lint)
        for node in walk(condition)
        if isinstance(node, PatternIs) and node.pattern not in lint.kb.patterns
    }
    for condition, where, scope in conditions(lint):
        _check_condition(lint, condition, where, scope)


def conditions(lint: LintContext) -> Iterator[tuple[Condition, Where, str]]:
    """Yield every condition in the knowledge base with where it is and its scope."""
    for name, condition in lint.kb.patterns.items():
        yield condition, lint.sources.at(KB_FILE, ("patterns", name)), "pattern"
    for index, question in enumerate(lint.kb.questions):
        if question.ask_if is not None:
            yield question.ask_if, lint.sources.locate("questions", index, "ask_if"), "ask"
    for index, rule in enumerate(lint.kb.rules):
        yield rule.when, lint.sources.locate("rules", index, "when"), "rule"
    for index, cause in enumerate(lint.kb.causes):
        for number, signal in enumerate(cause.signals):
            where = lint.sources.locate("causes", index, "signals", number, "when")
            yield signal.when, where, "signal"
    for index, block in enumerate(lint.kb.advice):
        for field in ("show_if", "hide_if"):
            condition = getattr(block, field)
            if condition is not None:
                yield condition, lint.sources.locate("advice", index, field), "advice"
    for index, card in enumerate(lint.kb.cards):
        yield card.when, lint.sources.at(KB_FILE, ("cards", index, "when")), "card"


def _check_condition(lint: LintContext, condition: Condition, where: Where, scope: str) -> None:
    causes = [cause.id for cause in lint.kb.causes]
    for node in walk(condition):
        if isinstance(node, FindingIs):
            _check_finding(lint, node.finding, node.values, where)
        elif isinstance(node, PatternIs) and node.pattern not in lint.kb.patterns:
            lint.add("KB203", where, unknown("pattern", node.pattern, lint.kb.patterns))
        elif isinstance(node, CauseIs):
            if node.cause not in causes:
                lint.add("KB203", where, unknown("cause", node.cause, causes))
            if scope != "advice":
                lint.add("KB209", where, "a cause condition is only allowed in advice")
        elif isinstance(node, LevelIs) and scope not in ("advice", "ask"):
            lint.add("KB209", where, f"a level condition is not allowed in a {scope}")


def _check_finding(lint: LintContext, code: str, values: tuple[str, ...], where: Where) -> None:
    if code not in lint.values:
        lint.add("KB201", where, unknown("finding", code, lint.values))
        return
    for value in values:
        if value != UNKNOWN and value not in lint.values[code]:
            lint.add("KB202", where, unknown(f"value of {code}", value, lint.values[code]))
