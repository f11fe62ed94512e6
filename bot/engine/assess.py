"""Run a clinical case (finding code -> value) through the questionnaire, as a user would.

Single questions are answered from the facts (a missing finding answers "Not sure");
checklist items are ticked exactly when their finding is "yes". Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.engine.machine import Ask, Result, Step, answer, done, start, toggle
from bot.engine.models import UNKNOWN, ChecklistQuestion, KnowledgeBase

MAX_STEPS = 200
"""A bound on taps: a walk longer than this means the knowledge base loops."""


@dataclass(frozen=True, slots=True)
class CaseRun:
    result: Result
    asked: tuple[str, ...]
    """Finding codes, in the order their screens were shown."""
    questions: int
    """Question screens shown."""
    taps: int
    """Button presses."""


def check_facts(kb: KnowledgeBase, facts: Mapping[str, object]) -> list[str]:
    """Return a message for every unknown finding code or value in `facts`."""
    known = {finding.code: finding for finding in kb.findings}
    problems = []
    for code, value in facts.items():
        if code not in known:
            problems.append(f"unknown finding code {code!r}")
        elif value != UNKNOWN and value not in known[code].values:
            allowed = ", ".join(known[code].values)
            problems.append(f"finding {code!r} has no value {value!r} (allowed: {allowed})")
    return problems


def run_case(kb: KnowledgeBase, facts: Mapping[str, str]) -> CaseRun:
    """Answer the questionnaire from `facts` until it gives its result."""
    session, step = start(kb)
    asked: list[str] = []
    taps = 0
    while isinstance(step, Ask):
        if taps > MAX_STEPS:
            raise RuntimeError("the questionnaire did not end: the knowledge base loops")
        question = step.question
        asked.extend(question.findings)
        if isinstance(question, ChecklistQuestion):
            for index, item in enumerate(question.items):
                if facts.get(item.finding) == "yes" and isinstance(step, Ask):
                    session, step = toggle(kb, session, index)
                    taps += 1
            if isinstance(step, Ask) and step.question.id == question.id:
                session, step = done(kb, session)
                taps += 1
        else:
            value = facts.get(question.finding, UNKNOWN)
            index = next(i for i, option in enumerate(step.options) if option.value == value)
            session, step = answer(kb, session, index)
            taps += 1
    return CaseRun(_as_result(step), tuple(asked), questions=_screens(asked, kb), taps=taps)


def _screens(asked: list[str], kb: KnowledgeBase) -> int:
    first_findings = {question.findings[0] for question in kb.questions}
    return sum(1 for code in asked if code in first_findings)


def _as_result(step: Step) -> Result:
    assert isinstance(step, Result)  # noqa: S101 - the loop above only ends on a Result
    return step
