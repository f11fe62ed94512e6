"""The questionnaire never asks less than the rules need: skip logic cannot hide a red flag.

For any set of facts, the level reached by answering the questionnaire from those facts is
at least the level the triage rules give on all the facts at once. The single, documented
exception is the 30-minute cooling question, which is only asked when heat illness is
possible (exercise, a hot day, heavy sweating, dizziness, nausea, headache, or a hot body).
"""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.engine import KnowledgeBase, load_knowledge_base, run_case
from bot.engine.primitives import UNKNOWN
from bot.engine.questionnaire.scoring import triage

KB: KnowledgeBase = load_knowledge_base()
HEAT_CONTEXT = {
    "activity_context": {"hiking", "race_or_match", "training", UNKNOWN},
    "hot_conditions": {"yes"},
    "heavy_sweating": {"yes"},
    "dizzy_or_faint_feeling": {"yes"},  # a checklist item: a missing fact is answered "no"
    "nausea_vomiting": {"nausea", "vomiting"},
    "headache": {"mild", "severe_or_worsening"},
    "body_heat": {"hot_and_sweaty"},
}


@st.composite
def fact_sets(draw: st.DrawFn) -> dict[str, str]:
    all_codes = [finding.code for finding in KB.findings]
    codes = draw(st.lists(st.sampled_from(all_codes), max_size=20, unique=True))
    return {code: draw(st.sampled_from((*KB.finding(code).values, UNKNOWN))) for code in codes}


def _cooling_question_applies(facts: dict[str, str]) -> bool:
    return any(facts.get(code, UNKNOWN) in values for code, values in HEAT_CONTEXT.items())


@settings(max_examples=400, deadline=None)
@given(fact_sets())
def test_questionnaire_level_is_never_below_the_rules_on_all_facts(facts: dict[str, str]) -> None:
    full_level, hits = triage(KB, facts)
    reached = run_case(KB, facts).result.level
    if reached < full_level:
        only_cooling = {hit.rule.id for hit in hits if hit.rule.level == full_level.code}
        assert only_cooling == {"not_better_after_cooling"}, (facts, reached, full_level)
        assert not _cooling_question_applies(facts)


@settings(max_examples=200, deadline=None)
@given(fact_sets(), st.sampled_from([f.code for f in KB.findings if f.red_flag]))
def test_adding_a_red_flag_never_lowers_the_level(facts: dict[str, str], flag: str) -> None:
    assume(facts.get(flag, UNKNOWN) == UNKNOWN)
    before = run_case(KB, facts).result.level
    value = next(v for v in KB.finding(flag).values if v not in ("no", "normal"))
    assert run_case(KB, facts | {flag: value}).result.level >= before
