"""Which question comes next: knowledge-base order, `ask_if`, and `skip_if_settled`.

A question is asked when its `ask_if` holds over the answers so far (XLSForm's `relevant`); one
marked `skip_if_settled` only while some rule above the current level reads it and could still
fire (three-valued `maybe` over the findings not yet asked).
"""

from __future__ import annotations

from bot.engine.conditions import Context, holds, maybe
from bot.engine.models import ChecklistQuestion, KnowledgeBase, SingleQuestion
from bot.engine.primitives import Level
from bot.engine.scoring import triage_level
from bot.engine.session import Session

Question = SingleQuestion | ChecklistQuestion


def next_question(
    kb: KnowledgeBase,
    session: Session,
    findings: dict[str, str] | None = None,
    level: Level | None = None,
) -> Question | None:
    """Return the first question after the last answered one whose `ask_if` holds.

    `findings` and `level` are the session's, when the caller has worked them out already.
    """
    findings = session.findings(kb) if findings is None else findings
    index = kb.question_index
    last = max((index.get(answer.q, -1) for answer in session.answers), default=-1)
    level = triage_level(kb, findings) if level is None else level
    context = Context(answers=findings, patterns=kb.patterns, level=level)
    ahead = kb.questions[last + 1 :]
    open_findings = kb.findings_from[last + 1]
    for question in ahead:
        if question.ask_if is not None and not holds(question.ask_if, context):
            continue
        if question.skip_if_settled and not _can_raise_level(kb, question, context, open_findings):
            continue
        return question
    return None


def _can_raise_level(
    kb: KnowledgeBase, question: Question, context: Context, open_findings: frozenset[str]
) -> bool:
    """Tell whether some rule above the current level reads this question and could fire."""
    asked, reads, levels = question.findings, kb.rule_reads, kb.rule_level
    return any(
        levels[rule.id] > context.level
        and not reads[rule.id].isdisjoint(asked)
        and maybe(rule.when, context, open_findings) is not False
        for rule in kb.rules
    )
