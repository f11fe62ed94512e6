"""Follow-up check-ins in the engine: which to offer, when due, and where a re-check begins."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine import checkins
from bot.engine.checkins import LATE_ONSET_PATTERN, Reply
from bot.engine.errors import EngineError
from bot.engine.kb import evaluation
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import UNKNOWN, Level
from bot.engine.questionnaire.machine import Ask, Result, back, start, start_at
from bot.engine.questionnaire.session import Answer
from tests.engine.helpers import ENGINE_KB, asking, load_kb, real_kb, walk

# The engine KB plus the late-onset pattern: a long cramp stands in for "hours later" risks.
LATE_KB = {
    **ENGINE_KB,
    "kb.yaml": ENGINE_KB["kb.yaml"].replace(
        "patterns:\n", f"patterns:\n  {LATE_ONSET_PATTERN}: {{finding: duration, in: [long]}}\n"
    ),
}


def result_of(kb: KnowledgeBase, **facts: str) -> Result:
    return walk(kb, facts).result


# ---------------------------------------------------------------------- offers --
def test_a_self_care_result_offers_a_check_in_in_30_minutes(kb: KnowledgeBase) -> None:
    result = result_of(kb, now="no", duration="short")

    assert result.level is Level.SELF_CARE
    assert checkins.offers(kb, result) == ("30min",)


def test_an_emergency_offers_no_check_in(kb: KnowledgeBase) -> None:
    """The user must call for help now, not wait for the bot."""
    result = result_of(kb, now="no", chest_pain="yes")

    assert result.level is Level.EMERGENCY
    assert checkins.offers(kb, result) == ()


def test_an_urgent_result_still_offers_a_check_in(kb: KnowledgeBase) -> None:
    result = result_of(kb, now="no", calf="yes", pain="mild")

    assert result.level is Level.URGENT
    assert checkins.offers(kb, result) == ("30min",)


def test_the_late_onset_pattern_adds_the_morning_check_in(tmp_path: Path) -> None:
    kb = load_kb(tmp_path, LATE_KB)

    late = result_of(kb, now="no", duration="long", stretch_helps="yes")
    early = result_of(kb, now="no", duration="short")

    assert checkins.offers(kb, late) == ("30min", "morning")
    assert checkins.offers(kb, early) == ("30min",)


def test_without_the_late_onset_pattern_only_30_minutes_is_offered(kb: KnowledgeBase) -> None:
    assert LATE_ONSET_PATTERN not in kb.patterns
    result = result_of(kb, now="no", duration="long", stretch_helps="yes")

    assert checkins.offers(kb, result) == ("30min",)


@pytest.mark.parametrize(
    "facts",
    [
        pytest.param(
            {"activity_context": "training", "fluid_intake": "lots_plain_water"}, id="eah"
        ),
        pytest.param({"puffy_or_bloated": "yes"}, id="puffy"),
        pytest.param({"dark_cola_urine": "yes"}, id="dark_urine"),
        pytest.param(
            {
                "activity_context": "hiking",
                "heavy_sweating": "yes",
                "exercise_duration": "over_4h",
            },
            id="over_4h",
        ),
    ],
)
def test_real_kb_offers_the_morning_after_low_sodium_or_muscle_breakdown_risks(
    facts: dict[str, str],
) -> None:
    kb = real_kb()
    result = result_of(kb, cramp_now="no", **facts)

    assert result.level is not Level.EMERGENCY
    assert checkins.offers(kb, result) == ("30min", "morning")


def test_real_kb_offers_30_minutes_only_for_a_plain_cramp() -> None:
    kb = real_kb()

    assert checkins.offers(kb, result_of(kb, cramp_now="no")) == ("30min",)


def test_weighing_the_offers_compiles_nothing_new() -> None:
    # Every result's keyboard asks for the offers: a condition made for the call would be
    # compiled anew each time (evaluation.compiled keeps one test per condition object).
    kb = real_kb()
    result = result_of(kb, cramp_now="no")
    checkins.offers(kb, result)
    known = dict(evaluation._COMPILED)

    checkins.offers(kb, result)

    assert known == evaluation._COMPILED


def test_real_kb_offers_nothing_after_an_emergency_even_with_late_risks() -> None:
    kb = real_kb()
    result = result_of(kb, cramp_now="no", chest_pain="yes", dark_cola_urine="yes")

    assert checkins.offers(kb, result) == ()


# ------------------------------------------------------------ timing, replies --
def test_check_ins_fall_due_30_minutes_or_about_12_hours_later() -> None:
    assert checkins.due_at("30min", now=1000.0) == 1000.0 + 1800
    assert checkins.due_at("morning", now=1000.0) == 1000.0 + 12 * 3600


@pytest.mark.parametrize(
    ("reply", "expected"), [("better", False), ("same", False), ("worse", True), ("new", True)]
)
def test_worse_or_new_symptoms_call_for_the_red_flag_screen(reply: Reply, expected: bool) -> None:
    assert checkins.needs_recheck(reply) is expected


# ------------------------------------------------------------ start_at, recheck --
def test_start_at_asks_that_question_with_earlier_ones_not_asked(kb: KnowledgeBase) -> None:
    session, step = start_at(kb, "flags")

    assert asking(step) == "flags"
    assert session.answers == (Answer(q="now", v=UNKNOWN),)
    assert session.findings(kb) == {"now": UNKNOWN}
    assert isinstance(step, Ask)
    assert step.cards == ()
    assert step.can_go_back


def test_back_from_start_at_reaches_the_skipped_question(kb: KnowledgeBase) -> None:
    session, _ = start_at(kb, "flags")

    _, step = back(kb, session)

    assert asking(step) == "now"


def test_a_skipped_checklist_leaves_its_items_unknown_not_no(kb: KnowledgeBase) -> None:
    session, step = start_at(kb, "pain")

    assert asking(step) == "pain"
    assert session.answers[-1] == Answer(q="flags", v=(), partial=True)
    assert session.findings(kb).get("chest_pain", UNKNOWN) == UNKNOWN


def test_start_at_the_first_question_is_start(kb: KnowledgeBase) -> None:
    assert start_at(kb, "now") == start(kb)


def test_start_at_skips_a_question_whose_ask_if_does_not_hold(kb: KnowledgeBase) -> None:
    _, step = start_at(kb, "stretch")

    assert isinstance(step, Ask)
    assert asking(step) != "stretch"


def test_start_at_an_unknown_question_names_it(kb: KnowledgeBase) -> None:
    with pytest.raises(EngineError, match="no question nope"):
        start_at(kb, "nope")


def test_the_red_flag_screen_is_the_first_question_about_a_red_flag(kb: KnowledgeBase) -> None:
    assert checkins.red_flag_screen(kb) == "flags"
    assert checkins.red_flag_screen(real_kb()) == "emergency_signs"


def test_a_knowledge_base_without_red_flag_questions_has_no_red_flag_screen(
    kb: KnowledgeBase,
) -> None:
    calm = kb.model_copy(
        update={"findings": tuple(f.model_copy(update={"red_flag": False}) for f in kb.findings)}
    )
    with pytest.raises(EngineError, match="no question about a red-flag finding"):
        checkins.red_flag_screen(calm)


def test_recheck_starts_a_fresh_session_at_the_red_flag_screen() -> None:
    kb = real_kb()

    session, step = checkins.recheck(kb)

    assert asking(step) == "emergency_signs"
    assert (session.rev, session.done, session.kb) == (0, False, kb.version)
