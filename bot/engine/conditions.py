"""Evaluation of the declarative conditions used by questions, rules, causes and advice."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from bot.engine.condition_models import (
    AllOf,
    AnyOf,
    CauseIs,
    Condition,
    FindingIs,
    LevelIs,
    NotOf,
    PatternIs,
)
from bot.engine.models import UNKNOWN
from bot.engine.primitives import Level


@dataclass(frozen=True, slots=True)
class Context:
    """What a condition can look at: answers so far, and (for advice) the outcome."""

    answers: Mapping[str, str]
    patterns: Mapping[str, Condition]
    level: Level = Level.SELF_CARE
    causes: frozenset[str] = field(default_factory=frozenset)


def holds(condition: Condition, context: Context) -> bool:
    """Tell whether `condition` is true in `context`; unanswered findings read ``unknown``."""
    match condition:
        case FindingIs(finding=code, values=values):
            return context.answers.get(code, UNKNOWN) in values
        case AllOf(all_of=parts):
            return all(holds(part, context) for part in parts)
        case AnyOf(any_of=parts):
            return any(holds(part, context) for part in parts)
        case NotOf(negated=part):
            return not holds(part, context)
        case LevelIs(levels=levels):
            return context.level.code in levels
        case CauseIs(cause=cause):
            return cause in context.causes
        case PatternIs(pattern=name):
            return holds(context.patterns[name], context)
    raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover - union is closed


def walk(condition: Condition) -> Iterator[Condition]:
    """Yield `condition` and every condition nested in it."""
    yield condition
    match condition:
        case AllOf(all_of=parts) | AnyOf(any_of=parts):
            for part in parts:
                yield from walk(part)
        case NotOf(negated=part):
            yield from walk(part)


def nodes(
    condition: Condition, patterns: Mapping[str, Condition], _seen: frozenset[str] = frozenset()
) -> Iterator[Condition]:
    """Yield every node, following each named pattern once (a cycle is KB403, not a hang)."""
    for node in walk(condition):
        yield node
        if isinstance(node, PatternIs) and node.pattern in patterns and node.pattern not in _seen:
            yield from nodes(patterns[node.pattern], patterns, _seen | {node.pattern})


def findings_in(condition: Condition, patterns: Mapping[str, Condition]) -> set[str]:
    """Return the finding codes a condition reads, following named patterns."""
    return {node.finding for node in nodes(condition, patterns) if isinstance(node, FindingIs)}


def maybe(condition: Condition, context: Context, open_findings: frozenset[str]) -> bool | None:
    """Three-valued `holds`: None when the answer depends on findings still to be asked.

    Kleene logic: `all` is False as soon as one part is False, `any` True as soon as one is
    True. Used to tell whether a rule could still fire, so that a question that cannot
    change the outcome is not asked.
    """
    match condition:
        case FindingIs(finding=code):
            return None if code in open_findings else holds(condition, context)
        case AllOf(all_of=parts):
            results = [maybe(part, context, open_findings) for part in parts]
            return False if False in results else (None if None in results else True)
        case AnyOf(any_of=parts):
            results = [maybe(part, context, open_findings) for part in parts]
            return True if True in results else (None if None in results else False)
        case NotOf(negated=part):
            result = maybe(part, context, open_findings)
            return None if result is None else not result
        case PatternIs(pattern=name):
            return maybe(context.patterns[name], context, open_findings)
        case CauseIs():
            return None
    return holds(condition, context)
