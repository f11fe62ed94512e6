"""The real knowledge base against the clinical BRIEF: section 4 rules, red flags, advice safety.

Cases go through `assess.run_case`, exactly as a user would answer: findings not in the
facts are answered "Not sure" and unticked checklist items are "no".
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.kb.conditions import FindingIs
from bot.engine.kb.evaluation import findings_in
from bot.engine.primitives import UNKNOWN, Level
from bot.engine.questionnaire.assess import run_case
from bot.engine.questionnaire.machine import Ask
from tests.engine.helpers import fact_sets, real_kb, walk

KB = real_kb()
CONTEXTS = {
    "no-context": {},
    "hiking": {"activity_context": "hiking", "alone_or_remote": "yes"},
    "at-rest": {"activity_context": "not_exercising"},
}
SINGLE_RULES = [
    (f"{rule.id}-{value}", rule.when.finding, value, Level.from_code(rule.level))
    for rule in KB.rules
    if isinstance(rule.when, FindingIs)
    for value in rule.when.values
]
"""(id, finding, value, level) for every rule that reads one finding (BRIEF 4, "alone" rows)."""
SINGLE_FINDING_RULES = [pytest.param(*case[1:], id=case[0]) for case in SINGLE_RULES]
# BRIEF section 4 rows that need two findings ("EAH pattern" = lots of plain water or puffy).
COMBINATIONS = [
    pytest.param({"fluid_intake": "lots_plain_water", "nausea_vomiting": "vomiting"},
                 Level.EMERGENCY, id="eah-water-vomiting"),
    pytest.param({"fluid_intake": "lots_plain_water", "headache": "severe_or_worsening"},
                 Level.EMERGENCY, id="eah-water-severe-headache"),
    pytest.param({"puffy_or_bloated": "yes", "nausea_vomiting": "vomiting"},
                 Level.EMERGENCY, id="eah-puffy-vomiting"),
    pytest.param({"puffy_or_bloated": "yes", "headache": "severe_or_worsening"},
                 Level.EMERGENCY, id="eah-puffy-severe-headache"),
    pytest.param({"dark_cola_urine": "yes", "pain_out_of_proportion": "yes"},
                 Level.EMERGENCY, id="cola-urine-severe-pain"),
    pytest.param({"dark_cola_urine": "yes", "weakness_or_numbness": "yes"},
                 Level.EMERGENCY, id="cola-urine-weakness"),
    pytest.param({"dark_cola_urine": "yes", "nausea_vomiting": "vomiting"},
                 Level.EMERGENCY, id="cola-urine-vomiting"),
    pytest.param({"pain_out_of_proportion": "yes", "weakness_or_numbness": "yes"},
                 Level.EMERGENCY, id="compartment-pattern"),
    pytest.param({"cramp_duration": "10_to_60_min", "eases_with_stretching": "no"},
                 Level.URGENT, id="long-cramp-not-easing"),
    pytest.param({"fluid_intake": "lots_plain_water", "nausea_vomiting": "nausea"},
                 Level.URGENT, id="eah-water-nausea"),
    pytest.param({"fluid_intake": "lots_plain_water", "headache": "mild"},
                 Level.URGENT, id="eah-water-mild-headache"),
    pytest.param({"puffy_or_bloated": "yes", "nausea_vomiting": "nausea"},
                 Level.URGENT, id="eah-puffy-nausea"),
    pytest.param({"puffy_or_bloated": "yes", "headache": "mild"},
                 Level.URGENT, id="eah-puffy-mild-headache"),
    pytest.param({"hot_conditions": "yes", "long_term_condition": "heart_or_circulation"},
                 Level.URGENT, id="heat-with-heart-condition"),
    pytest.param({"pain_walking_relieved_by_rest": "yes", "cramp_timing": "at_night_or_rest"},
                 Level.URGENT, id="claudication-at-rest"),
]  # fmt: skip
EMERGENCY_CASES = [
    *(
        pytest.param({code: value}, level, id=case_id)
        for case_id, code, value, level in SINGLE_RULES
        if level is Level.EMERGENCY
    ),
    *(case for case in COMBINATIONS if case.values[1] is Level.EMERGENCY),
]
EMERGENCY_NEVER = {
    "drink_to_thirst", "electrolyte_drink", "more_plain_water", "continue_exercise",
    "wait_and_see", "stretch_or_massage",
}  # fmt: skip
SALT_CODES = {"salt_loading", "electrolyte_drink", "salty_food"}


def _question_of(code: str) -> Any:
    return next(question for question in KB.questions if code in question.findings)


# ------------------------------------------------------------ BRIEF section 4 --
def test_the_knowledge_base_has_single_finding_rules_to_check() -> None:
    assert len(SINGLE_RULES) >= 20
    assert len(EMERGENCY_CASES) >= 12


@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
@pytest.mark.parametrize(("code", "value", "level"), SINGLE_FINDING_RULES)
def test_a_single_finding_rule_gives_at_least_its_level(
    code: str, value: str, level: Level, context: dict[str, str]
) -> None:
    # "Still unwell after 30 minutes of cooling" presupposes heat: at rest it is asked only
    # when something points to heat illness (kb.yaml pattern heat_illness_possible).
    heat = {"hot_conditions": "yes"} if code == "unwell_after_cooling" else {}
    run = run_case(KB, {**context, **heat, code: value})

    assert code in run.asked, f"{code} was never asked"
    assert run.result.level >= level


@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
@pytest.mark.parametrize(("facts", "level"), COMBINATIONS)
def test_a_brief_combination_gives_at_least_its_level(
    facts: dict[str, str], level: Level, context: dict[str, str]
) -> None:
    assert run_case(KB, {**context, **facts}).result.level >= level


def test_a_combination_half_alone_stays_below_the_combined_level() -> None:
    """Guards the combinations above against passing for the wrong reason."""
    assert run_case(KB, {"fluid_intake": "lots_plain_water"}).result.level < Level.URGENT
    assert run_case(KB, {"eases_with_stretching": "no"}).result.level < Level.URGENT
    assert run_case(KB, {"dark_cola_urine": "yes"}).result.level < Level.EMERGENCY


@pytest.mark.parametrize(
    "facts",
    [
        {},
        {finding.code: "no" if "no" in finding.values else UNKNOWN for finding in KB.findings}
        | {"eases_with_stretching": "yes"},
        {"cramp_now": "yes", "activity_context": "hiking", "muscle_location": "calf",
         "cramp_duration": "under_2_min", "eases_with_stretching": "yes",
         "harder_than_usual": "yes",
         "cramp_frequency": "first_time", "long_term_condition": "none",
         "cramp_linked_medication": "none", "fluid_intake": "to_thirst"},
    ],
    ids=["nothing-known", "all-no", "ordinary-hiking-cramp"],
)  # fmt: skip
def test_none_of_the_brief_findings_gives_self_care(facts: dict[str, str]) -> None:
    assert run_case(KB, facts).result.level is Level.SELF_CARE


# ---------------------------------------------------------------- red flags --
@pytest.mark.parametrize(("facts", "level"), EMERGENCY_CASES)
def test_an_emergency_ends_the_questionnaire_right_after_its_red_flag(
    facts: dict[str, str], level: Level
) -> None:
    run = run_case(KB, facts)

    assert run.result.level is level
    last_asked = _question_of(run.asked[-1])
    assert set(facts) & set(last_asked.findings), (run.asked, facts)
    assert run.asked[-len(last_asked.findings) :] == last_asked.findings


def test_a_ticked_emergency_sign_ends_the_checklist_without_done() -> None:
    danger = _question_of("chest_pain")
    run = run_case(KB, {"chest_pain": "yes"})

    assert run.result.level is Level.EMERGENCY
    assert run.asked[-len(danger.findings) :] == danger.findings
    assert run.taps == 1  # the one tick on the first screen


def test_red_flag_questions_come_first() -> None:
    """BRIEF 3: the red-flag block (chest_pain ... dirty_wound_or_toxin), with the heat and
    overdrinking findings the rules read, is asked on the first three screens."""
    asked = [q.findings for q in KB.questions[:3]]
    red_flags = {finding.code for finding in KB.findings if finding.red_flag}
    heat_and_water = {"body_heat", "unwell_after_cooling", "fluid_intake", "hot_conditions"}

    assert red_flags | heat_and_water <= {code for codes in asked for code in codes}
    assert KB.questions[0].findings[:2] == ("cramp_now", "chest_pain")


# ---------------------------------------------------------- alone_or_remote --
def test_no_rule_reads_alone_or_remote() -> None:
    assert not any("alone_or_remote" in findings_in(rule.when, KB.patterns) for rule in KB.rules)


@pytest.mark.parametrize(
    "facts",
    [
        {"activity_context": "hiking"},
        {"activity_context": "hiking", "calf_swelling_redness_warmth": "yes"},
        {"activity_context": "hiking", "cramp_frequency": "weekly"},
        {"activity_context": "hiking", "body_heat": "hot_and_sweaty", "hot_conditions": "yes"},
        {"activity_context": UNKNOWN, "pain_walking_relieved_by_rest": "yes"},
    ],
)
def test_alone_or_remote_never_changes_the_level(facts: dict[str, str]) -> None:
    levels = {
        run_case(KB, {**facts, "alone_or_remote": remote}).result.level
        for remote in ("yes", "no", UNKNOWN)
    }
    assert len(levels) == 1


def test_alone_or_remote_is_asked_of_hikers() -> None:
    assert "alone_or_remote" in run_case(KB, {"activity_context": "hiking"}).asked


# ---------------------------------------------------------------- first aid --
FIRST_AID = next(
    card for card in KB.cards if card.when == FindingIs(finding="cramp_now", values=("yes",))
)


def test_the_first_aid_card_is_shown_right_after_cramp_now_yes() -> None:
    run = walk(KB, {"cramp_now": "yes"})

    second = run.steps[1][1]
    assert isinstance(second, Ask)
    assert [card.id for card in second.cards] == [FIRST_AID.advice]
    assert run.card_ids == [FIRST_AID.advice]


@pytest.mark.parametrize("cramp_now", ["no", UNKNOWN])
def test_the_first_aid_card_is_not_shown_otherwise(cramp_now: str) -> None:
    facts = {"cramp_now": cramp_now, "activity_context": "hiking", "calf_swelling_redness_warmth":
             "yes", "muscle_location": "calf", "cramp_duration": "10_to_60_min"}  # fmt: skip
    assert walk(KB, facts).card_ids == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact_sets(KB))
def test_the_first_aid_card_shows_exactly_when_cramp_now_is_yes(facts: dict[str, str]) -> None:
    expected = [FIRST_AID.advice] if facts.get("cramp_now") == "yes" else []

    assert walk(KB, facts).card_ids == expected


# ------------------------------------------------------------- advice safety --
@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
@pytest.mark.parametrize(("facts", "level"), EMERGENCY_CASES)
def test_emergency_advice_never_tells_to_drink_carry_on_wait_or_stretch(
    facts: dict[str, str], level: Level, context: dict[str, str]
) -> None:
    result = run_case(KB, {**context, "hot_conditions": "yes", **facts}).result

    assert result.level is level
    assert not EMERGENCY_NEVER & set(result.advice_codes)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fact_sets(KB), st.sampled_from(["heart_or_circulation", "kidney"]))
def test_salt_and_electrolyte_advice_never_reaches_heart_or_kidney_patients(
    facts: dict[str, str], condition: str
) -> None:
    result = run_case(KB, {**facts, "long_term_condition": condition}).result

    assert not SALT_CODES & set(result.advice_codes), result.findings


def test_no_advice_block_is_tagged_with_a_never_code() -> None:
    assert KB.never_codes
    tagged = {block.id: set(block.codes) & set(KB.never_codes) for block in KB.advice}
    assert {block: codes for block, codes in tagged.items() if codes} == {}


def test_every_advice_code_used_is_declared() -> None:
    used = {code for block in KB.advice for code in block.codes}

    assert used <= set(KB.advice_codes)


def test_no_finding_is_asked_on_two_screens() -> None:
    """No duplicates (issue 13): timing and activity, cooling after a normal body heat."""
    codes = [code for question in KB.questions for code in question.findings]

    assert len(codes) == len(set(codes))
