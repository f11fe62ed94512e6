"""Issue 13 over the real knowledge base: items for values of multi-valued findings, "Not sure
about some of these", the interim answer and "Tailor my advice", asking only what matters."""

from __future__ import annotations

import pytest

from bot.engine.errors import InvalidAnswer, SessionFinished
from bot.engine.kb.models import ChecklistQuestion
from bot.engine.primitives import UNKNOWN, Level
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Ask, Result, Step
from bot.engine.questionnaire.session import Session
from tests.engine.helpers import real_kb, walk

KB = real_kb()


def tick(session: Session, step: Step, key: str) -> tuple[Session, Step]:
    assert isinstance(step, Ask)
    assert isinstance(step.question, ChecklistQuestion)
    index = next(i for i, item in enumerate(step.question.items) if item.key == key)
    return machine.toggle(KB, session, index)


def to_interim() -> tuple[Session, Step]:
    """None of these on every safety screen."""
    session, step = machine.start(KB)
    while isinstance(step, Ask):
        session, step = machine.done(KB, session)
    return session, step


def test_nothing_ticked_gives_the_interim_answer_after_the_four_safety_screens() -> None:
    session, step = to_interim()

    assert isinstance(step, Result)
    assert step.interim
    assert step.level is Level.SELF_CARE
    assert [a.q for a in session.answers] == ["emergency_signs", "muscle", "unwell", "about_you"]
    assert not session.done


def test_an_urgent_sign_gives_the_interim_answer_as_soon_as_nothing_can_raise_it() -> None:
    session, step = machine.start(KB)
    session, step = machine.done(KB, session)
    session, step = tick(session, step, "calf_swelling_redness_warmth")
    session, step = machine.done(KB, session)  # urgent; the unwell screen can still raise it
    assert isinstance(step, Ask)
    session, step = machine.done(KB, session)

    assert isinstance(step, Result)
    assert step.interim
    assert step.level is Level.URGENT
    assert len(session.answers) == 3


def test_tailor_goes_on_and_back_from_its_first_question_shows_the_interim_again() -> None:
    session, _ = to_interim()
    tailoring, step = machine.tailor(KB, session)
    assert isinstance(step, Ask)
    assert step.question.id == "activity"

    back, shown = machine.back(KB, tailoring)

    assert isinstance(shown, Result)
    assert shown.interim
    assert back.answers == session.answers
    _, earlier = machine.back(KB, back)
    assert isinstance(earlier, Ask)
    assert earlier.question.id == "about_you"


def test_the_interim_answer_takes_no_answer_and_tailor_needs_one() -> None:
    session, _ = to_interim()
    with pytest.raises(SessionFinished):
        machine.done(KB, session)
    with pytest.raises(InvalidAnswer):
        machine.tailor(KB, machine.start(KB)[0])


def test_not_sure_leaves_untouched_red_flags_unknown_and_names_them() -> None:
    session, step = machine.start(KB)
    session, step = tick(session, step, "cramp_now")
    session, step = machine.unsure(KB, session)
    findings = session.findings(KB)

    assert findings["cramp_now"] == "yes"
    assert findings["chest_pain"] == UNKNOWN
    assert findings["body_heat"] == UNKNOWN, "never the declared 'normal' after Not sure"
    while isinstance(step, Ask):
        session, step = machine.done(KB, session)
    assert isinstance(step, Result)
    assert {"chest_pain", "short_of_breath", "confusion"} <= set(step.unsure)


def test_done_stores_declared_everyday_values_and_leaves_undeclared_findings_unknown() -> None:
    session, _ = to_interim()
    findings = session.findings(KB)

    assert findings["chest_pain"] == "no"
    assert findings["body_heat"] == "normal"
    assert findings["headache"] == "no"
    assert findings["long_term_condition"] == "none"
    for code in ("cramp_duration", "fluid_intake", "unwell_after_cooling", "cramp_frequency"):
        assert code not in findings, f"{code}: an untouched item is not an answer"


def test_an_item_stores_its_value_and_the_first_ticked_item_of_a_finding_counts() -> None:
    session, step = machine.start(KB)
    session, step = machine.done(KB, session)
    session, step = machine.done(KB, session)
    session, step = tick(session, step, "nausea_vomiting_nausea")
    session, step = tick(session, step, "nausea_vomiting_vomiting")
    session, step = machine.done(KB, session)

    assert session.findings(KB)["nausea_vomiting"] == "vomiting"
    assert isinstance(step, Result)
    assert step.level is Level.URGENT


def test_a_covering_item_stores_its_first_value() -> None:
    run = walk(KB, {"cramp_frequency": "most_nights_or_days"})

    assert run.result.findings["cramp_frequency"] == "weekly"
    assert run.result.level is Level.DOCTOR


def test_not_exercising_skips_the_questions_about_today() -> None:
    asked = walk(KB, {"activity_context": "not_exercising"}).questions

    assert "activity" in asked
    assert "today" not in asked
