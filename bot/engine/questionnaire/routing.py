"""Which question comes next: knowledge-base order, `ask_if`, and whether it can matter.

A question is asked when its `ask_if` holds over the answers so far (XLSForm's `relevant`) and
some answer to it could change something: the triage level, the top cause or the advice shown
(issue 13: "ask only what can change something"). One marked `skip_if_settled` is asked only
while some rule above the current level reads it and could still fire (three-valued `maybe`
over the findings not yet asked). `can_raise_level` tells the machine when the level is final,
so that it can show the interim answer.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.engine.kb.evaluation import Context, holds, maybe
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase, SingleQuestion
from bot.engine.primitives import Level
from bot.engine.questionnaire.scoring import (
    CauseScore,
    likely_causes,
    rank_causes,
    select_advice,
    triage_level,
)
from bot.engine.questionnaire.session import Session, checklist_findings

Question = SingleQuestion | ChecklistQuestion
Outcome = tuple[Level, str | None, tuple[str, ...], tuple[str, ...]]
"""What a person is told: the level, the top cause, the card ids and the advice block ids."""


def next_question(
    kb: KnowledgeBase,
    session: Session,
    findings: dict[str, str] | None = None,
    level: Level | None = None,
) -> Question | None:
    """Return the first question after the last answered one that is relevant and can matter.

    `findings` and `level` are the session's, when the caller has worked them out already.
    """
    findings = session.findings(kb) if findings is None else findings
    last = _last_answered(kb, session)
    level = triage_level(kb, findings) if level is None else level
    context = Context(answers=findings, patterns=kb.patterns, level=level)
    open_findings = kb.findings_from[last + 1]
    baseline: Outcome | None = None  # what the findings tell now: worked out once, if needed
    for question in kb.questions[last + 1 :]:
        if question.ask_if is not None and not holds(question.ask_if, context):
            continue
        if not (question.skip_if_settled or kb.ask_only_what_matters):
            return question
        if _can_raise_with(kb, question, context, open_findings):
            return question  # it may raise the level
        if question.skip_if_settled:
            continue  # asked only while it may raise the level
        baseline = outcome(kb, findings) if baseline is None else baseline
        if can_change_outcome(kb, question, findings, baseline):  # the costly check
            return question
    return None


def can_raise_level(
    kb: KnowledgeBase, session: Session, findings: dict[str, str], level: Level
) -> bool:
    """Tell whether some rule above `level` could still fire over the questions ahead."""
    open_findings = kb.findings_from[_last_answered(kb, session) + 1]
    if not open_findings:
        return False
    context = Context(answers=findings, patterns=kb.patterns, level=level)
    return _can_fire_above(kb, context, open_findings, open_findings)


def can_change_outcome(
    kb: KnowledgeBase,
    question: Question,
    findings: dict[str, str],
    baseline: Outcome | None = None,
) -> bool:
    """Tell whether some answer to `question` changes the level, top cause or advice shown.

    Compared: the question unanswered and each answer (a single question's options; a
    checklist finished with nothing ticked, or with one item ticked). Every other open finding
    stays as it is, so a question that matters only together with a later one is still asked
    when either of its answers alone shows. `baseline`: `outcome` of `findings`, if known.
    """
    baseline = outcome(kb, findings) if baseline is None else baseline
    return any(_differs(kb, findings | answer, baseline) for answer in _answers(question))


def outcome(kb: KnowledgeBase, findings: dict[str, str]) -> Outcome:
    """Return what `findings` tell a person: level, top cause, card and advice ids."""
    level = triage_level(kb, findings)
    causes = _likely(kb, findings, level)
    return level, _top(causes), _cards(kb, findings), _advice(kb, findings, level, causes)


def _differs(kb: KnowledgeBase, findings: dict[str, str], baseline: Outcome) -> bool:
    """Tell whether `outcome` of `findings` differs from `baseline`, working each part out only
    while the parts before it agree: a changed level needs no causes or advice."""
    level = triage_level(kb, findings)
    if level != baseline[0]:
        return True
    causes = _likely(kb, findings, level)
    if _top(causes) != baseline[1]:
        return True
    return _cards(kb, findings) != baseline[2] or (
        _advice(kb, findings, level, causes) != baseline[3]
    )


def _likely(kb: KnowledgeBase, findings: dict[str, str], level: Level) -> tuple[CauseScore, ...]:
    return likely_causes(rank_causes(kb, findings), level)


def _top(causes: tuple[CauseScore, ...]) -> str | None:
    return causes[0].cause if causes else None


def _cards(kb: KnowledgeBase, findings: dict[str, str]) -> tuple[str, ...]:
    context = Context(answers=findings, patterns=kb.patterns)
    return tuple(card.id for card in kb.cards if holds(card.when, context))


def _advice(
    kb: KnowledgeBase, findings: dict[str, str], level: Level, causes: tuple[CauseScore, ...]
) -> tuple[str, ...]:
    chosen = frozenset(score.cause for score in causes)
    return tuple(block.id for block in select_advice(kb, findings, level=level, causes=chosen))


def _answers(question: Question) -> list[dict[str, str]]:
    if isinstance(question, SingleQuestion):
        return [{question.finding: option.value} for option in question.options]
    found = [checklist_findings(question, (), finished=True)]
    found += [checklist_findings(question, (item.key,), finished=True) for item in question.items]
    return found


def _last_answered(kb: KnowledgeBase, session: Session) -> int:
    index = kb.question_index
    return max((index.get(answer.q, -1) for answer in session.answers), default=-1)


def _can_raise_with(
    kb: KnowledgeBase, question: Question, context: Context, open_findings: frozenset[str]
) -> bool:
    """Tell whether some rule above the current level reads this question and could fire."""
    return _can_fire_above(kb, context, question.findings, open_findings)


def _can_fire_above(
    kb: KnowledgeBase, context: Context, reading: Collection[str], open_findings: frozenset[str]
) -> bool:
    """Tell whether some rule above `context.level` that reads one of `reading` could still
    fire while `open_findings` are unanswered (most urgent rules first: stop at the level)."""
    for rule_level, reads, when in kb.rule_checks:
        if rule_level <= context.level:
            return False
        if not reads.isdisjoint(reading) and maybe(when, context, open_findings) is not False:
            return True
    return False
