"""Run a clinical case (finding code -> value) through the questionnaire, as a user would.

Single questions are answered from the facts (a missing finding answers "Not sure"). On a
checklist, the first item (in list order) that stands for a finding's value is ticked, and the
screen is finished with Done: a finding the case leaves out reads as the checklist declares for
an unticked item, as for a person who saw nothing of it. On the interim answer the case presses
"Tailor my advice" and goes on to the whole answer. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.primitives import UNKNOWN
from bot.engine.questionnaire.machine import Ask, Result, Step, answer, done, start, tailor, toggle

MAX_STEPS = 200
"""A bound on taps: a walk longer than this means the knowledge base loops."""


@dataclass(frozen=True, slots=True)
class CaseRun:
    result: Result
    asked: tuple[str, ...]
    """Finding codes, in the order their screens were shown."""
    questions: int
    """Question screens shown before the whole answer."""
    taps: int
    """Button presses before the whole answer (the "Tailor my advice" press included)."""
    screens_to_level: int
    """Question screens shown before the final triage level was (first) shown."""
    taps_to_level: int
    interim: Result | None = None
    """The interim answer, when one was shown."""


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
    """Answer the questionnaire from `facts` until it gives its whole answer."""
    session, step = start(kb)
    asked: list[str] = []
    screens = taps = 0
    interim: Result | None = None
    to_level: tuple[int, int] | None = None
    while not (isinstance(step, Result) and not step.interim):
        if taps > MAX_STEPS:
            raise RuntimeError("the questionnaire did not end: the knowledge base loops")
        if isinstance(step, Result):  # the interim answer: the level is final here
            interim, to_level = step, (screens, taps)
            session, step = tailor(kb, session)
            taps += 1
            continue
        question = step.question
        asked.extend(question.findings)
        screens += 1
        if isinstance(question, ChecklistQuestion):
            for key in _ticks(question, facts):
                if isinstance(step, Ask) and step.question.id == question.id:
                    index = next(i for i, o in enumerate(step.options) if o.value == key)
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
    result = _as_result(step)
    screens_to_level, taps_to_level = to_level or (screens, taps)
    return CaseRun(
        result,
        tuple(asked),
        questions=screens,
        taps=taps,
        screens_to_level=screens_to_level,
        taps_to_level=taps_to_level,
        interim=interim,
    )


def _ticks(question: ChecklistQuestion, facts: Mapping[str, str]) -> list[str]:
    """Return the keys of the items to tick: per finding, the first that stands for its value."""
    keys: dict[str, str] = {}
    for item in question.items:
        if facts.get(item.finding) in item.values:
            keys.setdefault(item.finding, item.key)
    return list(keys.values())


def _as_result(step: Step) -> Result:
    assert isinstance(step, Result)  # noqa: S101 - the loop above only ends on a Result
    return step
